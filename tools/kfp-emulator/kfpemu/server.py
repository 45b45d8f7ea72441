"""HTTP front of the emulator: routing, identity/authorization, error shapes, validation."""

from __future__ import annotations

import base64
import collections
import email.parser
import email.policy
import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import pipelinefile
from .state import (Delay, Experiment, Fault, Outcome, Pipeline, PipelineVersion, Run, RunRule,
                    Store, new_id, parse_rfc3339, plan_run, rfc3339)
from .swagger import Swagger, _version_tuple

TOKEN_REVIEW_AUDIENCE = "pipelines.kubeflow.org"
RBAC_GROUP = "pipelines.kubeflow.org"
READ_VERBS = {"get", "list"}

GRPC_TO_HTTP = {0: 200, 1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400,
                10: 409, 11: 400, 12: 501, 13: 500, 14: 503, 15: 500, 16: 401}
HTTP_TO_GRPC = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 429: 8, 499: 1, 500: 13, 501: 12,
                502: 14, 503: 14, 504: 4}


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------

class ApiError(Exception):
    """A gRPC status rendered by grpc-gateway."""

    def __init__(self, code: int, message: str, short: Optional[str] = None, details: bool = True):
        super().__init__(message)
        self.code = code
        self.message = message
        self.short = short if short is not None else message
        self.details = details


class UploadError(Exception):
    """Errors of the multipart upload handlers: {"error_message","error_details"} (brief §1.4)."""

    def __init__(self, status: int, message: str, json_content_type: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        # The real handler sets Content-Type: application/json only after its input checks, so
        # earlier errors go out as Go's sniffed text/plain.
        self.json_content_type = json_content_type


class RawResponse(Exception):
    def __init__(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"):
        super().__init__(status)
        self.status = status
        self.body = body
        self.content_type = content_type


class DropConnection(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Configuration
# ------------------------------------------------------------------------------------------------

@dataclass
class Config:
    multi_user: bool = False
    version: str = "2.17.0"
    commit_sha: str = "6b6670656d750000000000000000000000000000"
    error_shape: str = "new"  # new: google.rpc.Status (>=2.14); old: +error key (<=2.5)
    userid_header: str = "kubeflow-userid"
    userid_prefix: str = ""
    audience: str = TOKEN_REVIEW_AUDIENCE
    grants: Dict[str, Dict[str, str]] = field(default_factory=dict)  # user -> ns -> edit|view
    tokens: Dict[str, Tuple[str, List[str]]] = field(default_factory=dict)
    cookies: Dict[str, str] = field(default_factory=dict)  # session cookie value -> user
    gateway_auth: bool = False
    api_server_down: bool = False
    shared_read: bool = False
    require_namespace_for_pipelines: bool = False
    kfp_namespace: str = "kubeflow"
    epoch_unfinished: bool = True
    allow_http_package_url: bool = False
    verbose: bool = False
    validate_responses: bool = True
    # --token-review: unknown bearer tokens go to a real API server's TokenReview.
    token_reviewer: Optional[object] = None

    def copy(self) -> "Config":
        c = Config(**self.__dict__)
        c.grants = {u: dict(ns) for u, ns in self.grants.items()}
        c.tokens = {t: (u, list(a)) for t, (u, a) in self.tokens.items()}
        c.cookies = dict(self.cookies)
        return c

    def public(self) -> dict:
        return {
            "multi_user": self.multi_user, "version": self.version,
            "error_shape": self.error_shape, "userid_header": self.userid_header,
            "userid_prefix": self.userid_prefix, "audience": self.audience,
            "grants": self.grants,
            "tokens": {t: {"user": u, "audiences": a} for t, (u, a) in self.tokens.items()},
            "cookies": self.cookies, "gateway_auth": self.gateway_auth,
            "api_server_down": self.api_server_down, "shared_read": self.shared_read,
            "require_namespace_for_pipelines": self.require_namespace_for_pipelines,
            "epoch_unfinished": self.epoch_unfinished,
        }


def parse_grant(text: str) -> Tuple[str, List[str], str]:
    """USER=NS[,NS...][:view|:edit]  (NS may be '*')."""
    if "=" not in text:
        raise ValueError(f"grant '{text}': expected USER=NAMESPACE[,NAMESPACE][:view|:edit]")
    user, rest = text.rsplit("=", 1)
    mode = "edit"
    if rest.endswith(":view") or rest.endswith(":edit"):
        rest, mode = rest.rsplit(":", 1)
    nss = [n for n in rest.split(",") if n]
    if not user or not nss:
        raise ValueError(f"grant '{text}': empty user or namespace")
    return user, nss, mode


def parse_token(text: str) -> Tuple[str, str, List[str]]:
    """TOKEN=USER[@AUD[,AUD...]]; the audience follows the LAST '@' (use
    tok=user@example.com@pipelines.kubeflow.org for e-mail users). No '@': pipelines.kubeflow.org."""
    if "=" not in text:
        raise ValueError(f"token '{text}': expected TOKEN=USER[@AUDIENCE]")
    token, rest = text.split("=", 1)
    if "@" in rest:
        user, aud = rest.rsplit("@", 1)
        auds = [a for a in aud.split(",") if a]
    else:
        user, auds = rest, [TOKEN_REVIEW_AUDIENCE]
    if not token or not user:
        raise ValueError(f"token '{text}': empty token or user")
    return token, user, auds


# ------------------------------------------------------------------------------------------------
# Request context and routing
# ------------------------------------------------------------------------------------------------

@dataclass
class Ctx:
    method: str
    raw_path: str
    path: str
    query: Dict[str, List[str]]
    headers: Any
    body: bytes
    via_ui: bool
    template: str = ""
    identity: Optional[str] = None
    injected_user: Optional[str] = None
    # A fault with drop "after": the request is processed, then the connection closed unanswered.
    drop_after: bool = False

    def q(self, name: str) -> str:
        v = self.query.get(name)
        return v[0] if v else ""


@dataclass
class Reply:
    status: int
    body: Any
    schema: str
    spec: str = "v2"  # which swagger validates it
    prune: bool = True
    content_type: str = "application/json"


ID = r"(?P<{0}>[^/:]+)"


def _route(method: str, template: str, handler: str) -> Tuple[str, "re.Pattern[str]", str, str]:
    rx = re.escape(template)
    rx = re.sub(r"\\\{([a-z_]+)\\\}", lambda m: ID.format(m.group(1)), rx)
    return method, re.compile("^" + rx + "$"), template, handler


V2 = "/apis/v2beta1"
V1 = "/apis/v1beta1"
ROUTES = [
    _route("GET", V2 + "/healthz", "healthz_v2"),
    _route("GET", V1 + "/healthz", "healthz_v1"),
    _route("GET", V2 + "/experiments", "list_experiments"),
    _route("POST", V2 + "/experiments", "create_experiment"),
    _route("GET", V2 + "/experiments/{experiment_id}", "get_experiment"),
    _route("DELETE", V2 + "/experiments/{experiment_id}", "delete_experiment"),
    _route("POST", V2 + "/experiments/{experiment_id}:archive", "archive_experiment"),
    _route("POST", V2 + "/experiments/{experiment_id}:unarchive", "unarchive_experiment"),
    _route("POST", V2 + "/pipelines/upload", "upload_pipeline"),
    _route("POST", V2 + "/pipelines/upload_version", "upload_pipeline_version"),
    _route("POST", V2 + "/pipelines/create", "create_pipeline_and_version"),
    _route("GET", V2 + "/pipelines/names/{name}", "get_pipeline_by_name"),
    _route("GET", V2 + "/pipelines", "list_pipelines"),
    _route("POST", V2 + "/pipelines", "create_pipeline"),
    _route("GET", V2 + "/pipelines/{pipeline_id}", "get_pipeline"),
    _route("DELETE", V2 + "/pipelines/{pipeline_id}", "delete_pipeline"),
    _route("PATCH", V2 + "/pipelines/{pipeline_id}", "unimplemented"),
    _route("GET", V2 + "/pipelines/{pipeline_id}/versions", "list_pipeline_versions"),
    _route("POST", V2 + "/pipelines/{pipeline_id}/versions", "create_pipeline_version"),
    _route("GET", V2 + "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
           "get_pipeline_version"),
    _route("DELETE", V2 + "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
           "delete_pipeline_version"),
    _route("PATCH", V2 + "/pipelines/{pipeline_id}/versions/{pipeline_version_id}",
           "unimplemented"),
    _route("GET", V2 + "/runs", "list_runs"),
    _route("POST", V2 + "/runs", "create_run"),
    _route("GET", V2 + "/runs/{run_id}", "get_run"),
    _route("DELETE", V2 + "/runs/{run_id}", "delete_run"),
    _route("POST", V2 + "/runs/{run_id}:terminate", "terminate_run"),
    _route("POST", V2 + "/runs/{run_id}:archive", "archive_run"),
    _route("POST", V2 + "/runs/{run_id}:unarchive", "unarchive_run"),
    _route("POST", V2 + "/runs/{run_id}:retry", "retry_run"),
]

# Paths of the swagger files that the emulator does not model: answered 501 (Unimplemented).
_UNMODELLED = re.compile(
    r"^/apis/(v2beta1/(recurringruns|auth|filters|visualizations|workflows|scheduledworkflows)"
    r"|v1beta1/(experiments|runs|jobs|pipelines|pipeline_versions|namespaces))(/.*)?$")

SORTABLE = {
    "experiments": {"created_at", "display_name", "description", "namespace", "experiment_id",
                    "storage_state", "last_run_created_at"},
    "pipelines": {"created_at", "display_name", "name", "description", "namespace", "pipeline_id"},
    "versions": {"created_at", "display_name", "name", "description", "pipeline_version_id"},
    "runs": {"created_at", "display_name", "description", "state", "finished_at", "scheduled_at",
             "storage_state", "run_id", "experiment_id"},
}
TIME_KEYS = {"created_at", "finished_at", "scheduled_at", "last_run_created_at"}


# ------------------------------------------------------------------------------------------------
# The emulator
# ------------------------------------------------------------------------------------------------

class Emulator:
    def __init__(self, config: Config, swagger_dir: str, timing: Outcome):
        self.base_config = config.copy()
        self.config = config
        self.base_timing = Outcome(**timing.__dict__)
        self.swagger_dir = swagger_dir
        self.store = Store()
        self.store.default_outcome = Outcome(**timing.__dict__)
        self.meta_lock = threading.Lock()
        self.violations: List[dict] = []
        self.counts: collections.Counter = collections.Counter()
        self.log: collections.deque = collections.deque(maxlen=2000)
        self.total = 0
        self._load_swagger()

    def _load_swagger(self) -> None:
        self.swagger = {
            "v2": Swagger(os.path.join(self.swagger_dir, "kfp-v2beta1.swagger.json"),
                          self.config.version),
            "v1": Swagger(os.path.join(self.swagger_dir, "kfp-v1beta1.swagger.json"),
                          self.config.version),
        }

    @property
    def has_names(self) -> bool:
        return _version_tuple(self.config.version) >= (2, 14, 0)

    # ---- bookkeeping ---------------------------------------------------------------------------
    def record_violation(self, ctx: Ctx, status: int, schema: str, errors: List[str], body: Any,
                         direction: str = "response") -> None:
        text = json.dumps(body)[:2000] if not isinstance(body, (bytes, str)) else str(body)[:2000]
        entry = {"method": ctx.method, "path": ctx.raw_path, "status": status, "schema": schema,
                 "direction": direction, "errors": errors[:20], "body": text}
        with self.meta_lock:
            self.violations.append(entry)
        print(f"kfp-emulator: SCHEMA VIOLATION {ctx.method} {ctx.raw_path} -> {status} "
              f"({schema}): {errors[:5]}", file=sys.stderr, flush=True)

    def count(self, ctx: Ctx, key: str) -> None:
        with self.meta_lock:
            self.counts[key] += 1
            self.total += 1

    def log_request(self, ctx: Ctx, status: int, started: float) -> None:
        h = ctx.headers
        body: Any = None
        if ctx.body:
            ctype = h.get("Content-Type", "") or ""
            if ctype.startswith("application/json") or ctx.body[:1] in (b"{", b"["):
                try:
                    body = json.loads(ctx.body)
                except ValueError:
                    body = ctx.body[:500].decode("utf-8", "replace")
            elif ctype.lower().startswith("multipart/form-data"):
                body = {"multipart": _multipart_summary(ctype, ctx.body)}
            else:
                body = f"<{len(ctx.body)} bytes {ctype.split(';')[0]}>"
        entry = {
            "time": rfc3339(started), "method": ctx.method, "path": ctx.raw_path,
            "route": ctx.template, "query": {k: v if len(v) > 1 else v[0]
                                             for k, v in ctx.query.items()},
            "status": status, "ms": round((time.time() - started) * 1000, 1),
            "headers": {
                "authorization": _redact(h.get("Authorization")),
                self.config.userid_header: h.get_all(self.config.userid_header),
                "cookie_names": _cookie_names(h.get("Cookie")),
                "content_type": h.get("Content-Type"),
                "user_agent": h.get("User-Agent"),
            },
            "identity": ctx.identity,
            "body": body,
        }
        with self.meta_lock:
            self.log.append(entry)

    # ---- identity and authorization -------------------------------------------------------------
    def authenticate(self, ctx: Ctx) -> str:
        if ctx.identity:
            return ctx.identity
        cfg = self.config
        if ctx.injected_user is not None:
            ctx.identity = ctx.injected_user
            return ctx.identity
        values = ctx.headers.get_all(cfg.userid_header) or []
        reasons = []
        if len(values) == 1 and values[0].startswith(cfg.userid_prefix) and \
                values[0][len(cfg.userid_prefix):]:
            ctx.identity = values[0][len(cfg.userid_prefix):]
            return ctx.identity
        if len(values) > 1:
            reasons.append(f"expected exactly one {cfg.userid_header} header, got {len(values)}")
        elif len(values) == 1:
            reasons.append(f"{cfg.userid_header} header does not start with prefix "
                           f"'{cfg.userid_prefix}'")
        auth = ctx.headers.get("Authorization") or ""
        if auth:
            m = re.match(r"^Bearer\s+(.+)$", auth.strip(), re.I)
            if not m:
                reasons.append("Authorization header is not a Bearer token")
            else:
                entry = cfg.tokens.get(m.group(1).strip())
                if entry is None and cfg.token_reviewer is not None:
                    # What KFP's API server does: TokenReview with the KFP audience.
                    user, auds, err = cfg.token_reviewer.review(m.group(1).strip(), cfg.audience)
                    entry = (user, auds) if user else None
                    if err:
                        reasons.append(f"TokenReview: {err}")
                if entry is None:
                    reasons.append("TokenReview: token is not authenticated")
                else:
                    user, auds = entry
                    if cfg.audience in auds:
                        ctx.identity = user
                        return user
                    reasons.append(f"TokenReview: token audiences {auds} do not include "
                                   f"'{cfg.audience}'")
        msg = "Request header error: there is no user identity header."
        if reasons:
            msg = f"Failed to authenticate the request: {'; '.join(reasons)}. " + msg
        raise ApiError(16, msg, "Request header error: there is no user identity header.")

    def authorize(self, ctx: Ctx, namespace: str, verb: str, resource: str, name: str = "") -> None:
        cfg = self.config
        if not cfg.multi_user:
            return
        user = self.authenticate(ctx)
        if cfg.shared_read and verb in READ_VERBS:
            return
        grants = cfg.grants.get(user, {})
        mode = grants.get(namespace) or grants.get("*")
        if mode == "edit" or (mode == "view" and verb in READ_VERBS):
            return
        attrs = (f"&ResourceAttributes{{Namespace:{namespace},Verb:{verb},Group:{RBAC_GROUP},"
                 f"Version:v1beta1,Resource:{resource},Subresource:,Name:{name},}}")
        short = f"User '{user}' is not authorized with reason:  (request: {attrs})"
        raise ApiError(7, "Failed to authorize with API: PermissionDenied: " + short, short)

    # ---- helpers -------------------------------------------------------------------------------
    def json_body(self, ctx: Ctx, definition: str) -> dict:
        raw = ctx.body or b"{}"
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise ApiError(3, f"proto: syntax error (line 1:1): {e}")
        if not isinstance(data, dict):
            raise ApiError(3, "proto: syntax error (line 1:1): unexpected token, want object")
        sw = self.swagger["v2"]
        data, errs = sw.normalize(definition, data)
        if errs:
            raise ApiError(3, f"proto: (line 1:1): {errs[0]}")
        errs = sw.errors(definition, data, response=False)
        if errs:
            raise ApiError(3, f"proto: invalid value: {errs[0]}")
        return data

    def page_params(self, ctx: Ctx) -> Tuple[int, str, str, str]:
        size_text = ctx.q("page_size") or "0"
        try:
            size = int(size_text)
        except ValueError:
            raise ApiError(3, f'type mismatch, parameter: page_size, error: strconv.ParseInt: '
                              f'parsing "{size_text}": invalid syntax')
        if size < 0:
            raise ApiError(3, "Invalid input error: The page size should be greater than 0. Got "
                              f"{size}")
        if size == 0:
            size = 20
        size = min(size, 200)
        return size, ctx.q("page_token"), ctx.q("sort_by"), ctx.q("filter")

    def paginate(self, ctx: Ctx, kind: str, items: List[Tuple[Any, dict]]) -> Tuple[List[Any], int, str]:
        """items: (object, api dict). KFP semantics: when a page_token is given, sort and filter
        come from the token (list.go)."""
        size, token, sort_by, filt = self.page_params(ctx)
        after = None
        if token:
            try:
                tok = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
                sort_by, filt, after = tok["sort"], tok["filter"], tok["after"]
                if tok.get("kind") != kind:
                    raise ValueError("token of another list")
            except Exception:  # noqa: BLE001
                raise ApiError(3, "Invalid input error: Invalid page token: failed to decode "
                                  f"'{token}'")
        field_name, desc = self.parse_sort(kind, sort_by)
        preds = self.parse_filter(kind, filt) if filt else []
        rows = [(o, d) for o, d in items if all(self.pred_ok(d, p) for p in preds)]

        def key(row: Tuple[Any, dict]) -> Tuple[Any, int]:
            v = row[1].get(field_name)
            if field_name in TIME_KEYS:
                v = parse_rfc3339(v) if v else 0.0
            elif v is None:
                v = ""
            return (v, row[0].seq)

        rows.sort(key=key, reverse=desc)
        total = len(rows)
        if after is not None:
            a = (after[0], after[1])
            rows = [r for r in rows if (key(r) < a if desc else key(r) > a)]
        page = rows[:size]
        next_token = ""
        if len(rows) > size:
            k = key(page[-1])
            next_token = base64.urlsafe_b64encode(json.dumps(
                {"kind": kind, "sort": sort_by, "filter": filt, "after": [k[0], k[1]]}
            ).encode()).decode().rstrip("=")
        return [r[1] for r in page], total, next_token

    def parse_sort(self, kind: str, sort_by: str) -> Tuple[str, bool]:
        if not sort_by:
            return "created_at", False
        parts = sort_by.split()
        if len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
            raise ApiError(3, f"Invalid input error: Received invalid sort by format '{sort_by}'. "
                              "Supported format: \"field_name\", \"field_name desc\", or "
                              "\"field_name asc\"")
        if parts[0] not in SORTABLE[kind]:
            raise ApiError(3, f"Invalid input error: Invalid sorting field: '{parts[0]}'")
        return parts[0], len(parts) == 2 and parts[1].lower() == "desc"

    def parse_filter(self, kind: str, text: str) -> List[dict]:
        try:
            data = json.loads(text)
        except ValueError as e:
            raise ApiError(3, f"Invalid input error: failed to parse filter '{text}': {e}")
        sw = self.swagger["v2"]
        data, errs = sw.normalize("v2beta1Filter", data)
        if errs:
            raise ApiError(3, f"Invalid input error: failed to parse filter: {errs[0]}")
        errs = sw.errors("v2beta1Filter", data, response=False)
        if errs:
            raise ApiError(3, f"Invalid input error: failed to parse filter: {errs[0]}")
        preds = data.get("predicates") or []
        for p in preds:
            if p.get("key") not in SORTABLE[kind] | {"name", "pipeline_id", "namespace"}:
                raise ApiError(3, f"Invalid input error: filter key '{p.get('key')}' is not "
                                  f"supported for {kind}")
            if p.get("operation") in (None, "OPERATION_UNSPECIFIED"):
                raise ApiError(3, "Invalid input error: invalid filter operation")
        return preds

    @staticmethod
    def pred_ok(obj: dict, p: dict) -> bool:
        key, op = p["key"], p["operation"]
        actual = obj.get(key)
        is_time = key in TIME_KEYS

        def conv(v: Any) -> Any:
            if is_time:
                if isinstance(v, str):
                    try:
                        return parse_rfc3339(v)
                    except ValueError:
                        return float(v) if re.match(r"^-?\d+(\.\d+)?$", v) else 0.0
                return float(v or 0)
            return v

        if "string_value" in p:
            want: Any = p["string_value"]
        elif "int_value" in p:
            want = p["int_value"]
        elif "long_value" in p:
            want = int(p["long_value"])
        elif "timestamp_value" in p:
            want = p["timestamp_value"]
        else:
            want = None
        wants = None
        for k in ("string_values", "int_values", "long_values"):
            if k in p:
                wants = [int(x) if k == "long_values" else x for x in (p[k].get("values") or [])]
        a = conv(actual if actual is not None else ("" if not is_time else 0))
        if op == "IN":
            return a in [conv(w) for w in (wants or [])]
        w = conv(want if want is not None else ("" if not is_time else 0))
        try:
            if op == "EQUALS":
                return a == w
            if op == "NOT_EQUALS":
                return a != w
            if op == "GREATER_THAN":
                return a > w
            if op == "GREATER_THAN_EQUALS":
                return a >= w
            if op == "LESS_THAN":
                return a < w
            if op == "LESS_THAN_EQUALS":
                return a <= w
            if op == "IS_SUBSTRING":
                return str(w) in str(a)
        except TypeError:
            return False
        return False

    def list_reply(self, key: str, page: List[dict], total: int, token: str, schema: str) -> Reply:
        return Reply(200, {key: page, "total_size": total, "next_page_token": token}, schema)

    # ---- healthz -------------------------------------------------------------------------------
    def healthz_v2(self, ctx: Ctx) -> Reply:
        body = {"commit_sha": self.config.commit_sha, "tag_name": self.config.version,
                "multi_user": self.config.multi_user}
        if self.has_names:
            body["pipeline_store"] = "database"
        return Reply(200, body, "emuApiHealthz", prune=False)

    def healthz_v1(self, ctx: Ctx) -> Reply:
        body = {"commit_sha": self.config.commit_sha, "tag_name": self.config.version,
                "multi_user": self.config.multi_user}
        return Reply(200, body, "emuApiHealthz", spec="v1", prune=False)

    def ui_healthz(self) -> Reply:
        cfg = self.config
        body: Dict[str, Any] = {
            "buildDate": "Thu Jan 01 1970", "frontendCommitHash": cfg.commit_sha,
            "frontendTagName": cfg.version, "multi_user": cfg.multi_user,
            "apiServerReady": not cfg.api_server_down,
        }
        if not cfg.api_server_down:
            body.update({"apiServerCommitHash": cfg.commit_sha, "apiServerTagName": cfg.version,
                         "apiServerMultiUser": cfg.multi_user})
            if self.has_names:
                body["pipelineStore"] = "database"
        return Reply(200, body, "emuUiHealthz", prune=False)

    # ---- experiments ---------------------------------------------------------------------------
    def _experiment(self, experiment_id: str) -> Experiment:
        e = self.store.experiments.get(experiment_id)
        if e is None:
            raise ApiError(5, f"Failed to get experiment: ResourceNotFoundError: Experiment "
                              f"{experiment_id} not found",
                           f"Experiment {experiment_id} not found")
        return e

    def _ns_input(self, ns: str) -> str:
        return ns if self.config.multi_user else ""

    def create_experiment(self, ctx: Ctx) -> Reply:
        body = self.json_body(ctx, "v2beta1Experiment")
        name = body.get("display_name") or ""
        if not name:
            raise ApiError(3, "Invalid input error: Experiment name is empty. Please specify a "
                              "valid experiment name")
        ns = self._ns_input(body.get("namespace") or "")
        if self.config.multi_user and not ns:
            raise ApiError(3, "Failed to authorize the request: Invalid input error: An "
                              "experiment cannot have an empty namespace in multi-user mode")
        self.authorize(ctx, ns, "create", "experiments", name)
        with self.store.lock:
            for e in self.store.experiments.values():
                if e.display_name == name and e.namespace == ns:
                    raise ApiError(6, f"Failed to create a experiment: Already exist error: "
                                      f"Experiment with name '{name}' already exists in "
                                      f"namespace '{ns}'")
            e = Experiment(new_id(), name, body.get("description") or "", ns, time.time())
            self.store.experiments[e.experiment_id] = e
        return Reply(200, e.to_api(), "v2beta1Experiment")

    def get_experiment(self, ctx: Ctx, experiment_id: str) -> Reply:
        e = self._experiment(experiment_id)
        self._require_ns(e.namespace, "experiments")
        self.authorize(ctx, e.namespace, "get", "experiments", e.display_name)
        return Reply(200, e.to_api(), "v2beta1Experiment")

    def _require_ns(self, ns: str, what: str) -> None:
        if self.config.multi_user and not ns and what == "experiments":
            raise ApiError(3, "Invalid input error: An experiment cannot have an empty namespace "
                              "in multi-user mode")

    def list_experiments(self, ctx: Ctx) -> Reply:
        ns = self._ns_input(ctx.q("namespace"))
        if self.config.multi_user:
            if not ns:
                raise ApiError(3, "Failed to authorize with API: Invalid input error: An "
                                  "experiment cannot have an empty namespace in multi-user mode")
            self.authorize(ctx, ns, "list", "experiments")
        with self.store.lock:
            items = [(e, e.to_api()) for e in self.store.experiments.values()
                     if not self.config.multi_user or e.namespace == ns]
        page, total, tok = self.paginate(ctx, "experiments", items)
        return self.list_reply("experiments", page, total, tok, "v2beta1ListExperimentsResponse")

    def delete_experiment(self, ctx: Ctx, experiment_id: str) -> Reply:
        e = self._experiment(experiment_id)
        self.authorize(ctx, e.namespace, "delete", "experiments", e.display_name)
        with self.store.lock:
            self.store.experiments.pop(experiment_id, None)
        return Reply(200, {}, "emuEmpty")

    def archive_experiment(self, ctx: Ctx, experiment_id: str) -> Reply:
        e = self._experiment(experiment_id)
        self.authorize(ctx, e.namespace, "archive", "experiments", e.display_name)
        with self.store.lock:
            e.storage_state = "ARCHIVED"
            for r in self.store.runs.values():
                if r.experiment_id == experiment_id:
                    r.storage_state = "ARCHIVED"
        return Reply(200, {}, "emuEmpty")

    def unarchive_experiment(self, ctx: Ctx, experiment_id: str) -> Reply:
        e = self._experiment(experiment_id)
        self.authorize(ctx, e.namespace, "unarchive", "experiments", e.display_name)
        e.storage_state = "AVAILABLE"
        return Reply(200, {}, "emuEmpty")

    # ---- pipelines -----------------------------------------------------------------------------
    def _pipeline(self, pipeline_id: str) -> Pipeline:
        p = self.store.pipelines.get(pipeline_id)
        if p is None:
            raise ApiError(5, f"Failed to get pipeline: ResourceNotFoundError: Pipeline "
                              f"{pipeline_id} not found", f"Pipeline {pipeline_id} not found")
        return p

    def _authorize_pipeline(self, ctx: Ctx, p_ns: str, verb: str, name: str = "") -> None:
        """canAccessPipeline: shared pipelines skip get/list; writes go to the KFP namespace."""
        if not self.config.multi_user:
            return
        if not p_ns:
            if verb in READ_VERBS:
                return
            p_ns = self.config.kfp_namespace
        self.authorize(ctx, p_ns, verb, "pipelines", name)

    def _pipeline_api(self, p: Pipeline) -> dict:
        return p.to_api(with_name=self.has_names)

    def _version_api(self, v: PipelineVersion) -> dict:
        return v.to_api(with_name=self.has_names)

    def _latest_version(self, pipeline_id: str) -> Optional[PipelineVersion]:
        vs = [v for v in self.store.versions.values() if v.pipeline_id == pipeline_id]
        return max(vs, key=lambda v: (v.created, v.seq)) if vs else None

    def _multipart_file(self, ctx: Ctx, what: str) -> Tuple[str, bytes]:
        ctype = ctx.headers.get("Content-Type") or ""
        if not ctype.lower().startswith("multipart/form-data"):
            raise UploadError(400, f"{what}: request Content-Type isn't multipart/form-data")
        msg = _parse_multipart(ctype, ctx.body)
        if not msg.is_multipart():
            raise UploadError(400, f"{what}: multipart: NextPart: EOF")
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            if name == "uploadfile" and filename is not None:
                data = part.get_payload(decode=True) or b""
                return filename, data
        raise UploadError(400, f"{what}: http: no such file")

    def _parse_tags(self, text: str) -> Dict[str, str]:
        if not text:
            return {}
        try:
            tags = json.loads(text)
        except ValueError as e:
            raise UploadError(400, f"Failed to parse tags: {e}")
        if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
            raise UploadError(400, "Failed to parse tags: expected a JSON object of strings")
        for k, v in tags.items():
            if len(k) > 63 or len(v) > 63:
                raise UploadError(400, "Invalid input error: tag keys and values are limited to "
                                       "63 characters")
        return tags

    def upload_pipeline(self, ctx: Ctx) -> Reply:
        filename, data = self._multipart_file(ctx, "Failed to read pipeline from file")
        try:
            content = pipelinefile.read_pipeline_file(filename, data)
        except pipelinefile.PipelineFileError as e:
            raise UploadError(400, f"Failed to read a pipeline spec file: {e}")
        ns = self._ns_input(ctx.q("namespace"))
        if self.config.multi_user and self.config.require_namespace_for_pipelines and not ns:
            raise UploadError(400, "Namespace is required for pipeline operations")
        if self.config.multi_user and ns:
            try:
                self.authorize(ctx, ns, "create", "pipelines")
            except ApiError as e:
                raise UploadError(400, "Failed to create a pipeline due to authorization error: "
                                       f"Authorization Failure: {e.message}")
        name = ctx.q("name") or ctx.q("display_name") or filename
        display = ctx.q("display_name") or name
        tags = self._parse_tags(ctx.q("tags")) if self.has_names else {}
        try:
            spec, platform = pipelinefile.parse_documents(content)
        except pipelinefile.PipelineFileError as e:
            raise UploadError(500, "Failed to create a pipeline and a pipeline version: "
                                   f"Invalid input error: {e}", json_content_type=True)
        with self.store.lock:
            for p in self.store.pipelines.values():
                if p.name == name and p.namespace == ns:
                    raise UploadError(409, "Failed to create a pipeline and a pipeline version. "
                                           f"The pipeline already exists.: Already exist error: "
                                           f"Pipeline with name '{name}' already exists in "
                                           f"namespace '{ns}'", json_content_type=True)
            now = time.time()
            p = Pipeline(new_id(), name, display, ctx.q("description"), ns, now, tags)
            v = PipelineVersion(new_id(), p.pipeline_id, name, display, ctx.q("description"), now,
                                spec, platform, ctx.q("code_source_url"))
            self.store.pipelines[p.pipeline_id] = p
            self.store.versions[v.pipeline_version_id] = v
        return Reply(200, self._pipeline_api(p), "v2beta1Pipeline")

    def upload_pipeline_version(self, ctx: Ctx) -> Reply:
        filename, data = self._multipart_file(
            ctx, "Failed to create a pipeline version due to error parsing pipeline spec filename")
        try:
            content = pipelinefile.read_pipeline_file(filename, data)
        except pipelinefile.PipelineFileError as e:
            raise UploadError(400, "Failed to create a pipeline version due to error reading "
                                   f"pipeline spec file: {e}")
        pid = ctx.q("pipelineid")
        if not pid:
            raise UploadError(400, "Failed to create a pipeline version due to error reading "
                                   "pipeline id")
        name = ctx.q("name") or ctx.q("display_name") or filename
        display = ctx.q("display_name") or name
        p = self.store.pipelines.get(pid)
        if p is None:
            raise UploadError(400, "Failed to create a pipeline version due to error reading "
                                   f"namespace: ResourceNotFoundError: Pipeline {pid} not found")
        if self.config.multi_user and p.namespace:
            try:
                self.authorize(ctx, p.namespace, "create", "pipelines")
            except ApiError as e:
                raise UploadError(400, "Failed to create a pipeline version due to authorization "
                                       f"error: Authorization Failure: {e.message}")
        tags = self._parse_tags(ctx.q("tags")) if self.has_names else {}
        try:
            spec, platform = pipelinefile.parse_documents(content)
        except pipelinefile.PipelineFileError as e:
            raise UploadError(500, "Failed to create a pipeline version: Invalid input error: "
                                   f"{e}", json_content_type=True)
        with self.store.lock:
            for v in self.store.versions.values():
                if v.pipeline_id == pid and v.name == name:
                    raise UploadError(409, "Failed to create a pipeline version. The pipeline "
                                           "already exists.: Already exist error: Pipeline "
                                           f"version with name '{name}' already exists",
                                      json_content_type=True)
            v = PipelineVersion(new_id(), pid, name, display, ctx.q("description"), time.time(),
                                spec, platform, ctx.q("code_source_url"), tags=tags)
            self.store.versions[v.pipeline_version_id] = v
        return Reply(200, self._version_api(v), "v2beta1PipelineVersion")

    def _fetch_package(self, url: str) -> Tuple[dict, Optional[dict]]:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "https" and not (parsed.scheme == "http"
                                             and self.config.allow_http_package_url):
            raise ApiError(3, f"Invalid input error: invalid pipeline URL '{url}': only https "
                              "URLs are allowed")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 (test tool)
                data = resp.read(pipelinefile.MAX_FILE_LENGTH + 1)
            content = pipelinefile.read_pipeline_file(parsed.path, data)
            return pipelinefile.parse_documents(content)
        except pipelinefile.PipelineFileError as e:
            raise ApiError(3, f"Invalid input error: {e}")
        except Exception as e:  # noqa: BLE001
            raise ApiError(3, f"Invalid input error: failed to download the pipeline from "
                              f"'{url}': {e}")

    def create_pipeline(self, ctx: Ctx) -> Reply:
        body = self.json_body(ctx, "v2beta1Pipeline")
        p = self._new_pipeline(ctx, body)
        with self.store.lock:
            self.store.pipelines[p.pipeline_id] = p
        return Reply(200, self._pipeline_api(p), "v2beta1Pipeline")

    def _new_pipeline(self, ctx: Ctx, body: dict) -> Pipeline:
        name = body.get("name") or body.get("display_name") or ""
        if not name:
            raise ApiError(3, "Invalid input error: Pipeline name is empty. Please specify a "
                              "valid name")
        ns = self._ns_input(body.get("namespace") or "")
        if self.config.multi_user and self.config.require_namespace_for_pipelines and not ns:
            raise ApiError(3, "Namespace is required for pipeline operations")
        self._authorize_pipeline(ctx, ns, "create", name)
        with self.store.lock:
            for p in self.store.pipelines.values():
                if p.name == name and p.namespace == ns:
                    raise ApiError(6, f"Failed to create a pipeline: Already exist error: "
                                      f"Pipeline with name '{name}' already exists")
        return Pipeline(new_id(), name, body.get("display_name") or name,
                        body.get("description") or "", ns, time.time(),
                        dict(body.get("tags") or {}))

    def create_pipeline_and_version(self, ctx: Ctx) -> Reply:
        body = self.json_body(ctx, "v2beta1CreatePipelineAndVersionRequest")
        pv = body.get("pipeline_version") or {}
        url = (pv.get("package_url") or {}).get("pipeline_url") or ""
        if not body.get("pipeline"):
            raise ApiError(3, "Invalid input error: Pipeline is empty")
        if not url:
            raise ApiError(3, "Invalid input error: Pipeline version package URL is empty")
        p = self._new_pipeline(ctx, body["pipeline"])
        spec, platform = self._fetch_package(url)
        v = PipelineVersion(new_id(), p.pipeline_id, pv.get("name") or p.name,
                            pv.get("display_name") or pv.get("name") or p.display_name,
                            pv.get("description") or "", time.time(), spec, platform,
                            pv.get("code_source_url") or "", url)
        with self.store.lock:
            self.store.pipelines[p.pipeline_id] = p
            self.store.versions[v.pipeline_version_id] = v
        return Reply(200, self._pipeline_api(p), "v2beta1Pipeline")

    def create_pipeline_version(self, ctx: Ctx, pipeline_id: str) -> Reply:
        body = self.json_body(ctx, "v2beta1PipelineVersion")
        if not pipeline_id or not body.get("pipeline_id"):
            raise ApiError(3, "Invalid input error: Parent pipeline id is empty")
        if body["pipeline_id"] != pipeline_id:
            raise ApiError(3, "Invalid input error: pipeline id in the path and in the body "
                              "differ")
        p = self._pipeline(pipeline_id)
        self._authorize_pipeline(ctx, p.namespace, "create", p.name)
        url = (body.get("package_url") or {}).get("pipeline_url") or ""
        if not url:
            raise ApiError(3, "Invalid input error: Pipeline version package URL is empty")
        name = body.get("name") or body.get("display_name") or ""
        if not name:
            raise ApiError(3, "Invalid input error: Pipeline version name is empty")
        spec, platform = self._fetch_package(url)
        with self.store.lock:
            for v in self.store.versions.values():
                if v.pipeline_id == pipeline_id and v.name == name:
                    raise ApiError(6, "Already exist error: Pipeline version with name "
                                      f"'{name}' already exists")
            v = PipelineVersion(new_id(), pipeline_id, name, body.get("display_name") or name,
                                body.get("description") or "", time.time(), spec, platform,
                                body.get("code_source_url") or "", url,
                                dict(body.get("tags") or {}))
            self.store.versions[v.pipeline_version_id] = v
        return Reply(200, self._version_api(v), "v2beta1PipelineVersion")

    def get_pipeline(self, ctx: Ctx, pipeline_id: str) -> Reply:
        p = self._pipeline(pipeline_id)
        self._authorize_pipeline(ctx, p.namespace, "get", p.name)
        return Reply(200, self._pipeline_api(p), "v2beta1Pipeline")

    def get_pipeline_by_name(self, ctx: Ctx, name: str) -> Reply:
        ns = self._ns_input(ctx.q("namespace"))
        name = urllib.parse.unquote(name)
        self._authorize_pipeline(ctx, ns, "get", name)
        with self.store.lock:
            for p in self.store.pipelines.values():
                if p.namespace == ns and (p.name == name or (not self.has_names
                                                             and p.display_name == name)):
                    return Reply(200, self._pipeline_api(p), "v2beta1Pipeline")
        raise ApiError(5, f"Failed to get pipeline by name: ResourceNotFoundError: Pipeline "
                          f"{name} in namespace '{ns}' not found")

    def list_pipelines(self, ctx: Ctx) -> Reply:
        ns = self._ns_input(ctx.q("namespace"))
        self._authorize_pipeline(ctx, ns, "list")
        with self.store.lock:
            items = [(p, self._pipeline_api(p)) for p in self.store.pipelines.values()
                     if not self.config.multi_user or p.namespace == ns]
        page, total, tok = self.paginate(ctx, "pipelines", items)
        return self.list_reply("pipelines", page, total, tok, "v2beta1ListPipelinesResponse")

    def delete_pipeline(self, ctx: Ctx, pipeline_id: str) -> Reply:
        p = self._pipeline(pipeline_id)
        self._authorize_pipeline(ctx, p.namespace, "delete", p.name)
        cascade = ctx.q("cascade").lower() in ("true", "1")
        with self.store.lock:
            vs = [v for v in self.store.versions.values() if v.pipeline_id == pipeline_id]
            if vs and not cascade:
                raise ApiError(9, f"Failed to delete pipeline: Failed precondition error: "
                                  f"Pipeline {pipeline_id} has {len(vs)} pipeline version(s); "
                                  "delete them first or set cascade=true")
            for v in vs:
                self.store.versions.pop(v.pipeline_version_id, None)
            self.store.pipelines.pop(pipeline_id, None)
        return Reply(200, {}, "emuEmpty")

    def _version(self, pipeline_id: str, version_id: str) -> PipelineVersion:
        v = self.store.versions.get(version_id)
        if v is None or v.pipeline_id != pipeline_id:
            raise ApiError(5, f"Failed to get pipeline version: ResourceNotFoundError: "
                              f"PipelineVersion {version_id} not found",
                           f"PipelineVersion {version_id} not found")
        return v

    def list_pipeline_versions(self, ctx: Ctx, pipeline_id: str) -> Reply:
        p = self._pipeline(pipeline_id)
        self._authorize_pipeline(ctx, p.namespace, "list", p.name)
        with self.store.lock:
            items = [(v, self._version_api(v)) for v in self.store.versions.values()
                     if v.pipeline_id == pipeline_id]
        page, total, tok = self.paginate(ctx, "versions", items)
        return self.list_reply("pipeline_versions", page, total, tok,
                               "v2beta1ListPipelineVersionsResponse")

    def get_pipeline_version(self, ctx: Ctx, pipeline_id: str, pipeline_version_id: str) -> Reply:
        p = self._pipeline(pipeline_id)
        v = self._version(pipeline_id, pipeline_version_id)
        self._authorize_pipeline(ctx, p.namespace, "get", p.name)
        return Reply(200, self._version_api(v), "v2beta1PipelineVersion")

    def delete_pipeline_version(self, ctx: Ctx, pipeline_id: str,
                                pipeline_version_id: str) -> Reply:
        p = self._pipeline(pipeline_id)
        self._version(pipeline_id, pipeline_version_id)
        self._authorize_pipeline(ctx, p.namespace, "delete", p.name)
        with self.store.lock:
            self.store.versions.pop(pipeline_version_id, None)
        return Reply(200, {}, "emuEmpty")

    # ---- runs ----------------------------------------------------------------------------------
    def _run(self, run_id: str) -> Run:
        r = self.store.runs.get(run_id)
        if r is None:
            raise ApiError(5, f"Failed to get a run: ResourceNotFoundError: Run {run_id} not "
                              "found", f"Run {run_id} not found")
        return r

    def _run_api(self, r: Run) -> dict:
        return r.to_api(time.time(), self.config.epoch_unfinished)

    def _default_experiment(self) -> Experiment:
        with self.store.lock:
            for e in self.store.experiments.values():
                if e.display_name == "Default" and e.namespace == "":
                    return e
            e = Experiment(new_id(), "Default", "All runs created without specifying an "
                                                "experiment will be grouped here.", "", time.time())
            self.store.experiments[e.experiment_id] = e
            return e

    def create_run(self, ctx: Ctx) -> Reply:
        body = self.json_body(ctx, "v2beta1Run")
        name = body.get("display_name") or ""
        if not name:
            raise ApiError(3, "Invalid input error: The run name is empty. Please specify a "
                              "valid name")
        exp_id = body.get("experiment_id") or ctx.q("experiment_id")
        sources = [k for k in ("pipeline_spec", "pipeline_version_reference", "pipeline_version_id")
                   if body.get(k)]
        if not sources:
            raise ApiError(3, "Invalid input error: Failed to create a run due to missing pipeline "
                              "spec: set pipeline_spec or pipeline_version_reference")
        if len(sources) > 1 and not (set(sources) == {"pipeline_version_reference",
                                                       "pipeline_version_id"}):
            raise ApiError(3, "Invalid input error: Failed to create a run: pipeline_spec and "
                              "pipeline_version_reference are mutually exclusive")
        if self.config.multi_user and not exp_id:
            raise ApiError(3, "Invalid input error: Experiment id can not be empty in multi-user "
                              "mode")
        exp = self._experiment(exp_id) if exp_id else self._default_experiment()
        ns = exp.namespace
        if self.config.multi_user:
            if not ns:
                raise ApiError(3, "Invalid input error: Run's experiment has no namespace")
            self.authorize(ctx, ns, "create", "runs", name)
        names = [name]
        version_ref = None
        deprecated_vid = body.get("pipeline_version_id") or ""
        if body.get("pipeline_spec"):
            try:
                spec, platform = pipelinefile.split_run_spec(body["pipeline_spec"])
            except pipelinefile.PipelineFileError as e:
                raise ApiError(3, f"Invalid input error: Failed to create a run due to invalid "
                                  f"pipeline spec: {e}")
            struct = body["pipeline_spec"]
        else:
            ref = body.get("pipeline_version_reference") or {}
            pid, vid = ref.get("pipeline_id") or "", ref.get("pipeline_version_id") or deprecated_vid
            if vid and not pid:
                v0 = self.store.versions.get(vid)
                pid = v0.pipeline_id if v0 else ""
            if not pid:
                raise ApiError(3, "Invalid input error: pipeline_version_reference.pipeline_id "
                                  "is empty")
            p = self._pipeline(pid)
            self._authorize_pipeline(ctx, p.namespace, "get", p.name)
            v = self._version(pid, vid) if vid else self._latest_version(pid)
            if v is None:
                raise ApiError(5, f"Pipeline {pid} has no versions")
            spec, platform = v.spec, v.platform
            struct = pipelinefile.spec_struct(spec, platform)
            version_ref = {"pipeline_id": pid, "pipeline_version_id": v.pipeline_version_id}
            names += [p.display_name, p.name, v.display_name, v.name]
        names.append(pipelinefile.pipeline_name(spec))
        outcome = self.store.choose_outcome(names)
        run_id = new_id()
        tasks, start, end, final, error = plan_run(run_id, spec, outcome)
        sa = body.get("service_account") or ("default-editor" if self.config.multi_user
                                             else "pipeline-runner")
        now = time.time()
        r = Run(run_id=run_id, experiment_id=exp.experiment_id, namespace=ns, display_name=name,
                description=body.get("description") or "", pipeline_spec=struct,
                version_ref=version_ref, deprecated_version_id=deprecated_vid,
                runtime_config=body.get("runtime_config"), service_account=sa, created=now,
                pipeline_name=pipelinefile.pipeline_name(spec), outcome=outcome, tasks=tasks,
                run_start=start, run_end=end, run_final=final, run_error=error,
                context_ids=(str(random.randint(1, 10 ** 6)), str(random.randint(1, 10 ** 6))))
        with self.store.lock:
            self.store.runs[run_id] = r
            exp.last_run_created = now
        return Reply(200, self._run_api(r), "v2beta1Run")

    def get_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "get", "runs", r.display_name)
        return Reply(200, self._run_api(r), "v2beta1Run")

    def list_runs(self, ctx: Ctx) -> Reply:
        exp_id = ctx.q("experiment_id")
        ns = self._ns_input(ctx.q("namespace"))
        if exp_id:
            e = self.store.experiments.get(exp_id)
            if e is None and self.config.multi_user:
                raise ApiError(5, f"Failed to list runs: ResourceNotFoundError: Experiment "
                                  f"{exp_id} not found")
            if self.config.multi_user:
                self.authorize(ctx, e.namespace, "list", "runs")
        elif self.config.multi_user:
            if not ns:
                raise ApiError(3, "Invalid input error: ListRuns must filter by namespace or "
                                  "experiment id in multi-user mode")
            self.authorize(ctx, ns, "list", "runs")
        with self.store.lock:
            runs = list(self.store.runs.values())
        if exp_id:
            runs = [r for r in runs if r.experiment_id == exp_id]
        elif self.config.multi_user:
            runs = [r for r in runs if r.namespace == ns]
        items = [(r, self._run_api(r)) for r in runs]
        page, total, tok = self.paginate(ctx, "runs", items)
        return self.list_reply("runs", page, total, tok, "v2beta1ListRunsResponse")

    def terminate_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "terminate", "runs", r.display_name)
        now = time.time()
        with self.store.lock:
            state, _, _ = r.state_at(now)
            if r.terminated is None and state in ("PENDING", "RUNNING", "PAUSED"):
                r.terminated = now
        return Reply(200, {}, "emuEmpty")

    def archive_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "archive", "runs", r.display_name)
        r.storage_state = "ARCHIVED"
        return Reply(200, {}, "emuEmpty")

    def unarchive_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "unarchive", "runs", r.display_name)
        r.storage_state = "AVAILABLE"
        return Reply(200, {}, "emuEmpty")

    def delete_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "delete", "runs", r.display_name)
        with self.store.lock:
            self.store.runs.pop(run_id, None)
        return Reply(200, {}, "emuEmpty")

    def retry_run(self, ctx: Ctx, run_id: str) -> Reply:
        r = self._run(run_id)
        self.authorize(ctx, r.namespace, "retry", "runs", r.display_name)
        now = time.time()
        with self.store.lock:
            state, _, _ = r.state_at(now)
            if state not in ("FAILED", "CANCELED"):
                raise ApiError(9, f"Failed to retry run: Failed precondition error: Run {run_id} "
                                  f"is in state {state}; only failed or canceled runs can be "
                                  "retried")
            spec, _ = pipelinefile.split_run_spec(r.pipeline_spec)
            outcome = self.store.choose_outcome([r.display_name, r.pipeline_name])
            tasks, start, end, final, error = plan_run(run_id, spec, outcome)
            offset = now - r.created
            for t in _walk(tasks):
                t.start += offset
                if t.end != float("inf"):
                    t.end += offset
            r.tasks, r.outcome = tasks, outcome
            r.run_start, r.run_end = start + offset, end + offset
            r.run_final, r.run_error, r.terminated = final, error, None
        return Reply(200, {}, "emuEmpty")

    def unimplemented(self, ctx: Ctx, **_: str) -> Reply:
        raise ApiError(12, f"emulator: {ctx.method} {ctx.template or ctx.path} is not "
                           "implemented by kfp-emulator")

    # ---- error rendering -----------------------------------------------------------------------
    def error_reply(self, e: ApiError) -> Reply:
        status = GRPC_TO_HTTP.get(e.code, 500)
        body: Dict[str, Any] = {"code": e.code, "message": e.message}
        if e.details:
            body["details"] = [{"@type": "type.googleapis.com/google.rpc.Status",
                                "code": e.code, "message": e.short}]
        if self.config.error_shape == "old":
            body = {"error": e.message, **body}
            return Reply(status, body, "emuOldRpcStatus", prune=False)
        return Reply(status, body, "googleRpcStatus", prune=False)

    # ---- admin ---------------------------------------------------------------------------------
    def admin(self, ctx: Ctx) -> Tuple[int, Any]:
        p = ctx.path
        if p == "/_emulator/violations" and ctx.method == "GET":
            with self.meta_lock:
                return 200, {"count": len(self.violations), "violations": list(self.violations)}
        if p == "/_emulator/requests" and ctx.method == "GET":
            with self.meta_lock:
                out: Dict[str, Any] = {"total": self.total, "counts": dict(self.counts)}
                if ctx.q("log") in ("1", "true"):
                    limit = int(ctx.q("limit") or "200")
                    out["log"] = list(self.log)[-limit:]
            return 200, out
        if p == "/_emulator/requests" and ctx.method == "DELETE":
            with self.meta_lock:
                self.counts.clear()
                self.log.clear()
                self.total = 0
            return 200, {"cleared": True}
        if p == "/_emulator/reset" and ctx.method == "POST":
            self.reset()
            return 200, {"reset": True}
        if p == "/_emulator/script":
            if ctx.method == "POST":
                try:
                    data = json.loads(ctx.body or b"{}")
                    self.apply_script(data)
                except (ValueError, TypeError, KeyError) as e:
                    return 400, {"error": f"bad script: {e}"}
            elif ctx.method != "GET":
                return 405, {"error": "use GET or POST"}
            return 200, self.script_state()
        if p == "/_emulator/health":
            return 200, {"ok": True}
        if p == "/_emulator/created" and ctx.method == "GET":
            return 200, {"created": self.store.created()}
        return 404, {"error": f"unknown admin endpoint {ctx.method} {p}",
                     "endpoints": ["GET /_emulator/violations", "GET /_emulator/requests[?log=1]",
                                   "DELETE /_emulator/requests",
                                   "POST /_emulator/reset", "GET|POST /_emulator/script",
                                   "GET /_emulator/created", "GET /_emulator/health"]}

    def reset(self) -> None:
        self.store.reset(Outcome(**self.base_timing.__dict__))
        self.config = self.base_config.copy()
        with self.meta_lock:
            self.violations.clear()
            self.counts.clear()
            self.log.clear()
            self.total = 0

    def script_state(self) -> dict:
        s = self.store
        with s.lock:
            return {
                "config": self.config.public(),
                "timing": {"pending_ms": s.default_outcome.pending_s * 1000,
                           "task_ms": s.default_outcome.task_s * 1000,
                           "cancel_ms": s.default_outcome.cancel_s * 1000},
                "runs": [{"match": r.match, "outcome": r.outcome.kind, "task": r.outcome.task,
                          "message": r.outcome.message, "times": r.times} for r in s.rules],
                "faults": [dict(f.__dict__) for f in s.faults],
                "delays": [{"path": d.path, "method": d.method, "delay_ms": d.delay_s * 1000,
                            "times": d.times} for d in s.delays],
            }

    def apply_script(self, data: dict) -> None:
        if not isinstance(data, dict):
            raise ValueError("script must be a JSON object")
        known = {"replace", "timing", "runs", "faults", "delays", "api_server_down", "multi_user",
                 "error_shape", "grants", "tokens", "cookies", "gateway_auth", "shared_read",
                 "require_namespace_for_pipelines", "epoch_unfinished"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; known: {sorted(known)}")
        s = self.store
        cfg = self.config
        replace = bool(data.get("replace"))
        with s.lock:
            if "timing" in data:
                t = data["timing"]
                d = s.default_outcome
                d.pending_s = float(t.get("pending_ms", d.pending_s * 1000)) / 1000
                d.task_s = float(t.get("task_ms", d.task_s * 1000)) / 1000
                d.cancel_s = float(t.get("cancel_ms", d.cancel_s * 1000)) / 1000
            if "runs" in data:
                if replace:
                    s.rules.clear()
                for r in data["runs"]:
                    kind = r.get("outcome", "succeed")
                    if kind not in ("succeed", "fail", "hang"):
                        raise ValueError(f"outcome must be succeed|fail|hang, got {kind!r}")
                    d = s.default_outcome
                    o = Outcome(kind=kind, task=r.get("task", ""), message=r.get("message", ""),
                                pending_s=float(r.get("pending_ms", d.pending_s * 1000)) / 1000,
                                task_s=float(r.get("task_ms", d.task_s * 1000)) / 1000,
                                cancel_s=float(r.get("cancel_ms", d.cancel_s * 1000)) / 1000,
                                source="script", pods=dict(r.get("pods") or {}))
                    s.rules.append(RunRule(r.get("match", "*"), o, r.get("times")))
            if "faults" in data:
                if replace:
                    s.faults.clear()
                for f in data["faults"]:
                    if f.get("drop") not in (None, "before", "after"):
                        raise ValueError(f"fault drop must be before or after, got {f['drop']!r}")
                    s.faults.append(Fault(
                        path=f["path"], method=f.get("method", "*").upper(),
                        status=int(f.get("status", 503)),
                        times=f.get("times", 1), message=f.get("message", ""),
                        body=f.get("body"),
                        content_type=f.get("content_type", "text/plain; charset=utf-8"),
                        drop=f.get("drop"), skip=int(f.get("skip", 0)),
                        pad_to=int(f.get("pad_to", 0))))
            if "delays" in data:
                if replace:
                    s.delays.clear()
                for d in data["delays"]:
                    s.delays.append(Delay(path=d["path"], method=d.get("method", "*").upper(),
                                          delay_s=float(d.get("delay_ms", 0)) / 1000,
                                          times=d.get("times")))
            for key in ("api_server_down", "multi_user", "gateway_auth", "shared_read",
                        "require_namespace_for_pipelines", "epoch_unfinished"):
                if key in data:
                    setattr(cfg, key, bool(data[key]))
            if "error_shape" in data:
                if data["error_shape"] not in ("new", "old"):
                    raise ValueError("error_shape must be new or old")
                cfg.error_shape = data["error_shape"]
            if "grants" in data:
                if replace:
                    cfg.grants.clear()
                for user, nss in data["grants"].items():
                    if isinstance(nss, str):
                        nss = [nss]
                    for item in nss:
                        mode = "edit"
                        ns = item
                        if item.endswith(":view") or item.endswith(":edit"):
                            ns, mode = item.rsplit(":", 1)
                        cfg.grants.setdefault(user, {})[ns] = mode
            if "tokens" in data:
                if replace:
                    cfg.tokens.clear()
                for tok, spec in data["tokens"].items():
                    if isinstance(spec, str):
                        _, user, auds = parse_token(f"{tok}={spec}")
                    else:
                        user = spec["user"]
                        auds = list(spec.get("audiences") or [TOKEN_REVIEW_AUDIENCE])
                    cfg.tokens[tok] = (user, auds)
            if "cookies" in data:
                if replace:
                    cfg.cookies.clear()
                cfg.cookies.update({str(k): str(v) for k, v in data["cookies"].items()})

    # ---- dispatch ------------------------------------------------------------------------------
    def match_route(self, method: str, path: str) -> Tuple[Optional[str], str, Dict[str, str], bool]:
        """(handler, template, params, path_known)."""
        known = False
        for m, rx, template, handler in ROUTES:
            mm = rx.match(path)
            if mm:
                known = True
                if m == method:
                    return handler, template, {k: urllib.parse.unquote(v)
                                               for k, v in mm.groupdict().items()}, True
        if not known and _UNMODELLED.match(path):
            return "unimplemented", path, {}, True
        return None, "", {}, known

    def gateway(self, ctx: Ctx) -> None:
        """--gateway-auth: what Istio + oauth2-proxy do in front of /pipeline (brief §1.12)."""
        cookies = _parse_cookies(ctx.headers.get("Cookie"))
        for name, value in cookies.items():
            if re.match(r"^(oauth2_proxy_kubeflow(_\d+)?|authservice_session)$", name) and \
                    value in self.config.cookies:
                ctx.injected_user = self.config.cookies[value]
                return
        auth = ctx.headers.get("Authorization") or ""
        m = re.match(r"^Bearer\s+(.+)$", auth.strip(), re.I)
        if m:
            entry = self.config.tokens.get(m.group(1).strip())
            if entry is None:
                raise RawResponse(401, b"Jwt verification fails")
            # m2m overlay: RequestAuthentication maps sub -> kubeflow-userid; audience ignored.
            ctx.injected_user = entry[0]
            return
        raise RawResponse(401, b"Unauthorized")

    def handle(self, ctx: Ctx) -> Tuple[int, bytes, str]:
        started = time.time()
        status, data, ctype = 500, b"", "application/json"
        try:
            status, data, ctype = self._handle(ctx)
        finally:
            if not ctx.path.startswith("/_emulator/"):
                self.log_request(ctx, status, started)
        return status, data, ctype

    def _handle(self, ctx: Ctx) -> Tuple[int, bytes, str]:
        if ctx.path.startswith("/_emulator/"):
            st, body = self.admin(ctx)
            return st, json.dumps(body, indent=1).encode(), "application/json"
        handler, template, params, known = self.match_route(ctx.method, ctx.path)
        ctx.template = template or ctx.path
        prefix = "/pipeline" if ctx.via_ui else ""
        self.count(ctx, f"{ctx.method} {prefix}{ctx.template}")
        delay = self.store.take_delay(ctx.method, ctx.path, ctx.template)
        if delay > 0:
            time.sleep(delay)
        try:
            fault = self.store.take_fault(ctx.method, ctx.path, ctx.template)
            if fault is not None and fault.drop == "before":
                raise DropConnection()
            if fault is not None and fault.drop == "after":
                # Processed below as usual; the answer is then lost (see Handler._dispatch).
                ctx.drop_after = True
            elif fault is not None:
                if fault.body is not None:
                    data = fault.body.replace("{n}", str(fault.served)).encode()
                    data += b" " * max(0, fault.pad_to - len(data))
                    raise RawResponse(fault.status, data, fault.content_type)
                code = HTTP_TO_GRPC.get(fault.status, 2)
                raise ApiError(code, fault.message or f"emulator: injected HTTP {fault.status}")
            if ctx.via_ui:
                reply = self.ui_front(ctx)
                if reply is not None:
                    return self.render(ctx, reply)
            elif self.config.api_server_down:
                raise DropConnection()
            if handler is None:
                if known:
                    raise ApiError(12, "Method Not Allowed", details=False)
                raise ApiError(5, "Not Found", details=False)
            fn: Callable[..., Reply] = getattr(self, handler)
            with_lock = ctx.method != "GET"
            if with_lock:
                with self.store.lock:
                    reply = fn(ctx, **params)
            else:
                reply = fn(ctx, **params)
            return self.render(ctx, reply)
        except ApiError as e:
            return self.render(ctx, self.error_reply(e))
        except UploadError as e:
            body = {"error_message": e.message, "error_details": e.message}
            ctype = "application/json" if e.json_content_type else "text/plain; charset=utf-8"
            return self.render(ctx, Reply(e.status, body, "emuUploadError", prune=False,
                                          content_type=ctype))
        except RawResponse as e:
            return e.status, e.body, e.content_type

    def ui_front(self, ctx: Ctx) -> Optional[Reply]:
        """The ml-pipeline-ui server in front of /pipeline/apis (brief §1.1, §1.3)."""
        p = ctx.path
        if self.config.gateway_auth:
            # oauth2-proxy/Istio guard every /pipeline path, the UI's healthz included.
            self.gateway(ctx)
        if re.match(r"^/apis/v[12]beta1/healthz$", p):
            return self.ui_healthz()
        if re.match(r"^/apis/v1beta1/runs/[^/]+:reportMetrics$", p) or \
                re.match(r"^/apis/v[12]beta1/(workflows|scheduledworkflows)(/.*)?$", p):
            raise RawResponse(403, b"Forbidden")
        if re.match(r"^/apis/v[12]beta1/_proxy/", p):
            raise RawResponse(410, b"Gone")
        if self.config.api_server_down:
            raise RawResponse(503, b"Error occurred while trying to proxy to: ml-pipeline")
        return None

    def render(self, ctx: Ctx, reply: Reply) -> Tuple[int, bytes, str]:
        sw = self.swagger[reply.spec]
        body = reply.body
        if reply.prune:
            body = sw.prune(reply.schema, body)
        errs = sw.errors(reply.schema, body, response=True) if self.config.validate_responses \
            else []
        if errs:
            self.record_violation(ctx, reply.status, reply.schema, errs, body)
        return reply.status, json.dumps(body, separators=(",", ":")).encode(), reply.content_type


def _walk(tasks: List[Any]) -> List[Any]:
    out = []
    for t in tasks:
        out.append(t)
        out.extend(_walk(t.children))
    return out


def _parse_multipart(ctype: str, body: bytes) -> Any:
    parser = email.parser.BytesParser(policy=email.policy.HTTP)
    return parser.parsebytes(b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)


def _multipart_summary(ctype: str, body: bytes) -> List[dict]:
    try:
        msg = _parse_multipart(ctype, body)
        if not msg.is_multipart():
            return []
        return [{"name": part.get_param("name", header="content-disposition"),
                 "filename": part.get_filename(),
                 "content_type": part.get_content_type(),
                 "bytes": len(part.get_payload(decode=True) or b"")}
                for part in msg.iter_parts()]
    except Exception:  # noqa: BLE001
        return []


def _redact(auth: Optional[str]) -> Optional[str]:
    if not auth:
        return None
    parts = auth.split(None, 1)
    if len(parts) == 2:
        tok = parts[1]
        return f"{parts[0]} {tok[:4]}…({len(tok)} chars)"
    return "<set>"


def _parse_cookies(header: Optional[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for part in (header or "").split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def _cookie_names(header: Optional[str]) -> List[str]:
    return sorted(_parse_cookies(header))


# ------------------------------------------------------------------------------------------------
# HTTP plumbing
# ------------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kfp-emulator"

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt: str, *args: Any) -> None:  # noqa: D401
        if self.server.emulator.config.verbose:  # type: ignore[attr-defined]
            sys.stderr.write("kfp-emulator: " + (fmt % args) + "\n")

    def _read_body(self) -> bytes:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                size = int(line.split(b";")[0] or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self) -> None:
        emu: Emulator = self.server.emulator  # type: ignore[attr-defined]
        body = self._read_body()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        via_ui = False
        if path == "/pipeline" or path.startswith("/pipeline/"):
            via_ui = True
            path = path[len("/pipeline"):] or "/"
        ctx = Ctx(method=self.command, raw_path=url.path, path=path,
                  query=urllib.parse.parse_qs(url.query, keep_blank_values=True),
                  headers=self.headers, body=body, via_ui=via_ui)
        try:
            status, data, ctype = emu.handle(ctx)
            if ctx.drop_after:
                raise DropConnection()
        except DropConnection:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        except Exception as e:  # noqa: BLE001 - an emulator bug must not kill the server
            import traceback
            traceback.print_exc()
            emu.record_violation(ctx, 500, "<exception>", [repr(e)], None, direction="crash")
            status, data, ctype = 500, json.dumps({"code": 13, "message": f"emulator crash: {e}"}
                                                  ).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        # One write for head and body: two small writes meet Nagle + delayed ACK (~40 ms each).
        if self.command != "HEAD":
            self._headers_buffer.append(b"\r\n" + data)  # type: ignore[attr-defined]
            self.flush_headers()
        else:
            self.end_headers()

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = do_HEAD = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr: Tuple[str, int], emulator: Emulator):
        super().__init__(addr, Handler)
        self.emulator = emulator
