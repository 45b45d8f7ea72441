"""The driver of scripts/bench-objstore (see its header): kfcheck's hand-written S3 client against
Apache Arrow's object_store crate (tools/bench/objstore, binary objstore-io), on the same
SeaweedFS endpoint, bucket, object size and window.

1. Throughput: at 1, 2 and 4 streams, `kfcheck probe io --mode write|read` and
   `objstore-io io --mode write|read`, run in the order kfcheck, object_store, object_store,
   kfcheck (each figure the mean of its two runs, so drift in the store's state hits both alike),
   plus one object_store write run with its default signed payload. Ratio = kfcheck/object_store.
2. Fidelity: for each fault (wrong secret key, unknown access key, missing bucket, a write by the
   read-only identity, a store answering 429 TooManyRequests, one answering 503 SlowDown) what
   `kfcheck probe storage` reports against what object_store reports (`objstore-io fidelity`),
   and for 429/503 how many requests each sent before giving up (the fake store counts them)
   and what `kfcheck probe io` counted.

Keys are read by the two programs from key folders; this driver reads them only to make the
faulty key folders and to check that no output it keeps or prints holds a key.

Usage: bench.py KFCHECK OBJSTORE_IO ENDPOINT KEYS_DIR SECONDS WORKDIR RESULT_JSON [DEPS_JSON]
"""
import http.server, json, os, secrets, shutil, socketserver, subprocess, sys, threading, time

kfcheck, objstore, endpoint, keys, seconds, work, result_path = sys.argv[1:8]
deps = json.load(open(sys.argv[8])) if len(sys.argv) > 8 else {}
seconds = float(seconds)
bucket = "kfcheck-s3-test"
size = 4 << 20
levels = [1, 2, 4]
env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
os.makedirs(work, exist_ok=True)
admin = os.path.join(keys, "admin")
reader = os.path.join(keys, "reader")

# Every key this run knows, to check outputs against (never printed).
known_secrets = set()
for ident in os.listdir(keys):
    for f in ("accesskey", "secretkey"):
        p = os.path.join(keys, ident, f)
        if os.path.exists(p):
            known_secrets.add(open(p).read().strip())


def key_dir(name, access, secret):
    """A key folder for a fault, mode 600 like the real ones."""
    d = os.path.join(work, "faults", name)
    os.makedirs(d, exist_ok=True)
    os.chmod(os.path.dirname(d), 0o700)
    for f, v in (("accesskey", access), ("secretkey", secret)):
        p = os.path.join(d, f)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(v)
        known_secrets.add(v)
    return d


def clean(text, who="an output"):
    for s in known_secrets:
        if len(s) >= 4 and s in text:
            sys.exit(f"bench-objstore: a key showed up in {who}; nothing was kept")
    return text


def run_json(args, timeout=300):
    t = time.monotonic()
    try:
        o = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "wall_s": timeout}
    clean(o.stdout + o.stderr, f"the output of {os.path.basename(args[0])} {args[1]} {args[2]}")
    try:
        v = json.loads(o.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        sys.exit(f"bench-objstore: no JSON line from {os.path.basename(args[0])} {args[1]} {args[2]}: {o.stderr[-500:]}")
    v["wall_s"] = round(time.monotonic() - t, 2)
    return v


def k_io(streams, mode, key=admin, ep=None, secs=None, b=bucket):
    return run_json([kfcheck, "probe", "io", "--bucket", f"s3://{b}", "--endpoint", ep or endpoint,
                     "--s3-key-dir", key, "--streams", str(streams), "--object-size", str(size),
                     "--seconds", str(secs or seconds), "--mode", mode, "--max-bytes", "64GiB",
                     "--prefix", "bench-objstore/kfcheck"])


def o_io(streams, mode, signed=False):
    a = [objstore, "io", "--endpoint", endpoint, "--bucket", bucket, "--key-dir", admin,
         "--streams", str(streams), "--object-size", str(size), "--seconds", str(seconds),
         "--mode", mode, "--prefix", "bench-objstore/objstore"]
    return run_json(a + (["--signed-payload"] if signed else []))


def mb(v, mode):
    if v.get("status") != "passed":
        sys.exit(f"bench-objstore: an io run failed: {json.dumps(v)[:800]}")
    return v["ops"][mode]["mb_per_s"]


def lat(v, mode):
    o = v["ops"][mode]
    return {"p50_ms": o["p50_ms"], "p95_ms": o["p95_ms"], "ops": o["ops"]}


# 1. Throughput, after a short unmeasured write by each client: a SeaweedFS restarted on an
# existing state folder once held the first PUT for 13 s while it settled.
for v in (k_io(1, "write", secs=2), run_json([objstore, "io", "--endpoint", endpoint, "--bucket", bucket,
                                              "--key-dir", admin, "--seconds", "2", "--mode", "write",
                                              "--prefix", "bench-objstore/warmup"])):
    if v.get("status") != "passed":
        sys.exit(f"bench-objstore: the warm-up write failed: {json.dumps(v)[:800]}")
rows = []
for streams in levels:
    row = {"streams": streams}
    for mode in ("write", "read"):
        k1 = k_io(streams, mode)
        o1 = o_io(streams, mode)
        o2 = o_io(streams, mode)
        k2 = k_io(streams, mode)
        k = (mb(k1, mode) + mb(k2, mode)) / 2
        o = (mb(o1, mode) + mb(o2, mode)) / 2
        row[mode] = {"kfcheck_mb_s": round(k, 1), "object_store_mb_s": round(o, 1), "ratio": round(k / o, 3),
                     "kfcheck_runs": [mb(k1, mode), mb(k2, mode)], "object_store_runs": [mb(o1, mode), mb(o2, mode)],
                     "kfcheck_latency": [lat(k1, mode), lat(k2, mode)],
                     "object_store_latency": [lat(o1, mode), lat(o2, mode)],
                     "kfcheck_errors": [k1.get("errors"), k2.get("errors")],
                     "kfcheck_throttled": [k1.get("throttled"), k2.get("throttled")],
                     "object_store_errors": [o1.get("errors"), o2.get("errors")]}
    s = o_io(streams, "write", signed=True)
    row["write"]["object_store_signed_payload_mb_s"] = mb(s, "write")
    row["write"]["ratio_vs_signed"] = round(row["write"]["kfcheck_mb_s"] / mb(s, "write"), 3)
    rows.append(row)
    print(f"bench-objstore: {streams} stream(s) measured", file=sys.stderr)


# 2. Fidelity. A fake store for 429 and 503: every request answered with an S3 error document,
# counted (GET /__count answers the count, which neither client asks for).
class Throttler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            chunk = self.rfile.read(min(n, 1 << 16))
            if not chunk:
                break
            n -= len(chunk)
        if self.path == "/__count":
            body, status = str(self.server.count).encode(), 200
        else:
            self.server.count += 1
            status, code = self.server.status, self.server.code
            body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                    f'<Message>Please reduce your request rate.</Message><Resource>{self.path}</Resource>'
                    f'<RequestId>bench</RequestId></Error>').encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = do_HEAD = do_POST = answer


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def fake_store(status, code):
    s = Server(("127.0.0.1", 0), Throttler)
    s.status, s.code, s.count = status, code, 0
    threading.Thread(target=s.serve_forever, daemon=True).start()
    return s


def k_storage(key, ep, b):
    return run_json([kfcheck, "probe", "storage", "--bucket", f"s3://{b}", "--endpoint", ep,
                     "--s3-key-dir", key, "--size", "64KiB", "--prefix", "bench-objstore/fidelity"])


def o_fidelity(key, ep, b):
    return run_json([objstore, "fidelity", "--endpoint", ep, "--bucket", b, "--key-dir", key,
                     "--prefix", "bench-objstore/fidelity"])


def first_failure(v):
    """object_store's first failing step (the one kfcheck's round trip would have stopped at)."""
    for s in v.get("steps", []):
        if not s["ok"]:
            return s
    return None


access = open(os.path.join(admin, "accesskey")).read().strip()
faults = [
    ("healthy (admin, kfcheck-s3-test)", admin, endpoint, bucket, None),
    ("wrong secret key (signature mismatch)", key_dir("wrong-secret", access, secrets.token_urlsafe(30)), endpoint, bucket, None),
    ("unknown access key", key_dir("unknown-key", "KF" + secrets.token_hex(9).upper(), secrets.token_urlsafe(30)), endpoint, bucket, None),
    # A new name each run: SeaweedFS creates a missing bucket on an admin's PUT (object_store's
    # put step does that after its list failed), so a fixed name would exist the next time.
    ("missing bucket", admin, endpoint, f"kfcheck-missing-{secrets.token_hex(4)}", None),
    ("write as read-only `reader` (403 AccessDenied)", reader, endpoint, bucket, None),
    ("429 TooManyRequests on every request", admin, None, bucket, (429, "TooManyRequests")),
    ("503 SlowDown on every request", admin, None, bucket, (503, "SlowDown")),
]
fidelity = []
for name, key, ep, b, fake in faults:
    server = fake_store(*fake) if fake else None
    if server:
        ep = f"http://127.0.0.1:{server.server_address[1]}"
    k = k_storage(key, ep, b)
    k_hits = server.count if server else None
    o = o_fidelity(key, ep, b)
    o_hits = server.count - k_hits if server else None
    entry = {"fault": name,
             "kfcheck": {"status": k.get("status"), "class": (k.get("error") or {}).get("class"),
                         "message": (k.get("error") or {}).get("message"), "steps": k.get("steps"),
                         "wall_s": k.get("wall_s")},
             "object_store": {"status": o.get("status"), "steps": o.get("steps"), "wall_s": o.get("wall_s")}}
    f = first_failure(o)
    if f:
        entry["object_store"]["first_failure"] = {"op": f["op"], **f["error"]}
    if server:
        entry["kfcheck"]["requests_sent"] = k_hits
        entry["object_store"]["requests_sent"] = o_hits
        before = server.count
        kio = k_io(1, "write", key=admin, ep=ep, secs=2)
        # requests_sent includes the cleanup's deletes of each object it tried to write.
        entry["kfcheck_io"] = {"status": kio.get("status"), "throttled": kio.get("throttled"),
                               "errors": kio.get("errors"), "requests": kio.get("requests"),
                               "requests_sent": server.count - before,
                               "error": (kio.get("error") or {}).get("class")}
        before = server.count
        oio = run_json([objstore, "io", "--endpoint", ep, "--bucket", b, "--key-dir", admin, "--streams", "1",
                        "--object-size", str(size), "--seconds", "2", "--mode", "write",
                        "--prefix", "bench-objstore/objstore"])
        entry["object_store_io"] = {"status": oio.get("status"), "errors": oio.get("errors"),
                                    "requests": oio.get("requests"), "requests_sent": server.count - before,
                                    "wall_s": oio.get("wall_s")}
        server.shutdown()
        server.server_close()
    fidelity.append(entry)
    print(f"bench-objstore: fidelity: {name}", file=sys.stderr)
shutil.rmtree(os.path.join(work, "faults"), ignore_errors=True)

# Tables.
print()
print("Throughput, MB/s (mean of 2 runs each; ratio = kfcheck / object_store)")
print(f"{'streams':>7}  {'kfcheck write':>13}  {'o_s write':>9}  {'ratio':>5}  {'o_s signed':>10}  "
      f"{'kfcheck read':>12}  {'o_s read':>8}  {'ratio':>5}")
for r in rows:
    w, rd = r["write"], r["read"]
    print(f"{r['streams']:>7}  {w['kfcheck_mb_s']:>13.1f}  {w['object_store_mb_s']:>9.1f}  {w['ratio']:>5.2f}  "
          f"{w['object_store_signed_payload_mb_s']:>10.1f}  {rd['kfcheck_mb_s']:>12.1f}  "
          f"{rd['object_store_mb_s']:>8.1f}  {rd['ratio']:>5.2f}")
print("(o_s = object_store with UNSIGNED-PAYLOAD as kfcheck sends; o_s signed = its default, SHA-256 of each body)")
print()
print("Fidelity (first failing step of each; kfcheck: probe storage, object_store: list/put/get/delete)")
for e in fidelity:
    k, o = e["kfcheck"], e["object_store"]
    kf = f"{k['status']}" + (f" {k['class']}" if k["class"] else "")
    def step(s):
        if s["ok"]:
            return f"{s['op']} ok"
        er = s["error"]
        return (f"{s['op']} {er['variant']}" + (f" {er['status']}" if er.get("status") else "")
                + (f" {er['s3_code']}" if er.get("s3_code") else "")
                + (f" ({er['retries']} retries)" if er.get("retries") else ""))
    osd = ", ".join(step(s) for s in o.get("steps", [])) or o.get("status")
    print(f"- {e['fault']}:\n    kfcheck {kf}\n    object_store {osd}")
    if "requests_sent" in k:
        ki, oi = e["kfcheck_io"], e["object_store_io"]
        print(f"    requests sent: round trip kfcheck {k['requests_sent']}, object_store {o['requests_sent']};"
              f" 2 s write streams: kfcheck counted {ki['throttled']} in {ki['requests']} requests"
              f" ({ki['requests_sent']} with cleanup), object_store counted {oi['errors']} in {oi['requests']}"
              f" operations ({oi['requests_sent']} requests sent)")

load = open("/proc/loadavg").read().split()[:3]
json.dump({"object_bytes": size, "seconds": seconds, "bucket": bucket, "load_average": load,
           "object_store_version": "0.14.2", "throughput": rows, "fidelity": fidelity, "dependencies": deps},
          open(result_path, "w"), indent=2)
clean(open(result_path).read())
print(f"\nwrote {result_path}")
