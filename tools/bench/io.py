"""The driver of scripts/bench-io (see its header): `kfcheck probe io` against the same number of
parallel curl transfers to the same S3 endpoint, write then read, at each concurrency; then an
io-sweep from the host, for the time each step spends outside its measured window. Prints the
table, writes result.json.

Usage: io.py KFCHECK ENDPOINT KEY_DIR SECONDS WORKDIR RESULT_JSON
"""
import json, os, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor

binary, endpoint, key_dir, seconds, work, result_path = sys.argv[1:7]
seconds = float(seconds)
bucket = "kfcheck-s3-test"
size = 4 << 20
levels = [1, 2, 4]
ak = open(os.path.join(key_dir, "accesskey")).read().strip()
sk = open(os.path.join(key_dir, "secretkey")).read().strip()
env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
os.makedirs(work, exist_ok=True)
payload = os.path.join(work, "object.bin")
with open(payload, "wb") as f:
    f.write(os.urandom(size))
# curl signs with SigV4 itself; its key goes in a config file, never on a command line.
curl_cfg = os.path.join(work, "curl.cfg")
fd = os.open(curl_cfg, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write(f'user = "{ak}:{sk}"\naws-sigv4 = "aws:amz:us-east-1:s3"\nsilent\nshow-error\nfail\n')

def probe(streams, mode):
    o = subprocess.run([binary, "probe", "io", "--bucket", f"s3://{bucket}", "--endpoint", endpoint,
                        "--s3-key-dir", key_dir, "--streams", str(streams), "--object-size", str(size),
                        "--seconds", str(seconds), "--mode", mode, "--prefix", "bench-io/probe"],
                       env=env, capture_output=True, text=True)
    v = json.loads(o.stdout)
    if v["status"] != "passed":
        sys.exit(f"bench-io: probe failed: {o.stdout}")
    return v["ops"][mode]["mb_per_s"]

def curl_stream(n, mode, count):
    """One stream: `count` transfers in one curl process (one kept-alive connection)."""
    args = ["curl", "-K", curl_cfg]
    for i in range(count):
        url = f"{endpoint}/{bucket}/bench-io/curl/{n}-{i}.bin"
        if mode == "write":
            args += ["-T", payload, url, "-o", "/dev/null"]
        else:
            args += [url, "-o", "/dev/null"]
    if subprocess.run(args).returncode != 0:
        sys.exit(f"bench-io: curl failed on a {mode} of {count} objects (stream {n})")

def curl(streams, mode, count):
    t = time.monotonic()
    with ThreadPoolExecutor(streams) as ex:
        list(ex.map(lambda n: curl_stream(n, mode, count), range(streams)))
    return streams * count * size / (time.monotonic() - t) / 1e6

def curl_delete(streams, count):
    args = ["curl", "-K", curl_cfg]
    for n in range(streams):
        for i in range(count):
            args += ["-X", "DELETE", f"{endpoint}/{bucket}/bench-io/curl/{n}-{i}.bin", "-o", "/dev/null"]
    if subprocess.run(args).returncode != 0:
        sys.exit("bench-io: curl failed to delete its objects")

rows = []
for streams in levels:
    # The probe first, and curl moves about as many bytes as the probe did in its window.
    pw = probe(streams, "write")
    count = max(3, int(pw * 1e6 * seconds / size / streams))
    cw = curl(streams, "write", count)
    cr = curl(streams, "read", count)
    curl_delete(streams, count)
    pr = probe(streams, "read")
    rows.append({"streams": streams, "probe_write": pw, "curl_write": cw, "write_ratio": pw / cw,
                 "probe_read": pr, "curl_read": cr, "read_ratio": pr / cr, "curl_objects_per_stream": count})

suite = os.path.join(work, "suite")
os.makedirs(suite, exist_ok=True)
with open(os.path.join(suite, "io-bench.yaml"), "w") as f:
    f.write(f"id: io-bench\nkind: io-sweep\ntitle: t\ncategory: bench\nparams:\n  bucket: s3://{bucket}\n"
            f"  endpoint: {endpoint}\n  s3_key_dir: {key_dir}\n  prefix: bench-io/sweep\n  seconds: {seconds}\n"
            f"  concurrency: [1, 2, 4]\n  object_size: 4MiB\n")
report = os.path.join(work, "sweep.json")
subprocess.run([binary, "--suite", suite, "run", "io-bench", "-q", "--report", f"json={report}"], env=env,
               capture_output=True)
sweep = json.load(open(report))["checks"][0].get("figures", {}).get("io_sweep", {})
overhead = [{"concurrency": s["concurrency"], "overhead_ms": s["overhead_ms"]} for s in sweep.get("steps", [])]

print(f"{'streams':>7}  {'probe write':>11}  {'curl write':>10}  {'ratio':>5}  {'probe read':>10}  {'curl read':>9}  {'ratio':>5}")
for r in rows:
    print(f"{r['streams']:>7}  {r['probe_write']:>11.1f}  {r['curl_write']:>10.1f}  {r['write_ratio']:>5.2f}  "
          f"{r['probe_read']:>10.1f}  {r['curl_read']:>9.1f}  {r['read_ratio']:>5.2f}")
print("MB/s; goal: ratio >= 0.9")
print("io-sweep from the host, time outside each step's window: "
      + ", ".join(f"{o['concurrency']} probe(s) {o['overhead_ms']} ms" for o in overhead))
json.dump({"object_bytes": size, "seconds": seconds, "rows": rows, "sweep_overhead": overhead},
          open(result_path, "w"), indent=2)
