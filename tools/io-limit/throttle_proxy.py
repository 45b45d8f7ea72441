#!/usr/bin/env python3
"""An HTTP/1.1 reverse proxy for the io-sweep tests (scripts/io-limit): every client connection
gets its own bandwidth cap, as each pod has its own link, and a set share of requests can be
answered 429 or 503 SlowDown instead of being forwarded, as a throttling store would.

The aggregate limit (the bucket's link) is not here: scripts/io-limit puts a Linux traffic-control
qdisc on the upstream port. Requests are relayed unchanged (the Host header too, so S3 SigV4
signatures still verify upstream); bodies are read by Content-Length or chunked framing; one
upstream connection per client connection, kept alive like the client's.

    throttle_proxy.py --listen 127.0.0.1:PORT --upstream 127.0.0.1:PORT
                      [--conn-rate BYTES_PER_S] [--fail-every N --fail-status 429|503]
"""

import argparse
import asyncio
import itertools
import sys
import time

CHUNK = 16 * 1024


class TokenBucket:
    """Bytes per second, with a burst of a tenth of a second."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.burst = max(self.rate / 10.0, CHUNK)
        self.tokens = self.burst
        self.at = time.monotonic()

    async def take(self, n):
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens >= n:
                self.tokens -= n
                return
            await asyncio.sleep((n - self.tokens) / self.rate)


async def read_head(reader):
    """The request or status line and headers, or None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as e:
        if e.partial:
            raise
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return head, lines[0], headers


async def relay_body(reader, writer, headers, bucket, no_body=False):
    """Copies one message body (Content-Length or chunked), paced by `bucket`."""
    if no_body:
        return
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await reader.readuntil(b"\r\n")
            writer.write(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    writer.write(trailer)
                    if trailer == b"\r\n":
                        break
                await writer.drain()
                return
            await copy_exact(reader, writer, size + 2, bucket)
    else:
        await copy_exact(reader, writer, int(headers.get("content-length", "0")), bucket)


async def copy_exact(reader, writer, n, bucket):
    while n > 0:
        data = await reader.readexactly(min(CHUNK, n))
        if bucket is not None:
            await bucket.take(len(data))
        writer.write(data)
        await writer.drain()
        n -= len(data)


class Discard:
    def write(self, _):
        pass

    async def drain(self):
        pass


FAULTS = {
    429: (b"Too Many Requests", b"TooManyRequests", b"Please reduce your request rate."),
    503: (b"Slow Down", b"SlowDown", b"Please reduce your request rate."),
}


class Proxy:
    def __init__(self, args):
        self.upstream = args.upstream.rsplit(":", 1)
        self.conn_rate = args.conn_rate
        self.fail_every = args.fail_every
        self.fail_status = args.fail_status
        self.count = itertools.count(1)

    async def serve(self, creader, cwriter):
        bucket = TokenBucket(self.conn_rate) if self.conn_rate else None
        ureader = uwriter = None
        try:
            while True:
                req = await read_head(creader)
                if req is None:
                    return
                head, line, headers = req
                n = next(self.count)
                if self.fail_every and n % self.fail_every == 0:
                    await relay_body(creader, Discard(), headers, None)
                    reason, code, message = FAULTS[self.fail_status]
                    body = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code
                            + b"</Code><Message>" + message + b"</Message></Error>")
                    cwriter.write(b"HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\n"
                                  b"Content-Length: %d\r\n\r\n" % (self.fail_status, reason, len(body)) + body)
                    await cwriter.drain()
                    continue
                if uwriter is None:
                    ureader, uwriter = await asyncio.wait_for(
                        asyncio.open_connection(self.upstream[0], int(self.upstream[1])), 10)
                uwriter.write(head)
                await relay_body(creader, uwriter, headers, bucket)
                await uwriter.drain()
                resp = await read_head(ureader)
                if resp is None:
                    return
                rhead, status, rheaders = resp
                cwriter.write(rhead)
                code = int(status.split()[1])
                no_body = line.startswith("HEAD ") or code in (204, 304) or 100 <= code < 200
                await relay_body(ureader, cwriter, rheaders, bucket, no_body)
                await cwriter.drain()
                if rheaders.get("connection", "").lower() == "close":
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.TimeoutError, ValueError):
            return
        finally:
            for w in (cwriter, uwriter):
                if w is not None:
                    w.close()


async def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True)
    p.add_argument("--upstream", required=True)
    p.add_argument("--conn-rate", type=float, default=0, help="bytes per second per connection (0: no cap)")
    p.add_argument("--fail-every", type=int, default=0, help="answer every Nth request with --fail-status")
    p.add_argument("--fail-status", type=int, default=429, choices=sorted(FAULTS))
    args = p.parse_args()
    host, port = args.listen.rsplit(":", 1)
    if not host.startswith("127."):
        sys.exit("throttle_proxy: listens on loopback only")
    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.serve, host, int(port))
    print(f"throttle_proxy: listening on {args.listen}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
