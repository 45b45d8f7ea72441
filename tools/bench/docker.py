"""The driver of scripts/bench-docker (see its header): probe storage against curl, a no-op
container check against a bare `docker run`, each a ratio; prints the table, writes result.json.

Usage: docker.py KFCHECK GCS_HOST REPS WORKDIR RESULT_JSON
"""
import json, os, statistics, subprocess, sys, time

binary, gcs, reps, work, result_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
bucket = "kfcheck-test"
env = dict(os.environ, STORAGE_EMULATOR_HOST=gcs)
for k in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
    env.pop(k, None)

def probe(size):
    o = subprocess.run([binary, "probe", "storage", "--bucket", bucket, "--size", size, "--no-metadata"], env=env, capture_output=True, text=True)
    v = json.loads(o.stdout)
    if v["status"] != "passed":
        sys.exit(f"bench-docker: probe failed: {o.stdout}")
    steps = {s["op"]: s for s in v["steps"]}
    return steps["write"]["mb_per_s"], steps["read"]["mb_per_s"]

def curl(nbytes, path):
    name = f"bench/curl-{nbytes}"
    up = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", "-X", "POST", "-H", "Content-Type: application/octet-stream",
                         "--data-binary", f"@{path}", f"http://{gcs}/upload/storage/v1/b/{bucket}/o?uploadType=media&name={name.replace('/', '%2F')}"],
                        capture_output=True, text=True, check=True)
    down = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total}", f"http://{gcs}/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}?alt=media"],
                          capture_output=True, text=True, check=True)
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "-X", "DELETE", f"http://{gcs}/storage/v1/b/{bucket}/o/{name.replace('/', '%2F')}"], check=True)
    return nbytes / float(up.stdout) / 1e6, nbytes / float(down.stdout) / 1e6

rows, results = [], {}
for size, nbytes, n in (("1MB", 1_000_000, reps), ("100MB", 100_000_000, max(3, reps // 2 + 1))):
    path = os.path.join(work, f"payload-{size}")
    with open(path, "wb") as f:
        f.write(os.urandom(nbytes))
    kw, kr, cw, cr = [], [], [], []
    probe(size); curl(nbytes, path)  # warm-up: connections, allocator, page cache
    for _ in range(n):  # interleaved, so drift hits both sides alike
        w, r = probe(size); kw.append(w); kr.append(r)
        w, r = curl(nbytes, path); cw.append(w); cr.append(r)
    for op, k, c in (("write", kw, cw), ("read", kr, cr)):
        km, cm = statistics.median(k), statistics.median(c)
        ratio = km / cm
        results[f"storage_{op}_{size}"] = {"kfcheck_mb_per_s": km, "curl_mb_per_s": cm, "ratio": round(ratio, 3), "goal": ">= 0.9", "met": ratio >= 0.9}
        rows.append((f"probe storage {op} {size}", f"{km:.1f} MB/s", f"curl {cm:.1f} MB/s", f"{ratio:.2f}", "PASS" if ratio >= 0.9 else "FAIL"))

# A no-op container check against a bare docker run of the same image and command.
suite = os.path.join(work, "suite")
os.makedirs(suite)
with open(os.path.join(suite, "noop.yaml"), "w") as f:
    f.write("id: bench-noop\nkind: container-run\ntitle: no-op\ncategory: bench\nparams:\n  command: [/bin/true]\n  network: none\n")
denv = dict(os.environ)
def timed(cmd):
    t = time.perf_counter()
    o = subprocess.run(cmd, env=denv, capture_output=True, text=True)
    d = time.perf_counter() - t
    if o.returncode != 0:
        sys.exit(f"bench-docker: {' '.join(cmd)} exited {o.returncode}: {o.stdout}{o.stderr}")
    return d
check = [binary, "--suite", suite, "run", "bench-noop", "-o", "json"]
bare = ["docker", "run", "--rm", "--network", "none", "--entrypoint", "/bin/true", "kfcheck-probe:dev"]
timed(check); timed(bare)
ks, ds = [], []
for _ in range(max(reps, 10)):
    ks.append(timed(check)); ds.append(timed(bare))
km, dm = statistics.median(ks), statistics.median(ds)
overhead = km / dm - 1
results["noop_container_check"] = {"kfcheck_s": round(km, 4), "docker_run_s": round(dm, 4), "ratio": round(km / dm, 3), "overhead": round(overhead, 3), "goal": "< 0.10", "met": overhead < 0.10}
rows.append(("no-op container check", f"{km*1000:.0f} ms", f"docker run {dm*1000:.0f} ms", f"{km/dm:.2f}", "PASS" if overhead < 0.10 else "FAIL"))

w = max(len(r[0]) for r in rows)
print(f"{'measure':<{w}}  {'kfcheck':>12}  {'baseline':>22}  {'ratio':>6}  goal")
for r in rows:
    print(f"{r[0]:<{w}}  {r[1]:>12}  {r[2]:>22}  {r[3]:>6}  {r[4]}")
with open(result_path, "w") as f:
    json.dump(results, f, indent=2)
print(f"(written to {result_path})")
