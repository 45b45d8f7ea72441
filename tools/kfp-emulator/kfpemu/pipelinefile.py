"""Reading uploaded pipeline packages and turning a KFP v2 IR into a task plan."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from typing import Any, Dict, List, Optional, Tuple

import yaml

MAX_FILE_LENGTH = 32 << 20  # common/const.go MaxFileLength


class PipelineFileError(Exception):
    pass


def read_pipeline_file(filename: str, data: bytes) -> bytes:
    """Mirror of ReadPipelineFile (server/util.go): pick the parser from the filename, else sniff."""
    if len(data) > MAX_FILE_LENGTH:
        raise PipelineFileError(
            f"File size too large. Maximum supported size: {MAX_FILE_LENGTH}")
    lower = (filename or "").lower()
    if lower.endswith((".yaml", ".yml", ".json")):
        return data
    if data[:4] == b"PK\x03\x04":
        return _from_zip(data)
    if data[:2] == b"\x1f\x8b":
        return _from_targz(data)
    raise PipelineFileError(
        "Unexpected pipeline file format. Support .zip, .tar.gz, .json or YAML.")


def _from_zip(data: bytes) -> bytes:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise PipelineFileError(
                    "Invalid zip file: the archive should contain exactly one file")
            return zf.read(names[0])
    except zipfile.BadZipFile as e:
        raise PipelineFileError(f"Not a valid zip file: {e}") from e


def _from_targz(data: bytes) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tf:
            members = [m for m in tf.getmembers() if m.isfile()]
            if len(members) != 1:
                raise PipelineFileError(
                    "Invalid tar.gz file: the archive should contain exactly one file")
            f = tf.extractfile(members[0])
            return f.read() if f else b""
    except tarfile.TarError as e:
        raise PipelineFileError(f"Not a valid tar.gz file: {e}") from e


def parse_documents(data: bytes) -> Tuple[dict, Optional[dict]]:
    """Return (pipeline_spec, platform_spec or None) from a compiled v2 YAML/JSON."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PipelineFileError(f"pipeline file is not UTF-8: {e}") from e
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise PipelineFileError(f"Failed to unmarshal pipeline file: {e}") from e
    if not docs:
        raise PipelineFileError("Failed to unmarshal pipeline file: empty document")
    if len(docs) > 2:
        raise PipelineFileError("Invalid pipeline file: more than two YAML documents")
    spec = docs[0]
    if not isinstance(spec, dict):
        raise PipelineFileError("Invalid pipeline spec: document is not a mapping")
    if spec.get("kind") == "Workflow" or spec.get("kind") == "PipelineRun":
        raise PipelineFileError(
            "Unsupported pipeline file: v1 Argo/Tekton workflows are not accepted by this "
            "emulator (KFP v2 IR only)")
    check_spec(spec)
    platform = docs[1] if len(docs) == 2 else None
    if platform is not None and (not isinstance(platform, dict) or "platforms" not in platform):
        raise PipelineFileError("Invalid platform spec: second document lacks 'platforms'")
    return _jsonable(spec), _jsonable(platform) if platform is not None else None


def _jsonable(obj: Any) -> Any:
    # YAML may carry dates or other non-JSON scalars; round-trip through JSON text.
    return json.loads(json.dumps(obj, default=str))


def check_spec(spec: Any) -> None:
    if not isinstance(spec, dict):
        raise PipelineFileError("Invalid pipeline spec: not an object")
    info = spec.get("pipelineInfo") or spec.get("pipeline_info")
    if not isinstance(info, dict) or not info.get("name"):
        raise PipelineFileError("Invalid pipeline spec: pipelineInfo.name is missing")
    root = spec.get("root")
    if not isinstance(root, dict):
        raise PipelineFileError("Invalid pipeline spec: root is missing")


def split_run_spec(struct: Any) -> Tuple[dict, Optional[dict]]:
    """Run.pipeline_spec is either the bare PipelineSpec or the SDK wrapper
    {"pipeline_spec": {...}, "platform_spec": {...}} (brief §1.7)."""
    if not isinstance(struct, dict):
        raise PipelineFileError("pipeline_spec must be an object")
    keys = set(struct.keys())
    if "pipeline_spec" in keys or "platform_spec" in keys:
        extra = keys - {"pipeline_spec", "platform_spec"}
        if extra:
            raise PipelineFileError(
                f"pipeline_spec wrapper has unexpected keys {sorted(extra)}; expected only "
                "pipeline_spec and platform_spec")
        inner = struct.get("pipeline_spec")
        check_spec(inner)
        platform = struct.get("platform_spec")
        if platform is not None and not isinstance(platform, dict):
            raise PipelineFileError("platform_spec must be an object")
        return inner, platform
    if "platforms" in keys:
        raise PipelineFileError(
            "pipeline_spec looks like a platform spec; wrap both documents as "
            '{"pipeline_spec": ..., "platform_spec": ...}')
    check_spec(struct)
    return struct, None


def spec_struct(spec: dict, platform: Optional[dict]) -> dict:
    """The Struct the server stores and returns (wrapper only when a platform spec exists)."""
    if platform:
        return {"pipeline_spec": spec, "platform_spec": platform}
    return spec


def pipeline_name(spec: dict) -> str:
    info = spec.get("pipelineInfo") or spec.get("pipeline_info") or {}
    return str(info.get("name", ""))


class TaskNode:
    """One task of the IR: key in its DAG, display name, children when its component is a DAG."""

    def __init__(self, key: str, name: str, children: Optional[List["TaskNode"]] = None):
        self.key = key
        self.name = name
        self.children = children or []

    def leaves(self) -> List["TaskNode"]:
        if not self.children:
            return [self]
        out: List[TaskNode] = []
        for c in self.children:
            out.extend(c.leaves())
        return out


def task_tree(spec: dict) -> List[TaskNode]:
    """Tasks of the root DAG in dependency order; sub-DAG components expand into children."""
    components = spec.get("components") or {}
    root = spec.get("root") or {}
    return _dag_tasks((root.get("dag") or {}).get("tasks") or {}, components, depth=0)


def _dag_tasks(tasks: Dict[str, Any], components: Dict[str, Any], depth: int) -> List[TaskNode]:
    if depth > 10:
        return []
    order = _topo(tasks)
    out = []
    for key in order:
        t = tasks.get(key) or {}
        name = ((t.get("taskInfo") or {}).get("name")) or key
        comp_name = ((t.get("componentRef") or {}).get("name")) or ""
        comp = components.get(comp_name) or {}
        children: List[TaskNode] = []
        if isinstance(comp.get("dag"), dict):
            children = _dag_tasks(comp["dag"].get("tasks") or {}, components, depth + 1)
        out.append(TaskNode(key, name, children))
    return out


def _topo(tasks: Dict[str, Any]) -> List[str]:
    remaining = {k: set((v or {}).get("dependentTasks") or []) & set(tasks) for k, v in tasks.items()}
    order: List[str] = []
    while remaining:
        ready = sorted(k for k, deps in remaining.items() if not deps)
        if not ready:  # cycle: keep going in name order rather than hang
            ready = sorted(remaining)[:1]
        for k in ready:
            order.append(k)
            remaining.pop(k)
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
