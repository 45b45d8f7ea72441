"""A stand-in for the Kubeflow gateway's login path (Istio + oauth2-proxy + Dex), for tests only.

No Dex or oauth2-proxy can run here; this follows the flow the Kubeflow manifests' own login test
walks (manifests tests/dex_login_test.py, described in ../shared/docs/kubeflow-apis.md §1.12):

  GET /                         no session -> 302 /oauth2/start?rd=/
  GET /pipeline/apis/...        no session -> 401 (oauth2-proxy api_routes), else proxied to KFP
  GET /oauth2/start             sets the CSRF cookie -> 302 /dex/auth?...
  GET /dex/auth                 connector chooser (200)
  GET /dex/auth/local           -> 302 /dex/auth/local/login?...
  POST /dex/auth/local/login    right password -> 303 /dex/approval?req=..; wrong -> 200 form
  POST /dex/approval            approval=approve -> 303 /oauth2/callback?code=..&state=..
  GET /oauth2/callback          needs the CSRF cookie; sets the session in two split cookies
                                (oauth2_proxy_kubeflow_0/_1) -> 302 /

Requests under /pipeline with the session cookies are forwarded to the KFP emulator with the
cookie joined back into one (what oauth2-proxy does before setting kubeflow-userid).

Usage: python dex_gateway.py --upstream URL --user U --password P --session S --ready-file F
"""

import argparse
import os
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

A = None


def cookies(h):
    out = {}
    for part in (h.headers.get("Cookie") or "").split(";"):
        if "=" in part:
            k, v = part.strip().split("=", 1)
            out[k] = v
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def session(self):
        c = cookies(self)
        return c.get("oauth2_proxy_kubeflow_0", "") + c.get("oauth2_proxy_kubeflow_1", "")

    def form(self):
        n = int(self.headers.get("Content-Length") or 0)
        return dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))

    def proxy(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "authorization")}
        headers["Cookie"] = f"oauth2_proxy_kubeflow={self.session()}"
        req = urllib.request.Request(A.upstream + self.path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                status, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "application/json")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "application/json")
        self.reply(status, data, [("Content-Type", ctype)])

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/pipeline/"):
            if self.session() != A.session:
                return self.reply(401, b"Unauthorized")
            return self.proxy()
        if path == "/":
            if self.session() == A.session:
                return self.reply(200, b"<html>dashboard</html>")
            return self.reply(302, headers=[("Location", "/oauth2/start?rd=%2F")])
        if path == "/oauth2/start":
            return self.reply(302, headers=[("Set-Cookie", "_oauth2_proxy_csrf=csrf1; Path=/; HttpOnly"),
                                            ("Location", "/dex/auth?client_id=kubeflow-oidc-authservice&state=st1")])
        if path == "/dex/auth":
            return self.reply(200, b"<html>choose: local, ldap</html>")
        if path == "/dex/auth/local":
            return self.reply(302, headers=[("Location", "/dex/auth/local/login?back=&state=st1")])
        if path == "/dex/auth/local/login":
            return self.reply(200, b"<form method=post>login password</form>")
        if path == "/dex/approval":
            return self.reply(200, b"<form method=post>approve</form>")
        if path == "/oauth2/callback":
            if cookies(self).get("_oauth2_proxy_csrf") != "csrf1":
                return self.reply(403, b"CSRF cookie missing")
            half = len(A.session) // 2
            return self.reply(302, headers=[
                ("Set-Cookie", f"oauth2_proxy_kubeflow_0={A.session[:half]}; Path=/; HttpOnly"),
                ("Set-Cookie", f"oauth2_proxy_kubeflow_1={A.session[half:]}; Path=/; HttpOnly"),
                ("Set-Cookie", "_oauth2_proxy_csrf=; Path=/; Max-Age=0"),
                ("Location", "/")])
        self.reply(404, b"not found")

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/pipeline/"):
            if self.session() != A.session:
                return self.reply(401, b"Unauthorized")
            return self.proxy()
        if path == "/dex/auth/local/login":
            f = self.form()
            if f.get("login") == A.user and f.get("password") == A.password:
                return self.reply(303, headers=[("Location", "/dex/approval?req=r1")])
            return self.reply(200, b"<form>Invalid Email Address and password</form>")
        if path == "/dex/approval":
            if self.form().get("approval") != "approve":
                return self.reply(400, b"not approved")
            return self.reply(303, headers=[("Location", "/oauth2/callback?code=c1&state=st1")])
        self.reply(404, b"not found")

    do_DELETE = do_POST


def main():
    global A
    p = argparse.ArgumentParser()
    for f in ("--upstream", "--user", "--password", "--session", "--ready-file"):
        p.add_argument(f, required=True)
    A = p.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    tmp = A.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"http://127.0.0.1:{srv.server_address[1]}")
    os.replace(tmp, A.ready_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
