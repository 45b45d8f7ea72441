"""Fixtures: emulator subprocesses (one per configuration, reset between tests) and an isolated
kfp SDK context. Every test ends by asserting that the emulator recorded no schema violation."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.dirname(HERE)
REPO = os.path.abspath(os.path.join(TOOL, "..", ".."))
EMULATOR = os.path.join(TOOL, "kfp_emulator.py")
CPU_YAML = os.path.join(REPO, "checks", "pipelines", "kfcheck-cpu-sample.yaml")
GPU_YAML = os.path.join(REPO, "checks", "pipelines", "kfcheck-gpu-sample.yaml")



def dag_order(path: str) -> List[str]:
    """Root-DAG task names of a compiled pipeline in dependency order (derived here, not from the
    emulator, so the tests follow the sample pipelines when they are regenerated)."""
    import yaml
    with open(path) as f:
        spec = next(d for d in yaml.safe_load_all(f) if d)
    tasks = spec["root"]["dag"]["tasks"]
    deps = {k: set(v.get("dependentTasks") or []) for k, v in tasks.items()}
    order: List[str] = []
    while deps:
        ready = sorted(k for k, d in deps.items() if not d - set(order)) or sorted(deps)[:1]
        order += ready
        for k in ready:
            deps.pop(k)
    return [tasks[k].get("taskInfo", {}).get("name", k) for k in order]


CPU_TASKS = dag_order(CPU_YAML)  # make-numbers, sum-numbers, check-total today
GPU_TASKS = dag_order(GPU_YAML)  # gpu-probe today

# Identities used by the multi-user emulator.
SA_A = "system:serviceaccount:team-a:default-editor"
SA_B = "system:serviceaccount:team-b:default-editor"
ALICE = "alice@example.com"
BOB = "bob@example.com"
TOK_A = "tok-team-a"            # audience pipelines.kubeflow.org
TOK_A_K8S_AUD = "tok-team-a-k8s"  # default kubectl create token audience
TOK_B = "tok-team-b"
COOKIE_ALICE = "sess-alice"

FAST = ["--pending-ms", "40", "--task-ms", "50", "--cancel-ms", "300"]


class Emu:
    """Handle on one emulator process."""

    def __init__(self, args: List[str]):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="kfp-emu-")
        ready = os.path.join(self.tmp, "url")
        self.stderr_path = os.path.join(self.tmp, "stderr")
        self.stderr = open(self.stderr_path, "w+")
        self.proc = subprocess.Popen(
            [sys.executable, EMULATOR, "--port", "0", "--ready-file", ready, *args],
            stdout=subprocess.DEVNULL, stderr=self.stderr)
        deadline = time.time() + 20
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                self.stderr.seek(0)
                raise RuntimeError(f"emulator exited: {self.stderr.read()}")
            if time.time() > deadline:
                raise RuntimeError("emulator did not become ready")
            time.sleep(0.05)
        with open(ready) as f:
            self.url = f.read().strip()
        self.http = requests.Session()

    # -- raw HTTP --------------------------------------------------------------------------------
    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.http.get(self.url + path, timeout=10, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.http.post(self.url + path, timeout=10, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.http.delete(self.url + path, timeout=10, **kw)

    # -- admin -----------------------------------------------------------------------------------
    def script(self, **script: Any) -> Dict[str, Any]:
        r = self.post("/_emulator/script", json=script)
        assert r.status_code == 200, r.text
        return r.json()

    def reset(self) -> None:
        assert self.post("/_emulator/reset").status_code == 200

    def violations(self) -> List[dict]:
        return self.get("/_emulator/violations").json()["violations"]

    def requests_log(self) -> List[dict]:
        return self.get("/_emulator/requests", params={"log": "1", "limit": "2000"}).json()["log"]

    def counts(self) -> Dict[str, int]:
        return self.get("/_emulator/requests").json()["counts"]

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.stderr.seek(0)
        return self.stderr.read()


def _session_emu(request: pytest.FixtureRequest, args: List[str]) -> Emu:
    emu = Emu(args)

    def fin() -> None:
        err = emu.stop()
        assert "SCHEMA VIOLATION" not in err, err
        assert "Traceback" not in err, err

    request.addfinalizer(fin)
    return emu


@pytest.fixture(scope="session")
def _emu_single(request: pytest.FixtureRequest) -> Emu:
    return _session_emu(request, FAST)


@pytest.fixture(scope="session")
def _emu_old(request: pytest.FixtureRequest) -> Emu:
    return _session_emu(request, FAST + ["--version", "2.5.0"])


@pytest.fixture(scope="session")
def _emu_multi(request: pytest.FixtureRequest) -> Emu:
    return _session_emu(request, FAST + [
        "--multi-user",
        "--grant", f"{SA_A}=team-a",
        "--grant", f"{ALICE}=team-a",
        "--grant", f"{SA_B}=team-b",
        "--grant", f"{BOB}=team-b:view",
        "--token", f"{TOK_A}={SA_A}@pipelines.kubeflow.org",
        "--token", f"{TOK_A_K8S_AUD}={SA_A}@https://kubernetes.default.svc.cluster.local",
        "--token", f"{TOK_B}={SA_B}",
        "--cookie", f"{COOKIE_ALICE}={ALICE}",
        "--gateway-auth",
    ])


def _clean(emu: Emu) -> Emu:
    emu.reset()
    return emu


def _check(emu: Emu) -> None:
    v = emu.violations()
    assert v == [], f"emulator recorded schema violations: {v}"


@pytest.fixture
def emu(_emu_single: Emu):
    yield _clean(_emu_single)
    _check(_emu_single)


@pytest.fixture
def emu_old(_emu_old: Emu):
    yield _clean(_emu_old)
    _check(_emu_old)


@pytest.fixture
def emu_multi(_emu_multi: Emu):
    yield _clean(_emu_multi)
    _check(_emu_multi)


@pytest.fixture(autouse=True)
def _kfp_context(tmp_path, monkeypatch):
    """Keep the SDK away from ~/.config/kfp/context.json (and let a test write its own)."""
    import kfp
    ctx = tmp_path / "kfp-context.json"
    monkeypatch.setattr(kfp.Client, "_LOCAL_KFP_CONTEXT", str(ctx))
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    monkeypatch.delenv("KF_PIPELINES_DEFAULT_EXPERIMENT_NAME", raising=False)
    monkeypatch.delenv("KF_PIPELINES_OVERRIDE_EXPERIMENT_NAME", raising=False)
    return ctx


def wait_state(client: Any, run_id: str, states: set, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while True:
        run = client.get_run(run_id)
        if run.state in states:
            return run
        if time.time() > deadline:
            raise AssertionError(f"run {run_id} stayed {run.state}, wanted {states}")
        time.sleep(0.05)


def tasks_by_name(run: Any) -> Dict[str, Any]:
    details = (run.run_details.task_details if run.run_details else None) or []
    return {t.display_name: t for t in details}


def first(values: Optional[list]) -> Any:
    assert values, "expected a non-empty list"
    return values[0]
