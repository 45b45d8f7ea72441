# kfcheck's notebook door: the program kfcheck runs in a notebook server's kernel, as the cell a
# data scientist would write. It checks that the kernel's environment is what pipelines need
# (kfp importable, the PodDefault token file present, kfp.Client() constructed as in a notebook),
# submits one compiled sample, waits for it, removes what it created, and prints ONE line:
# "KFCHECK-RESULT " + JSON. kfcheck puts its settings (base64 JSON) in CONFIG below.
# Never prints a credential: the token file is checked for presence and size only.
import base64
import json
import os
import sys
import tempfile
import time
import traceback

CONFIG = json.loads(base64.b64decode("__KFCHECK_CONFIG__").decode("utf-8"))
MARK = "KFCHECK-RESULT "
DEFAULT_TOKEN_PATH = "/var/run/secrets/kubeflow/pipelines/token"


def _short(text, limit=2000):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "..."


def classify(exc):
    """(layer, message, http status) for an exception from kfp or its HTTP client."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    body = body or ""
    reason = getattr(exc, "reason", "") or ""
    if status == 403 and "RBAC: access denied" in body:
        return "istio-denied", "403 from the mesh: " + _short(body, 300), status
    if status == 403:
        return "kfp-forbidden", "403 from KFP: " + _short(body or reason, 600), status
    if status == 401:
        return "unauthenticated", "401: " + _short(body or reason, 600), status
    if status == 404:
        return "not-found", "404: " + _short(body or reason, 600), status
    if isinstance(status, int) and status >= 500:
        return "server-error", "%d: %s" % (status, _short(body or reason, 600)), status
    name = type(exc).__name__
    if name in ("MaxRetryError", "NewConnectionError", "ConnectionError", "ProtocolError") or isinstance(
        exc, (ConnectionError, OSError)
    ):
        return "unreachable", "%s: %s" % (name, _short(exc, 600)), status
    return "error", "%s: %s" % (name, _short(exc, 600)), status


def tasks_of(run):
    out = []
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    for t in details:
        err = getattr(t, "error", None)
        pods = [getattr(c, "pod_name", None) for c in (getattr(t, "child_tasks", None) or [])]
        out.append(
            {
                "name": getattr(t, "display_name", None) or "",
                "state": getattr(t, "state", None) or "",
                "message": _short(getattr(err, "message", "") or "", 600) if err else "",
                "pod": getattr(t, "pod_name", None) or next((p for p in pods if p), None),
            }
        )
    return out


def main():
    out = {"steps": [], "error": None, "cleanup": []}
    ns = CONFIG["namespace"]

    def step(name, ok, detail=""):
        out["steps"].append({"name": name, "ok": ok, "detail": _short(detail, 600)})

    def fail(layer, message, **extra):
        err = {"layer": layer, "message": _short(message)}
        err.update(extra)
        out["error"] = err
        return out

    out["python"] = sys.version.split()[0]
    try:
        import kfp
        from kfp.client import set_volume_credentials
    except Exception as e:  # noqa: BLE001 - any import failure is the finding
        step("import kfp", False, repr(e))
        return fail("kfp-missing", "kfp is not importable in this kernel: %r" % (e,))
    out["kfp_version"] = getattr(kfp, "__version__", "unknown")
    step("import kfp", True, out["kfp_version"])

    path = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH") or DEFAULT_TOKEN_PATH
    # (Keys here never name a secret: kfcheck redacts the line's values by their names.)
    out["token_file"] = {"path": path, "from_env": "KF_PIPELINES_SA_TOKEN_PATH" in os.environ}
    try:
        size = os.path.getsize(path)
    except OSError as e:
        step("token file", False, "%s: %s" % (path, e.strerror))
        return fail("token-missing", "no pipelines token at %s (%s)" % (path, e.strerror))
    if size == 0:
        step("token file", False, path + " is empty")
        return fail("token-missing", "the pipelines token at %s is empty" % path)
    step("token file", True, "%s (%d bytes)" % (path, size))

    # kfp.Client() reads KF_PIPELINES_ENDPOINT, and then sends no token of its own: the
    # PodDefault's token file is passed as credentials there, and the step says so.
    host = CONFIG.get("host") or os.environ.get("KF_PIPELINES_ENDPOINT")
    if host and not CONFIG.get("host"):
        step("KF_PIPELINES_ENDPOINT", True, host + " (kfp.Client() sends no token there by itself)")
    try:
        if host:
            creds = set_volume_credentials.ServiceAccountTokenVolumeCredentials(path=path)
            client = kfp.Client(host=host, namespace=ns, credentials=creds)
        else:
            client = kfp.Client(namespace=ns)
    except Exception as e:  # noqa: BLE001
        layer, message, status = classify(e)
        step("kfp.Client()", False, message)
        return fail(layer, "kfp.Client() failed: " + message, status=status)
    step("kfp.Client()", True, host or "in-cluster")

    try:
        raw = client._healthz_api.healthz_service_get_healthz(_preload_content=False)
        health = json.loads(raw.data or b"{}")
        out["server_version"] = health.get("tag_name") or health.get("tagName")
        out["multi_user"] = health.get("multi_user", health.get("multiUser"))
        step("healthz", True, str(out["server_version"]))
    except Exception as e:  # noqa: BLE001
        layer, message, status = classify(e)
        step("healthz", False, message)
        return fail(layer, "the KFP API did not answer healthz: " + message, status=status)

    run_id = None
    experiment_id = None
    started = time.monotonic()
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(CONFIG["pipeline_yaml"])
            package = f.name
        try:
            created = client.create_run_from_pipeline_package(
                package,
                arguments=CONFIG.get("arguments") or {},
                run_name=CONFIG["run_name"],
                experiment_name=CONFIG["experiment_name"],
                namespace=ns,
                enable_caching=False,
            )
        finally:
            os.unlink(package)
        run_id = created.run_id
        out["run"] = {"id": run_id, "state": "PENDING", "tasks": []}
        step("submit", True, run_id)
        try:
            run = client.wait_for_run_completion(run_id, timeout=CONFIG["timeout_s"], sleep_duration=1)
        except TimeoutError:
            out["run"]["state"] = "TIMED_OUT"
            try:
                client.terminate_run(run_id)
                out["cleanup"].append({"what": "terminate run " + run_id, "ok": True})
            except Exception as e:  # noqa: BLE001
                out["cleanup"].append({"what": "terminate run " + run_id, "ok": False, "error": classify(e)[1]})
            return fail("run-timeout", "the run did not finish within %ds" % CONFIG["timeout_s"])
        experiment_id = getattr(run, "experiment_id", None)
        out["run"]["state"] = str(run.state or "")
        out["run"]["tasks"] = tasks_of(run)
        out["run"]["duration_s"] = round(time.monotonic() - started, 3)
        step("run", run.state == "SUCCEEDED", str(run.state))
        if run.state != "SUCCEEDED":
            failed = [t for t in out["run"]["tasks"] if t["state"] not in ("SUCCEEDED", "SKIPPED", "")]
            what = "; ".join("%s %s: %s" % (t["name"], t["state"], t["message"]) for t in failed[:5])
            return fail("run-failed", "run %s ended %s%s" % (run_id, run.state, (": " + what) if what else ""))
        return out
    except Exception as e:  # noqa: BLE001
        layer, message, status = classify(e)
        step("submit" if run_id is None else "wait", False, message)
        return fail(layer, message, status=status)
    finally:
        if run_id is not None:
            try:
                client.delete_run(run_id)
                out["cleanup"].append({"what": "delete run " + run_id, "ok": True})
            except Exception as e:  # noqa: BLE001
                out["cleanup"].append({"what": "delete run " + run_id, "ok": False, "error": classify(e)[1]})
        if experiment_id is None and run_id is not None:
            try:
                experiment_id = client.get_experiment(
                    experiment_name=CONFIG["experiment_name"], namespace=ns
                ).experiment_id
            except Exception:  # noqa: BLE001 - nothing to delete is fine
                experiment_id = None
        # Only an experiment kfcheck named (kfcheck-<run id>-...) is ever deleted.
        if experiment_id and CONFIG["experiment_name"].startswith("kfcheck-"):
            try:
                client.delete_experiment(experiment_id)
                out["cleanup"].append({"what": "delete experiment " + CONFIG["experiment_name"], "ok": True})
            except Exception as e:  # noqa: BLE001
                out["cleanup"].append(
                    {"what": "delete experiment " + CONFIG["experiment_name"], "ok": False, "error": classify(e)[1]}
                )


def _run():
    try:
        result = main()
    except Exception as e:  # noqa: BLE001 - a bug here is reported, never a silent cell error
        result = {"steps": [], "cleanup": [], "error": {"layer": "probe-bug", "message": _short(traceback.format_exc())}}
        del e
    print(MARK + json.dumps(result, default=str), flush=True)


_run()
