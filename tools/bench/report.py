"""The driver of scripts/bench-report (see its header). Three figures, each against a peer run in
the same command:

1. the HTML report of a run of 1,000 checks with 100 kept runs (--history): its size (goal under
   2 MB) and how long headless Chromium takes to load it, against the same Chromium loading a page
   of one line (goal: under 1 s more);
2. `kfcheck history` over 1,000 kept reports, against Python reading and parsing the same files
   (goal: under 1 s);
3. `kfcheck diff FIRST last` over the same history (the oldest kept run by id against the newest) (goal: under 1 s).

Usage: report.py KFCHECK CHROMIUM WORKDIR RESULT_JSON
"""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

binary, chromium, work, result_path = sys.argv[1:5]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

def timed(cmd, **kw):
    t = time.perf_counter()
    o = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return time.perf_counter() - t, o

def median_of(n, fn):
    return statistics.median(fn() for _ in range(n))

# 1. A suite of 1,000 plug-in checks: most pass, one in ten warns, one in twenty fails.
suite = os.path.join(work, "suite")
os.makedirs(suite)
for i in range(1000):
    if i % 20 == 0:
        line = '{"findings": [{"rule": "r", "message": "failed %d", "severity": "error", "remediation": "fix it", "evidence": {"seen": "x"}}]}' % i
    elif i % 10 == 0:
        line = '{"findings": [{"rule": "w", "message": "warned %d", "severity": "warning", "remediation": "look"}]}' % i
    else:
        line = '{"findings": [], "notes": ["fine"]}'
    with open(os.path.join(suite, f"b{i:04}.yaml"), "w") as f:
        f.write(f"id: b{i:04}\nkind: exec\ntitle: bench check {i}\ncategory: bench\nparams:\n  command: [echo, {json.dumps(line)}]\n")
base = [binary, "--suite", suite, "--concurrency", "32"]
run_json = os.path.join(work, "run.json")
t_run, o = timed(base + ["run", "bench", "-o", "json"])
if o.returncode not in (0, 1):
    sys.exit(f"bench-report: the 1,000-check run failed ({o.returncode}): {o.stderr[-2000:]}")
with open(run_json, "w") as f:
    f.write(o.stdout)
doc = json.loads(o.stdout)

def keep(dir_, n, template):
    """n reports in kfcheck's history naming, a day apart, statuses varied."""
    os.makedirs(dir_, exist_ok=True)
    for k in range(n):
        d = json.loads(template)
        d["run_id"] = f"{k:010x}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1_700_000_000 + 3600 * k)) + ".000Z"
        d["started_at"] = stamp
        if k % 7 == 3 and d["checks"]:
            d["checks"][0]["status"] = "failed"
            d["verdict"], d["exit_code"] = "not-ready", 1
        name = "".join(c for c in stamp if c.isalnum()) + f"-{d['run_id']}.json"
        with open(os.path.join(dir_, name), "w") as f:
            json.dump(d, f)

history = os.path.join(work, "history-100")
keep(history, 100, json.dumps(doc))
html = os.path.join(work, "report.html")
t_html, o = timed(base + ["--history", history, "run", "bench", "-q", "--report", f"html={html}"])
size = os.path.getsize(html)
trivial = os.path.join(work, "trivial.html")
with open(trivial, "w") as f:
    f.write("<!doctype html><title>t</title><p>hello</p>\n")

def load(page):
    profile = tempfile.mkdtemp()
    t, o = timed([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", f"--user-data-dir={profile}", "--dump-dom", f"file://{page}"])
    shutil.rmtree(profile, ignore_errors=True)
    if o.returncode != 0 or "</html>" not in o.stdout:
        sys.exit(f"bench-report: chromium failed on {page}: {o.stderr[-1000:]}")
    return t

load(trivial)  # warm the page cache and Chromium's own files
t_trivial = median_of(5, lambda: load(trivial))
t_report = median_of(5, lambda: load(html))

# 2 and 3. A thousand kept reports of a suite the size of kfcheck's own (30 checks).
small = dict(doc)
small["checks"] = doc["checks"][:30]
history_1000 = os.path.join(work, "history-1000")
keep(history_1000, 1000, json.dumps(small))

def py_read():
    t = time.perf_counter()
    for name in sorted(os.listdir(history_1000)):
        with open(os.path.join(history_1000, name)) as f:
            json.load(f)
    return time.perf_counter() - t

def kf(args):
    t, o = timed([binary] + args)
    if o.returncode not in (0, 1):
        sys.exit(f"bench-report: kfcheck {' '.join(args)} failed: {o.stderr[-1000:]}")
    return t

t_py = median_of(3, py_read)
t_hist = median_of(3, lambda: kf(["history", history_1000]))
t_diff = median_of(3, lambda: kf(["--history", history_1000, "diff", "0000000000", "last"]))

result = {
    "checks": len(doc["checks"]), "kept_runs_in_html": 100, "run_s": round(t_run, 2),
    "html_render_run_s": round(t_html, 2), "html_bytes": size,
    "chromium_trivial_s": round(t_trivial, 3), "chromium_report_s": round(t_report, 3),
    "chromium_extra_s": round(t_report - t_trivial, 3),
    "history_reports": 1000, "python_read_s": round(t_py, 3),
    "kfcheck_history_s": round(t_hist, 3), "kfcheck_diff_s": round(t_diff, 3),
}
with open(result_path, "w") as f:
    json.dump(result, f, indent=2)
rows = [
    ("HTML, 1,000 checks + 100 runs", f"{size / 1e6:.2f} MB", "under 2 MB"),
    ("Chromium: report vs one-line page", f"{t_report:.3f} s vs {t_trivial:.3f} s ({t_report / t_trivial:.2f}x, +{t_report - t_trivial:.3f} s)", "under 1 s more"),
    ("kfcheck history, 1,000 reports", f"{t_hist:.3f} s ({t_hist / t_py:.2f}x Python's json.load of the same files, {t_py:.3f} s)", "under 1 s"),
    ("kfcheck diff FIRST last", f"{t_diff:.3f} s ({t_diff / t_py:.2f}x)", "under 1 s"),
]
w = max(len(r[0]) for r in rows)
for r in rows:
    print(f"{r[0]:<{w}}  {r[1]}  (goal: {r[2]})")
print(f"(the 1,000-check run itself took {t_run:.1f} s; with the HTML report and 100 kept runs {t_html:.1f} s)")
