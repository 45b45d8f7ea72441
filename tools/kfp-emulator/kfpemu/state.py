"""In-memory objects of the emulator and the simulated run lifecycle.

A run's whole future is planned when it is created (task order from the root DAG, scripted
outcome, timings); reading it later only evaluates that plan at the current time, so reads are
deterministic and no background thread is needed. Terminating a run cuts the plan at that time.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import itertools
import math
import random
import re
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from . import pipelinefile

INF = math.inf
EPOCH = "1970-01-01T00:00:00Z"

_seq = itertools.count(1)
_seq_lock = threading.Lock()


def next_seq() -> int:
    with _seq_lock:
        return next(_seq)


def new_id() -> str:
    return str(uuid.uuid4())


def rfc3339(ts: float) -> str:
    """Seconds precision with Z, like timestamps stored as Unix seconds in the KFP database."""
    return _dt.datetime.fromtimestamp(int(ts), tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float:
    t = text.strip().replace("z", "Z")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*T\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$", t)
    if m and m.group(2):  # fromisoformat in 3.11 accepts up to 6 fractional digits
        t = m.group(1) + m.group(2)[:7] + m.group(3)
    return _dt.datetime.fromisoformat(t).timestamp()


# ------------------------------------------------------------------------------------------------
# Objects
# ------------------------------------------------------------------------------------------------

@dataclass
class Experiment:
    experiment_id: str
    display_name: str
    description: str
    namespace: str
    created: float
    storage_state: str = "AVAILABLE"
    last_run_created: Optional[float] = None
    seq: int = field(default_factory=next_seq)

    def to_api(self) -> dict:
        return {
            "experiment_id": self.experiment_id,
            "display_name": self.display_name,
            "description": self.description,
            "created_at": rfc3339(self.created),
            "namespace": self.namespace,
            "storage_state": self.storage_state,
            "last_run_created_at": rfc3339(self.last_run_created) if self.last_run_created else None,
        }


@dataclass
class Pipeline:
    pipeline_id: str
    name: str
    display_name: str
    description: str
    namespace: str
    created: float
    tags: Dict[str, str] = field(default_factory=dict)
    seq: int = field(default_factory=next_seq)

    def to_api(self, with_name: bool = True) -> dict:
        out = {
            "pipeline_id": self.pipeline_id,
            "display_name": self.display_name,
            "description": self.description,
            "created_at": rfc3339(self.created),
            "namespace": self.namespace,
        }
        if with_name:
            out["name"] = self.name
            out["tags"] = dict(self.tags)
        return out


@dataclass
class PipelineVersion:
    pipeline_version_id: str
    pipeline_id: str
    name: str
    display_name: str
    description: str
    created: float
    spec: dict
    platform: Optional[dict]
    code_source_url: str = ""
    package_url: str = ""
    tags: Dict[str, str] = field(default_factory=dict)
    seq: int = field(default_factory=next_seq)

    def to_api(self, with_name: bool = True) -> dict:
        out = {
            "pipeline_id": self.pipeline_id,
            "pipeline_version_id": self.pipeline_version_id,
            "display_name": self.display_name,
            "description": self.description,
            "created_at": rfc3339(self.created),
            "code_source_url": self.code_source_url,
            "package_url": {"pipeline_url": self.package_url} if self.package_url else None,
            "pipeline_spec": pipelinefile.spec_struct(self.spec, self.platform),
        }
        if with_name:
            out["name"] = self.name
            out["tags"] = dict(self.tags)
        return out


@dataclass
class Outcome:
    """What a run will do. kind: succeed | fail | hang."""
    kind: str = "succeed"
    task: str = ""
    message: str = ""
    pending_s: float = 0.1
    task_s: float = 0.2
    cancel_s: float = 0.2
    source: str = "default"
    # Task name or key -> the pod name its task detail reports (a real pod a test made), instead
    # of an invented one.
    pods: dict = field(default_factory=dict)


@dataclass
class TaskPlan:
    task_id: str
    key: str
    name: str
    parent_id: str
    start: float
    end: float
    final: str
    error: str
    pod_name: str
    execution_id: str
    children: List["TaskPlan"] = field(default_factory=list)


@dataclass
class Run:
    run_id: str
    experiment_id: str
    namespace: str
    display_name: str
    description: str
    pipeline_spec: Optional[dict]
    version_ref: Optional[dict]
    deprecated_version_id: str
    runtime_config: Optional[dict]
    service_account: str
    created: float
    pipeline_name: str
    outcome: Outcome
    tasks: List[TaskPlan]
    run_start: float
    run_end: float
    run_final: str
    run_error: str
    context_ids: Tuple[str, str]
    storage_state: str = "AVAILABLE"
    terminated: Optional[float] = None
    seq: int = field(default_factory=next_seq)

    # -- lifecycle evaluation -------------------------------------------------------------------
    def state_at(self, now: float) -> Tuple[str, List[Tuple[float, str, str]], Optional[float]]:
        """(state, history [(abs time, state, error)], finished abs time or None)."""
        c = self.created
        hist: List[Tuple[float, str, str]] = [(c, "PENDING", "")]
        term = self.terminated
        cancel_s = self.outcome.cancel_s

        def cut(t_rel: float) -> bool:
            return term is not None and c + t_rel > term

        if now < c + self.run_start or cut(self.run_start):
            if term is not None and now >= term:
                hist.append((term, "CANCELING", ""))
                if now >= term + cancel_s:
                    hist.append((term + cancel_s, "CANCELED", ""))
                    return "CANCELED", hist, term + cancel_s
                return "CANCELING", hist, None
            return "PENDING", hist, None
        hist.append((c + self.run_start, "RUNNING", ""))
        if term is not None and now >= term and (self.run_end == INF or c + self.run_end > term):
            hist.append((term, "CANCELING", ""))
            if now >= term + cancel_s:
                hist.append((term + cancel_s, "CANCELED", ""))
                return "CANCELED", hist, term + cancel_s
            return "CANCELING", hist, None
        if self.run_end != INF and now >= c + self.run_end:
            hist.append((c + self.run_end, self.run_final, self.run_error))
            return self.run_final, hist, c + self.run_end
        return "RUNNING", hist, None

    def task_details(self, now: float) -> List[dict]:
        out: List[dict] = []
        for t in self.tasks:
            self._task(t, now, out)
        return out

    def _task(self, t: TaskPlan, now: float, out: List[dict]) -> None:
        c = self.created
        term = self.terminated
        start = c + t.start
        if now < start or (term is not None and start > term):
            return
        hist = [(start, "RUNNING", "")]
        state = "RUNNING"
        end_abs: Optional[float] = None
        err = ""
        end = c + t.end if t.end != INF else INF
        if term is not None and end > term:
            if now >= term + self.outcome.cancel_s:
                state, end_abs = "CANCELED", term + self.outcome.cancel_s
                err = "terminated by user"
                hist.append((end_abs, state, err))
        elif now >= end:
            state, end_abs, err = t.final, end, t.error
            hist.append((end, state, err))
        detail = {
            "run_id": self.run_id,
            "task_id": t.task_id,
            "display_name": t.name,
            "create_time": rfc3339(start),
            "start_time": rfc3339(start),
            "end_time": rfc3339(end_abs) if end_abs is not None else None,
            "state": state,
            "execution_id": t.execution_id,
            "pod_name": t.pod_name,
            "parent_task_id": t.parent_id,
            "error": {"code": 2, "message": err} if err and state in ("FAILED", "CANCELED") else None,
            "state_history": [
                {"update_time": rfc3339(ts), "state": st,
                 "error": {"code": 2, "message": e} if e else None}
                for ts, st, e in hist
            ],
            "child_tasks": [{"task_id": ch.task_id, "pod_name": ch.pod_name}
                            for ch in t.children if c + ch.start <= now] or None,
        }
        out.append(detail)
        for ch in t.children:
            self._task(ch, now, out)

    def to_api(self, now: float, epoch_unfinished: bool = True) -> dict:
        state, hist, finished = self.state_at(now)
        err = None
        if state == "FAILED" and self.run_error:
            err = {"code": 2, "message": self.run_error}
        return {
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "display_name": self.display_name,
            "storage_state": self.storage_state,
            "description": self.description,
            "pipeline_version_id": self.deprecated_version_id,
            "pipeline_spec": self.pipeline_spec,
            "pipeline_version_reference": self.version_ref,
            "runtime_config": self.runtime_config,
            "service_account": self.service_account,
            "created_at": rfc3339(self.created),
            "scheduled_at": rfc3339(self.created),
            "finished_at": rfc3339(finished) if finished else (EPOCH if epoch_unfinished else None),
            "state": state,
            "error": err,
            "run_details": {
                "pipeline_context_id": self.context_ids[0],
                "pipeline_run_context_id": self.context_ids[1],
                "task_details": self.task_details(now),
            },
            "state_history": [
                {"update_time": rfc3339(ts), "state": st,
                 "error": {"code": 2, "message": e} if e else None}
                for ts, st, e in hist
            ],
        }


# ------------------------------------------------------------------------------------------------
# Planning
# ------------------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[emu:([a-z_]+)(?:=([^\]]*))?\]")


def outcome_from_markers(text: str, base: Outcome) -> Optional[Outcome]:
    """Name markers: [emu:fail], [emu:fail=TASK], [emu:hang], [emu:hang=TASK], [emu:succeed],
    [emu:task_ms=N], [emu:pending_ms=N], [emu:cancel_ms=N], [emu:message=TEXT]."""
    found = _MARKER.findall(text or "")
    if not found:
        return None
    o = Outcome(**{**base.__dict__, "source": "name marker"})
    for key, val in found:
        if key in ("fail", "hang", "succeed"):
            o.kind = key
            o.task = val or ""
        elif key in ("task_ms", "pending_ms", "cancel_ms"):
            try:
                setattr(o, key.replace("_ms", "_s"), max(0.0, float(val) / 1000.0))
            except ValueError:
                pass
        elif key == "message":
            o.message = val
    return o


def _pod_name(workflow: str) -> str:
    return f"{workflow}-system-container-impl-{random.randint(10 ** 9, 10 ** 10 - 1)}"


def plan_run(run_id: str, spec: dict, outcome: Outcome) -> Tuple[List[TaskPlan], float, float, str, str]:
    """Returns (tasks, run_start, run_end, run_final, run_error); times relative to creation."""
    pname = pipelinefile.pipeline_name(spec) or "pipeline"
    wf = re.sub(r"[^a-z0-9-]", "-", pname.lower())[:40].strip("-") or "pipeline"
    wf = f"{wf}-{''.join(random.choices(string.ascii_lowercase + string.digits, k=5))}"
    tree = pipelinefile.task_tree(spec)
    leaves = [leaf for node in tree for leaf in node.leaves()]
    target_name = outcome.task
    target = None
    if outcome.kind in ("fail", "hang"):
        if target_name:
            for leaf in leaves:
                if target_name in (leaf.key, leaf.name):
                    target = leaf
                    break
            if target is None:  # scripted a task the pipeline lacks: fail/hang at the last leaf
                target = leaves[-1] if leaves else None
        elif leaves:
            target = leaves[-1] if outcome.kind == "fail" else leaves[0]
    t = outcome.pending_s
    run_start = outcome.pending_s
    stop = False
    failed_msg = ""

    def build(node: pipelinefile.TaskNode, parent_id: str) -> Optional[TaskPlan]:
        nonlocal t, stop, failed_msg
        if stop:
            return None
        tid = new_id()
        if node.children:
            tp = TaskPlan(tid, node.key, node.name, parent_id, t, t, "SUCCEEDED", "", "",
                          str(random.randint(1, 10 ** 6)))
            for ch in node.children:
                built = build(ch, tid)
                if built is not None:
                    tp.children.append(built)
            tp.end = max([c.end for c in tp.children] or [tp.start])
            if any(c.final == "FAILED" for c in tp.children):
                tp.final = "FAILED"
                tp.error = failed_msg
            return tp
        pod = outcome.pods.get(node.name) or outcome.pods.get(node.key) or _pod_name(wf)
        tp = TaskPlan(tid, node.key, node.name, parent_id, t, t + outcome.task_s, "SUCCEEDED", "",
                      pod, str(random.randint(1, 10 ** 6)))
        if node is target and outcome.kind == "hang":
            tp.end = INF
            stop = True
        elif node is target and outcome.kind == "fail":
            failed_msg = outcome.message or (
                f"task '{node.name}' failed: emulator scripted failure (exit code 1)")
            tp.final, tp.error = "FAILED", failed_msg
            stop = True
        t = tp.end if tp.end != INF else t
        return tp

    tasks: List[TaskPlan] = []
    for node in tree:
        built = build(node, "")
        if built is not None:
            tasks.append(built)
    if outcome.kind == "hang":
        return tasks, run_start, INF, "RUNNING", ""
    if outcome.kind == "fail":
        if not leaves:
            msg = outcome.message or "emulator scripted failure"
            return tasks, run_start, run_start + outcome.task_s, "FAILED", msg
        return tasks, run_start, t, "FAILED", failed_msg
    return tasks, run_start, max(t, run_start), "SUCCEEDED", ""


# ------------------------------------------------------------------------------------------------
# Scripts (admin endpoint) and the store
# ------------------------------------------------------------------------------------------------

@dataclass
class RunRule:
    match: str
    outcome: Outcome
    times: Optional[int] = None

    def matches(self, names: List[str]) -> bool:
        return any(n and (fnmatch.fnmatchcase(n, self.match) or n == self.match) for n in names)


@dataclass
class Fault:
    path: str
    method: str = "*"
    status: int = 503
    times: Optional[int] = 1
    message: str = ""
    body: Optional[str] = None
    content_type: str = "text/plain; charset=utf-8"
    # "before": close the connection without processing the request; "after": process it (the
    # object is stored) and then close the connection without an answer (a lost response).
    drop: Optional[str] = None
    # Matching requests let through untouched before the fault applies (skip 1 = the 2nd).
    skip: int = 0
    # Pad `body` with trailing spaces to this many bytes (a huge answer; JSON stays valid).
    pad_to: int = 0
    # How many times the fault has served; `{n}` in `body` is replaced by it.
    served: int = 0


@dataclass
class Delay:
    path: str
    method: str = "*"
    delay_s: float = 0.0
    times: Optional[int] = None


def path_matches(pattern: str, method_pattern: str, method: str, path: str, template: str) -> bool:
    if method_pattern not in ("*", "", method):
        return False
    return (fnmatch.fnmatchcase(path, pattern) or pattern == template
            or fnmatch.fnmatchcase(template, pattern))


class Recorded(dict):
    """An object table that remembers every id ever stored in it (with its display name), so
    tests can tell what was created even after it was deleted (`GET /_emulator/created`)."""

    def __init__(self, kind: str, history: List[dict]) -> None:
        super().__init__()
        self.kind = kind
        self.history = history

    def __setitem__(self, key: str, value: object) -> None:
        if key not in self:
            entry = {"kind": self.kind, "id": key,
                     "display_name": getattr(value, "display_name", "")}
            for parent in ("experiment_id", "pipeline_id"):
                if getattr(value, parent, None):
                    entry[parent] = getattr(value, parent)
            self.history.append(entry)
        super().__setitem__(key, value)


class Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.history: List[dict] = []
        self.experiments: Dict[str, Experiment] = Recorded("experiments", self.history)
        self.pipelines: Dict[str, Pipeline] = Recorded("pipelines", self.history)
        self.versions: Dict[str, PipelineVersion] = Recorded("pipeline_versions", self.history)
        self.runs: Dict[str, Run] = Recorded("runs", self.history)
        self.rules: List[RunRule] = []
        self.faults: List[Fault] = []
        self.delays: List[Delay] = []
        self.default_outcome = Outcome()

    def reset(self, default_outcome: Outcome) -> None:
        with self.lock:
            self.experiments.clear()
            self.pipelines.clear()
            self.versions.clear()
            self.runs.clear()
            self.history.clear()
            self.rules.clear()
            self.faults.clear()
            self.delays.clear()
            self.default_outcome = default_outcome

    def choose_outcome(self, names: List[str]) -> Outcome:
        with self.lock:
            for rule in self.rules:
                if rule.matches(names):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self.rules.remove(rule)
                    return Outcome(**rule.outcome.__dict__)
            for n in names:
                o = outcome_from_markers(n, self.default_outcome)
                if o is not None:
                    return o
            return Outcome(**self.default_outcome.__dict__)

    def created(self) -> List[dict]:
        """Every object ever created, oldest first, each with `deleted` (gone from its table)."""
        tables = {"experiments": self.experiments, "pipelines": self.pipelines,
                  "pipeline_versions": self.versions, "runs": self.runs}
        with self.lock:
            return [dict(e, deleted=e["id"] not in tables[e["kind"]]) for e in self.history]

    def take_fault(self, method: str, path: str, template: str) -> Optional[Fault]:
        with self.lock:
            for f in self.faults:
                if path_matches(f.path, f.method, method, path, template):
                    if f.skip > 0:
                        f.skip -= 1
                        return None
                    f.served += 1
                    if f.times is not None:
                        f.times -= 1
                        if f.times <= 0:
                            self.faults.remove(f)
                    return f
        return None

    def take_delay(self, method: str, path: str, template: str) -> float:
        with self.lock:
            for d in self.delays:
                if path_matches(d.path, d.method, method, path, template):
                    if d.times is not None:
                        d.times -= 1
                        if d.times <= 0:
                            self.delays.remove(d)
                    return d.delay_s
        return 0.0

    def now(self) -> float:
        return time.time()
