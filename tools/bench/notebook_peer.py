"""The Python peer of scripts/bench-notebook, part 1: what `kfcheck notebook run` does with a
one-cell notebook on a Jupyter server given by URL, message for message, with requests and
websocket-client (both in .venv-notebook): GET api/status, GET api/kernelspecs, POST
api/kernels, the kernel's channels websocket with the v1 binary subprotocol offered (JSON text
frames when refused), one execute_request on the shell channel (store_history, no stdin), until
both its execute_reply and the kernel's return to idle have arrived, the websocket closed; then
DELETE of the kernel, outside the timed span as kfcheck's janitor does it after its report.

Usage: notebook_peer.py BASE_URL CODE     (the token in $JUPYTER_TOKEN)
       notebook_peer.py --imports-only    (start-up: import what the peer imports, exit)

Prints one JSON line: span_ms (first request -> execute_reply and idle, websocket closed),
cell_ms (websocket connect -> the same point), status (the reply's), framing (v1 or json).
"""

import json
import os
import sys
import time
import uuid

import requests
import websocket

V1 = "v1.kernel.websocket.jupyter.org"


def encode_v1(channel, parts):
    """A v1 binary frame: the offset count, the offsets (each part's start, then the end), the
    channel and the JSON parts (jupyter_server's serialize_msg_to_ws_v1)."""
    bodies = [channel.encode()] + [json.dumps(p).encode() for p in parts]
    count = len(bodies) + 1
    offsets, at = [], 8 * (count + 1)
    offsets.append(at)
    for b in bodies:
        at += len(b)
        offsets.append(at)
    return b"".join([count.to_bytes(8, "little")] + [o.to_bytes(8, "little") for o in offsets] + bodies)


def decode_v1(frame):
    count = int.from_bytes(frame[:8], "little")
    offs = [int.from_bytes(frame[8 + 8 * i:16 + 8 * i], "little") for i in range(count)]
    parts = [frame[offs[i]:offs[i + 1]] for i in range(count - 1)]
    # channel, header, parent_header, metadata, content (buffers after, unused here)
    return json.loads(parts[2]), json.loads(parts[1]), json.loads(parts[4])


def run(base, code, token):
    started = time.perf_counter()
    s = requests.Session()
    s.headers["Authorization"] = f"token {token}"
    for path in ("api/status", "api/kernelspecs"):
        r = s.get(base + path, timeout=30)
        r.raise_for_status()
    r = s.post(base + "api/kernels", json={}, timeout=30)
    r.raise_for_status()
    kernel = r.json()["id"]
    session = uuid.uuid4().hex
    url = base.replace("http", "ws", 1) + f"api/kernels/{kernel}/channels?session_id={uuid.uuid4().hex}"
    header = [f"Authorization: token {token}"]
    cell_started = time.perf_counter()
    try:
        ws = websocket.create_connection(url, header=header, subprotocols=[V1], timeout=60)
    except websocket.WebSocketException:
        ws = websocket.create_connection(url, header=header, timeout=60)
    binary = ws.getsubprotocol() == V1
    msg_id = f"peer-{uuid.uuid4().hex}"
    head = {"msg_id": msg_id, "session": session, "username": "peer", "msg_type": "execute_request",
            "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
               "allow_stdin": False, "stop_on_error": True}
    if binary:
        ws.send_binary(encode_v1("shell", [head, {}, {}, content]))
    else:
        ws.send(json.dumps({"channel": "shell", "header": head, "parent_header": {}, "metadata": {},
                            "content": content, "buffers": []}))
    replied = idle = False
    status = None
    while not (replied and idle):
        op, data = ws.recv_data()
        if op == websocket.ABNF.OPCODE_BINARY:
            parent, h, c = decode_v1(data)
        elif op == websocket.ABNF.OPCODE_TEXT:
            m = json.loads(data)
            parent, h, c = m.get("parent_header") or {}, m["header"], m.get("content") or {}
        else:
            continue
        if parent.get("msg_id") != msg_id:
            continue
        if h["msg_type"] == "execute_reply":
            replied, status = True, c.get("status")
        elif h["msg_type"] == "status" and c.get("execution_state") == "idle":
            idle = True
    ws.close()
    ended = time.perf_counter()
    span, cell = ended - started, ended - cell_started
    s.delete(base + f"api/kernels/{kernel}", timeout=30).raise_for_status()
    return span, cell, status, "v1" if binary else "json"


def main():
    if sys.argv[1:] == ["--imports-only"]:
        return
    base, code = sys.argv[1], sys.argv[2]
    base = base if base.endswith("/") else base + "/"
    span, cell, status, framing = run(base, code, os.environ["JUPYTER_TOKEN"])
    print(json.dumps({"span_ms": span * 1000.0, "cell_ms": cell * 1000.0, "status": status,
                      "framing": framing}))


if __name__ == "__main__":
    main()
