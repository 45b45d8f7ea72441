"""Command line of the KFP REST API emulator."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import List, Optional

from .server import Config, Emulator, Server, parse_grant, parse_token
from .state import Outcome

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def default_swagger_dir() -> str:
    shared = os.environ.get("KFCHECK_SHARED_DIR") or os.path.join(REPO, "..", "shared")
    return os.path.join(os.path.abspath(shared), "kubeflow", "api")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kfp_emulator.py",
        description="Kubeflow Pipelines REST API emulator for tests (v2beta1; v1beta1 healthz).")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port, 0 = any free port (default 0)")
    p.add_argument("--ready-file", help="write the bound URL to this file once serving")
    p.add_argument("--multi-user", action="store_true", help="MULTIUSER=true behaviour")
    p.add_argument("--version", default="2.17.0",
                   help="KFP version to imitate (healthz tag_name; <2.14 drops Pipeline.name "
                        "and selects the old error shape unless --error-shape is given)")
    p.add_argument("--error-shape", choices=["new", "old"],
                   help="new: google.rpc.Status {code,message,details} (KFP >= 2.14); old: adds "
                        "'error' (grpc-gateway v1, KFP <= 2.5). Default follows --version")
    p.add_argument("--grant", action="append", default=[], metavar="USER=NS[,NS][:view]",
                   help="namespace access for a user (repeatable; NS '*' = all namespaces)")
    p.add_argument("--token", action="append", default=[], metavar="TOKEN=USER[@AUD[,AUD]]",
                   help="bearer token known to the fake TokenReview (repeatable). The audience "
                        "follows the last '@'; none given = pipelines.kubeflow.org")
    p.add_argument("--cookie", action="append", default=[], metavar="VALUE=USER",
                   help="session cookie value (oauth2_proxy_kubeflow / authservice_session) that "
                        "the emulated gateway maps to a user; needs --gateway-auth")
    p.add_argument("--gateway-auth", action="store_true",
                   help="under /pipeline act like Istio + oauth2-proxy (m2m overlay): cookie or "
                        "known bearer token required, identity injected as kubeflow-userid")
    p.add_argument("--userid-header", default="kubeflow-userid")
    p.add_argument("--userid-prefix", default="")
    p.add_argument("--audience", default="pipelines.kubeflow.org",
                   help="TOKEN_REVIEW_AUDIENCE the server requires")
    p.add_argument("--shared-read", action="store_true", help="MULTIUSER_SHARED_READ=true")
    p.add_argument("--token-review", metavar="KUBECONFIG",
                   help="authenticate unknown bearer tokens with a TokenReview against this "
                        "Kubernetes API server (audience --audience), as KFP does")
    p.add_argument("--require-namespace-for-pipelines", action="store_true")
    p.add_argument("--no-epoch-finished-at", action="store_true",
                   help="omit finished_at of unfinished runs instead of 1970-01-01T00:00:00Z")
    p.add_argument("--allow-http-package-url", action="store_true")
    p.add_argument("--pending-ms", type=float, default=100.0, help="PENDING phase of a run")
    p.add_argument("--task-ms", type=float, default=200.0, help="duration of each task")
    p.add_argument("--cancel-ms", type=float, default=200.0, help="CANCELING -> CANCELED delay")
    p.add_argument("--swagger-dir", help="directory holding kfp-v2beta1.swagger.json and "
                                         "kfp-v1beta1.swagger.json (default "
                                         "$KFCHECK_SHARED_DIR/kubeflow/api or "
                                         "<repo>/../shared/kubeflow/api)")
    p.add_argument("--no-response-validation", action="store_true",
                   help="skip validating responses against the swagger (faster for large "
                        "benchmarks; /_emulator/violations then stays empty)")
    p.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return p


def make_emulator(args: argparse.Namespace) -> Emulator:
    from .swagger import _version_tuple
    cfg = Config(multi_user=args.multi_user, version=args.version,
                 userid_header=args.userid_header, userid_prefix=args.userid_prefix,
                 audience=args.audience, gateway_auth=args.gateway_auth,
                 shared_read=args.shared_read,
                 require_namespace_for_pipelines=args.require_namespace_for_pipelines,
                 epoch_unfinished=not args.no_epoch_finished_at,
                 allow_http_package_url=args.allow_http_package_url, verbose=args.verbose,
                 validate_responses=not args.no_response_validation)
    cfg.error_shape = args.error_shape or (
        "new" if _version_tuple(args.version) >= (2, 14, 0) else "old")
    for g in args.grant:
        user, nss, mode = parse_grant(g)
        for ns in nss:
            cfg.grants.setdefault(user, {})[ns] = mode
    for t in args.token:
        tok, user, auds = parse_token(t)
        cfg.tokens[tok] = (user, auds)
    if args.token_review:
        from .tokenreview import TokenReviewer
        cfg.token_reviewer = TokenReviewer(args.token_review)
    for c in args.cookie:
        if "=" not in c:
            raise ValueError(f"cookie '{c}': expected VALUE=USER")
        value, user = c.split("=", 1)
        cfg.cookies[value] = user
    swagger_dir = args.swagger_dir or default_swagger_dir()
    for name in ("kfp-v2beta1.swagger.json", "kfp-v1beta1.swagger.json"):
        if not os.path.isfile(os.path.join(swagger_dir, name)):
            raise FileNotFoundError(
                f"{name} not found in {swagger_dir} (set KFCHECK_SHARED_DIR or --swagger-dir)")
    timing = Outcome(pending_s=args.pending_ms / 1000, task_s=args.task_ms / 1000,
                     cancel_s=args.cancel_ms / 1000)
    return Emulator(cfg, swagger_dir, timing)


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        emu = make_emulator(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"kfp-emulator: {e}", file=sys.stderr)
        return 2
    server = Server((args.host, args.port), emu)
    host, port = server.server_address[:2]
    url = f"http://{host}:{port}"
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(url + "\n")
        os.replace(tmp, args.ready_file)
    print(f"kfp-emulator listening on {url}", flush=True)

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0
