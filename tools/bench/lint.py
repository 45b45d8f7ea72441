"""The driver of scripts/bench-lint (see its header and docs/benchmarks.md): generates the corpora,
measures kfcheck lint against PyYAML's C loader, prints the table and writes result.json.

Usage: lint.py ROOT KFCHECK OUTDIR REPS
"""
import datetime
import glob
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

root, kfcheck, outdir, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.chdir(root)

GOAL_RATIO = 30.0
GOAL_RSS_MIB = 64.0
GOAL_RSS_GROWTH = 0.20
SIZES = (2000, 500)
LINT_OK_EXIT = {0, 1, 3}  # ready, findings, could-not-decide: all normal for a lint run


def die(msg):
    sys.stderr.write("bench-lint: error: %s\n" % msg)
    sys.exit(1)


def log(msg):
    sys.stderr.write("bench-lint: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------------------- corpus
def sources():
    files = sorted(glob.glob("checks/pipelines/*.yaml"))
    files += sorted(glob.glob("fixtures/pipelines/**/*.yaml", recursive=True))
    files = [f for f in files if "/src/" not in f]
    if not files:
        die("no compiled pipelines found under checks/pipelines/ or fixtures/pipelines/")
    return files


def sources_digest(files):
    h = hashlib.sha256()
    for f in files:
        h.update(f.encode() + b"\0")
        with open(f, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


# Corpora live outside any git repository, so kfcheck's owner lookup (git history) does not run
# for them; a separate measurement puts the same files in a git repository.
corpus_root = os.path.join(os.environ.get("TMPDIR", "/tmp"), "kfcheck-bench-lint")


def make_corpus(n, files, digest, name=None):
    """n files, round-robin over the real compiled pipelines, each made unique by a trailing
    comment (appended, so line numbers in findings stay those of the original file)."""
    dest = os.path.join(corpus_root, name or "corpus-%d" % n)
    stamp = dest + ".stamp"
    want = "%s %d\n" % (digest, n)
    if (
        os.environ.get("KFCHECK_BENCH_REGEN") != "1"
        and os.path.isfile(stamp)
        and open(stamp).read() == want
        and os.path.isdir(dest)
    ):
        return dest
    log("generating %s (%d files from %d real pipelines)" % (dest, n, len(files)))
    if os.path.exists(stamp):
        os.remove(stamp)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(dest)
    contents = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        if not data.endswith(b"\n"):
            data += b"\n"
        contents.append(data)
    for i in range(n):
        src = files[i % len(files)]
        flat = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.splitext(src)[0].replace("/", "__"))
        name = "%04d-%s.yaml" % (i, flat)
        tail = "# bench-lint corpus file %d of %d, copied from %s\n" % (i + 1, n, src)
        with open(os.path.join(dest, name), "wb") as fh:
            fh.write(contents[i % len(files)] + tail.encode())
    with open(stamp, "w") as fh:
        fh.write(want)
    return dest


def corpus_stats(path):
    paths = sorted(glob.glob(os.path.join(path, "*.yaml")))
    return len(paths), sum(os.path.getsize(p) for p in paths)


# ---------------------------------------------------------------------------- measuring
# Peak RSS. Linux's ru_maxrss of a child starts from the high-water mark of the process that
# forked it (exec keeps the old image's peak), so measuring a 6 MiB kfcheck straight from this
# ~20 MiB Python driver would report the driver's size. GNU time is a small C program and makes
# the floor ~1-2 MiB, so it is used when present; otherwise os.wait4 from here, flagged as an
# upper bound.
def find_gnu_time():
    for cand in ("/usr/bin/time", shutil.which("time")):
        if not cand or not os.access(cand, os.X_OK):
            continue
        probe = os.path.join(outdir, "time-probe.txt")
        try:
            subprocess.run([cand, "-f", "%M", "-o", probe, "true"], check=True,
                           stdin=subprocess.DEVNULL, capture_output=True)
            int(open(probe).read().split()[-1])
            return cand
        except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
            continue
    return None


GNU_TIME = find_gnu_time()
RSS_METHOD = ("GNU time %M (max resident set of the process)" if GNU_TIME else
              "os.wait4 ru_maxrss from the Python driver (upper bound: floored at the driver's own peak)")


def measure(argv, stdout_path):
    """Run argv once; return (wall seconds, peak RSS KiB, exit code, stderr text).
    Wall time is taken here with a monotonic clock (GNU time's %e has only 10 ms resolution)."""
    rss_file = stdout_path + ".rss"
    if GNU_TIME:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file] + argv
    with open(stdout_path, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.PIPE)
        # stderr is small for these commands; read it before waiting so a full pipe cannot block.
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stderr.close()
    rss = usage.ru_maxrss
    if GNU_TIME:
        try:
            # GNU time writes "Command exited with non-zero status N" before the format line.
            rss = int(open(rss_file).read().split()[-1])
        except (OSError, ValueError, IndexError):
            die("GNU time wrote no peak RSS for %s" % " ".join(argv))
    return wall, rss, proc.returncode, err.decode(errors="replace")


PYYAML_BASELINE = r"""
import os, sys, time, yaml
root = sys.argv[1]
paths = []
for d, dirs, names in os.walk(root):
    dirs.sort()
    paths += [os.path.join(d, n) for n in sorted(names) if n.endswith((".yaml", ".yml"))]
t0 = time.perf_counter()
docs = 0
for p in paths:
    with open(p, encoding="utf-8") as fh:
        text = fh.read()
    docs += len(list(yaml.load_all(text, Loader=yaml.CLoader)))
print("%d %d %.6f" % (len(paths), docs, time.perf_counter() - t0))
"""


def run_kfcheck(corpus, tag):
    out = os.path.join(outdir, "kfcheck-%s.json" % tag.replace("kfcheck_", ""))
    wall, rss, code, err = measure([kfcheck, "lint", corpus, "-o", "json", "--color", "never"], out)
    if code not in LINT_OK_EXIT:
        die("kfcheck lint %s exited %d (expected 0, 1 or 3):\n%s" % (os.path.relpath(corpus), code, err[-2000:]))
    return wall, rss, code, out


def run_pyyaml(corpus, tag):
    out = os.path.join(outdir, "pyyaml-%s.txt" % tag)
    wall, rss, code, err = measure([sys.executable, "-c", PYYAML_BASELINE, corpus], out)
    if code != 0:
        die("the PyYAML baseline failed (exit %d):\n%s" % (code, err[-2000:]))
    files, docs, inner = open(out).read().split()
    return wall, rss, int(files), int(docs), float(inner)


def check_kfcheck_report(path, nfiles):
    """The lint must really have inspected every file, or the throughput means nothing."""
    try:
        with open(path) as fh:
            report = json.load(fh)
    except ValueError as e:
        die("kfcheck's JSON report %s does not parse: %s" % (path, e))
    inspected, problems, findings = None, 0, 0
    for check in report.get("checks", []):
        problems += len(check.get("problems") or [])
        findings += len(check.get("findings") or [])
        for note in check.get("notes") or []:
            m = re.search(r"inspected (\d+) pipeline file", note)
            if m:
                inspected = int(m.group(1))
    if inspected is None:
        log("warning: kfcheck's report has no 'inspected N pipeline file(s)' note; cannot confirm it read every file")
    elif inspected != nfiles:
        die("kfcheck inspected %d pipeline files, the corpus has %d" % (inspected, nfiles))
    return {"inspected_files": inspected, "findings": findings, "problems": problems,
            "exit_code": report.get("exit_code")}


# ---------------------------------------------------------------------------- main
files = sources()
digest = sources_digest(files)
corpora = {n: make_corpus(n, files, digest) for n in SIZES}
# Clean pipelines (no findings) show whether memory grows with the number of files itself;
# with findings it also grows with the findings the report must hold.
clean_files = [f for f in files if "/fail/" not in f]
clean_digest = sources_digest(clean_files)
clean = {n: make_corpus(n, clean_files, clean_digest, "clean-%d" % n) for n in SIZES}


def make_git_corpus(src, digest):
    """The 2,000-file corpus committed to a fresh git repository: owners come from history."""
    dest = os.path.join(corpus_root, "git-2000")
    stamp = dest + ".stamp"
    if os.environ.get("KFCHECK_BENCH_REGEN") != "1" and os.path.isfile(stamp) and open(stamp).read() == digest:
        return dest
    log("generating %s (git repository with one commit)" % dest)
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, os.path.join(dest, "pipelines"))
    git = ["git", "-C", dest, "-c", "user.name=Bench Author", "-c", "user.email=bench@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "corpus"]):
        subprocess.run(git + args, check=True, stdin=subprocess.DEVNULL)
    with open(stamp, "w") as fh:
        fh.write(digest)
    return dest


git_corpus = make_git_corpus(corpora[2000], digest)
stats = {n: corpus_stats(corpora[n]) for n in SIZES}
for n in SIZES:
    if stats[n][0] != n:
        die("%s holds %d files, expected %d (rerun with KFCHECK_BENCH_REGEN=1)" % (corpora[n], stats[n][0], n))

version = subprocess.run([kfcheck, "--version"], capture_output=True, text=True).stdout.strip()
try:
    # What the binary was built from: a commit, "-dirty" when the working tree had edits.
    revision = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
except (OSError, subprocess.CalledProcessError):
    revision = "unknown"
nproc = os.cpu_count()
try:
    nproc = int(subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip())
except (OSError, ValueError):
    pass
cpu_model = ""
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
except OSError:
    pass

import yaml  # noqa: E402  (the venv's, checked above)

big, small = corpora[2000], corpora[500]
clean_big, clean_small = clean[2000], clean[500]
git_big = os.path.join(git_corpus, "pipelines")
nbig, bytes_big = stats[2000]
nsmall, bytes_small = stats[500]
log("corpus-2000: %d files, %.2f MB; corpus-500: %d files, %.2f MB"
    % (nbig, bytes_big / 1e6, nsmall, bytes_small / 1e6))

# Other work on the machine (a cargo build next door) skews every figure: count the CPU time
# the whole machine spent busy during the measurements, minus what our own processes used.
def machine_busy_s():
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...; returns (busy s, busy+idle s)
    hz = os.sysconf("SC_CLK_TCK")
    busy = f[0] + f[1] + f[2] + sum(f[5:8])
    return busy / hz, (busy + f[3] + f[4]) / hz


def own_cpu_s():
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


busy_start, own_start = machine_busy_s(), own_cpu_s()

# One untimed pass of each puts the corpora in the page cache, so no timed run pays for disk.
log("warm-up (untimed)")
_, _, _, warm_report = run_kfcheck(big, "2000")
report_info = check_kfcheck_report(warm_report, nbig)
run_pyyaml(big, "2000")
_, _, _, warm_small = run_kfcheck(small, "500")
check_kfcheck_report(warm_small, nsmall)

runs = {"kfcheck_2000": [], "pyyaml_2000": [], "kfcheck_500": [], "clean_2000": [], "clean_500": [], "git_2000": []}
for rep in range(1, reps + 1):
    wall, rss, code, _ = run_kfcheck(big, "2000")
    runs["kfcheck_2000"].append({"wall_s": wall, "peak_rss_kib": rss, "exit_code": code})
    wall, rss, nf, ndocs, inner = run_pyyaml(big, "2000")
    if nf != nbig:
        die("the PyYAML baseline read %d files, expected %d" % (nf, nbig))
    runs["pyyaml_2000"].append({"wall_s": wall, "peak_rss_kib": rss, "documents": ndocs, "load_s": inner})
    wall, rss, code, _ = run_kfcheck(small, "500")
    runs["kfcheck_500"].append({"wall_s": wall, "peak_rss_kib": rss, "exit_code": code})
    for key, corpus in (("clean_2000", clean_big), ("clean_500", clean_small), ("git_2000", git_big)):
        wall, rss, code, _ = run_kfcheck(corpus, key)
        runs[key].append({"wall_s": wall, "peak_rss_kib": rss, "exit_code": code})
    log("rep %d/%d: kfcheck-2000 %.3fs %.1f MiB | pyyaml-2000 %.3fs | kfcheck-500 %.3fs %.1f MiB" % (
        rep, reps, runs["kfcheck_2000"][-1]["wall_s"], runs["kfcheck_2000"][-1]["peak_rss_kib"] / 1024,
        runs["pyyaml_2000"][-1]["wall_s"], runs["kfcheck_500"][-1]["wall_s"],
        runs["kfcheck_500"][-1]["peak_rss_kib"] / 1024))


# Scaling within one file: the same pipeline shape with 4x the tasks should take about 4x the
# time (a quadratic step would make it 16x). Ratios, not absolute times, so a busy machine
# does not decide the verdict.
SCALE_TASKS = (20000, 80000)
GOAL_SCALE_RATIO = 6.0


def make_wide_pipeline(n):
    """KFP v2 IR with n tasks in the root DAG, each on its own component and executor."""
    path = os.path.join(corpus_root, "one-file-%d" % n, "wide.yaml")
    if os.path.isfile(path) and os.environ.get("KFCHECK_BENCH_REGEN") != "1":
        return os.path.dirname(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    parts = ["components:\n"]
    parts += ["  comp-t%d:\n    executorLabel: exec-t%d\n" % (i, i) for i in range(n)]
    parts.append("deploymentSpec:\n  executors:\n")
    parts += ["    exec-t%d:\n      container:\n        image: python:3.11-slim\n        resources:\n"
              "          resourceCpuRequest: 100m\n          resourceMemoryRequest: 64Mi\n" % i for i in range(n)]
    parts.append("pipelineInfo:\n  name: wide\nroot:\n  dag:\n    tasks:\n")
    parts += ["      t%d:\n        componentRef:\n          name: comp-t%d\n        taskInfo:\n          name: t%d\n" % (i, i, i)
              for i in range(n)]
    parts.append("schemaVersion: 2.1.0\nsdkVersion: kfp-2.17.3\n")
    with open(path, "w") as fh:
        fh.write("".join(parts))
    return os.path.dirname(path)


wide = {n: make_wide_pipeline(n) for n in SCALE_TASKS}
for n in SCALE_TASKS:
    runs["wide_%d" % n] = []
for rep in range(1, reps + 1):
    for n in SCALE_TASKS:
        wall, rss, code, _ = run_kfcheck(wide[n], "wide_%d" % n)
        runs["wide_%d" % n].append({"wall_s": wall, "peak_rss_kib": rss, "exit_code": code})
    log("rep %d/%d: one file of %d tasks %.3fs, of %d tasks %.3fs" % (
        rep, reps, SCALE_TASKS[0], runs["wide_%d" % SCALE_TASKS[0]][-1]["wall_s"],
        SCALE_TASKS[1], runs["wide_%d" % SCALE_TASKS[1]][-1]["wall_s"]))

busy_end, own_end = machine_busy_s(), own_cpu_s()
if busy_start is None or busy_end is None or busy_end[1] <= busy_start[1]:
    other_share = None
else:
    other_cpu = max(0.0, (busy_end[0] - busy_start[0]) - (own_end - own_start))
    other_share = other_cpu / (busy_end[1] - busy_start[1])
busy = other_share is not None and other_share > 0.10


def med(key, field):
    return statistics.median(r[field] for r in runs[key])


def peak(key):
    return max(r["peak_rss_kib"] for r in runs[key]) / 1024.0


k_wall = med("kfcheck_2000", "wall_s")
p_wall = med("pyyaml_2000", "wall_s")
p_load = med("pyyaml_2000", "load_s")
k_small_wall = med("kfcheck_500", "wall_s")
mb_big, mb_small = bytes_big / 1e6, bytes_small / 1e6
k_mbs, p_mbs = mb_big / k_wall, mb_big / p_wall
ratio = k_mbs / p_mbs
rss_big, rss_small = peak("kfcheck_2000"), peak("kfcheck_500")
mixed_growth = (rss_big - rss_small) / rss_small
rss_clean_big, rss_clean_small = peak("clean_2000"), peak("clean_500")
growth = (rss_clean_big - rss_clean_small) / rss_clean_small
findings_small = check_kfcheck_report(os.path.join(outdir, "kfcheck-500.json"), nsmall)["findings"]
per_finding_kib = (rss_big - rss_small) * 1024 / max(1, report_info["findings"] - findings_small)
git_wall = med("git_2000", "wall_s")
wide_small, wide_big = (med("wide_%d" % n, "wall_s") for n in SCALE_TASKS)
scale_ratio = wide_big / wide_small

goals = {
    "ratio_at_least_30x": {"goal": ">= %g" % GOAL_RATIO, "value": round(ratio, 2), "pass": ratio >= GOAL_RATIO},
    "peak_rss_2000_under_64_mib": {"goal": "< %g MiB" % GOAL_RSS_MIB, "value": round(rss_big, 1), "pass": rss_big < GOAL_RSS_MIB},
    "clean_rss_growth_500_to_2000_under_20pct": {"goal": "< %d%%" % int(GOAL_RSS_GROWTH * 100), "value": round(growth * 100, 1), "pass": growth < GOAL_RSS_GROWTH},
    "one_file_4x_tasks_under_6x_time": {"goal": "< %gx" % GOAL_SCALE_RATIO, "value": round(scale_ratio, 2), "pass": scale_ratio < GOAL_SCALE_RATIO},
}

result = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "machine": {"nproc": nproc, "cpu": cpu_model, "kernel": platform.release(), "python": platform.python_version(),
                "other_processes_cpu_share": None if other_share is None else round(other_share, 3)},
    "kfcheck_version": version,
    "git_revision": revision,
    "pyyaml_version": yaml.__version__,
    "repetitions": reps,
    "statistic": "median wall time over repetitions; peak RSS is the largest over repetitions",
    "units": {"MB": "10^6 bytes", "MiB": "2^20 bytes"},
    "peak_rss_method": RSS_METHOD,
    "driver_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    "corpus": {
        "2000": {"files": nbig, "bytes": bytes_big, "mb": round(mb_big, 3), "path": big},
        "500": {"files": nsmall, "bytes": bytes_small, "mb": round(mb_small, 3), "path": small},
        "sources": len(files),
        "yaml_documents": runs["pyyaml_2000"][0]["documents"],
    },
    "kfcheck_2000": {
        "wall_s": round(k_wall, 4), "files_per_s": round(nbig / k_wall, 1), "mb_per_s": round(k_mbs, 3),
        "peak_rss_mib": round(rss_big, 2), "report": report_info, "runs": runs["kfcheck_2000"],
    },
    "pyyaml_cloader_2000": {
        "wall_s": round(p_wall, 4), "files_per_s": round(nbig / p_wall, 1), "mb_per_s": round(p_mbs, 3),
        "load_only_s": round(p_load, 4), "load_only_mb_per_s": round(mb_big / p_load, 3),
        "peak_rss_mib": round(peak("pyyaml_2000"), 2), "runs": runs["pyyaml_2000"],
    },
    "kfcheck_500": {
        "wall_s": round(k_small_wall, 4), "files_per_s": round(nsmall / k_small_wall, 1),
        "mb_per_s": round(mb_small / k_small_wall, 3), "peak_rss_mib": round(rss_small, 2), "runs": runs["kfcheck_500"],
    },
    "clean_2000": {"wall_s": round(med("clean_2000", "wall_s"), 4), "peak_rss_mib": round(rss_clean_big, 2), "runs": runs["clean_2000"]},
    "clean_500": {"wall_s": round(med("clean_500", "wall_s"), 4), "peak_rss_mib": round(rss_clean_small, 2), "runs": runs["clean_500"]},
    "git_2000": {"wall_s": round(git_wall, 4), "mb_per_s": round(mb_big / git_wall, 3), "ratio_mb_per_s": round((mb_big / git_wall) / p_mbs, 2), "runs": runs["git_2000"]},
    "one_file_scaling": {"tasks": list(SCALE_TASKS), "wall_s": [round(wide_small, 4), round(wide_big, 4)],
                         "time_ratio": round(scale_ratio, 2), "runs": {n: runs["wide_%d" % n] for n in SCALE_TASKS}},
    "ratio_mb_per_s": round(ratio, 2),
    "clean_rss_growth_500_to_2000_pct": round(growth * 100, 1),
    "mixed_rss_growth_500_to_2000_pct": round(mixed_growth * 100, 1),
    "kib_per_finding": round(per_finding_kib, 2),
    "goals": goals,
    "all_goals_met": all(g["pass"] for g in goals.values()),
}
with open(os.path.join(outdir, "result.json"), "w") as fh:
    json.dump(result, fh, indent=2)
    fh.write("\n")

pf = lambda ok: "PASS" if ok else "FAIL"  # noqa: E731
print()
print("kfcheck lint benchmark  %s  (%s at %s, PyYAML %s, nproc %d, %s)" % (
    result["date"], version, revision, yaml.__version__, nproc, cpu_model or "cpu unknown"))
print("median of %d interleaved runs; MB = 10^6 bytes; times are whole-process wall clock" % reps)
print("peak RSS: largest of the runs, measured with %s" % RSS_METHOD)
if other_share is not None:
    print("CPU used by other processes during the runs: %.0f%% of the machine%s" % (
        other_share * 100, "   WARNING: machine was busy, figures are skewed; rerun when idle" if busy else ""))
print()
print("%-26s %6s %8s %8s %9s %8s %10s" % ("", "files", "MB", "wall s", "files/s", "MB/s", "peak RSS"))
print("%-26s %6d %8.2f %8.3f %9.0f %8.2f %6.1f MiB" % ("kfcheck lint (2,000)", nbig, mb_big, k_wall, nbig / k_wall, k_mbs, rss_big))
print("%-26s %6d %8.2f %8.3f %9.0f %8.2f %6.1f MiB" % ("PyYAML CLoader (2,000)", nbig, mb_big, p_wall, nbig / p_wall, p_mbs, peak("pyyaml_2000")))
print("%-26s %6d %8.2f %8.3f %9.0f %8.2f %6.1f MiB" % ("kfcheck lint (500)", nsmall, mb_small, k_small_wall, nsmall / k_small_wall, mb_small / k_small_wall, rss_small))
print("%-26s %6d %8s %8.3f %9.0f %8s %6.1f MiB" % ("kfcheck clean (2,000)", nbig, "", med("clean_2000", "wall_s"), nbig / med("clean_2000", "wall_s"), "", rss_clean_big))
print("%-26s %6d %8s %8.3f %9.0f %8s %6.1f MiB" % ("kfcheck clean (500)", nsmall, "", med("clean_500", "wall_s"), nsmall / med("clean_500", "wall_s"), "", rss_clean_small))
print("%-26s %6d %8.2f %8.3f %9.0f %8.2f" % ("kfcheck in git repo (2,000)", nbig, mb_big, git_wall, nbig / git_wall, mb_big / git_wall))
print()
print("PyYAML load loop alone (no interpreter start-up/import): %.3f s, %.2f MB/s" % (p_load, mb_big / p_load))
print("kfcheck report: %s inspected files, %d findings, %d problems, exit code %s" % (
    report_info["inspected_files"], report_info["findings"], report_info["problems"], report_info["exit_code"]))
print()
print("goal: kfcheck MB/s / PyYAML MB/s >= %g     %7.1fx   %s" % (GOAL_RATIO, ratio, pf(goals["ratio_at_least_30x"]["pass"])))
print("goal: peak RSS at 2,000 files < %g MiB    %7.1f    %s" % (GOAL_RSS_MIB, rss_big, pf(goals["peak_rss_2000_under_64_mib"]["pass"])))
print("goal: RSS growth 500 -> 2,000 files < %d%%  %+6.1f%%   %s   (clean pipelines: memory vs number of files)" % (int(GOAL_RSS_GROWTH * 100), growth * 100, pf(goals["clean_rss_growth_500_to_2000_under_20pct"]["pass"])))
print("goal: one file, %d -> %d tasks < %gx time %6.1fx   %s   (%.3f s -> %.3f s; linear is 4x, quadratic 16x)" % (SCALE_TASKS[0], SCALE_TASKS[1], GOAL_SCALE_RATIO, scale_ratio, pf(goals["one_file_4x_tasks_under_6x_time"]["pass"]), wide_small, wide_big))
print("info: with findings, RSS grows %+.1f%% from 500 to 2,000 files: %.2f KiB per finding held for the report" % (mixed_growth * 100, per_finding_kib))
print("info: in a git repository (owners from git history): %.1fx PyYAML" % ((mb_big / git_wall) / p_mbs))
missed = [k for k, g in goals.items() if not g["pass"]]
if missed:
    print()
    if not goals["ratio_at_least_30x"]["pass"]:
        print("MISSED: throughput ratio %.1fx is %.1f%% short of %gx" % (ratio, (1 - ratio / GOAL_RATIO) * 100, GOAL_RATIO))
    if not goals["peak_rss_2000_under_64_mib"]["pass"]:
        print("MISSED: peak RSS %.1f MiB is %.1f MiB over %g MiB" % (rss_big, rss_big - GOAL_RSS_MIB, GOAL_RSS_MIB))
    if not goals["clean_rss_growth_500_to_2000_under_20pct"]["pass"]:
        print("MISSED: peak RSS grows %.1f%% from 500 to 2,000 clean files" % (growth * 100))
print()
print("figures written to %s" % os.path.relpath(os.path.join(outdir, "result.json"), root))
