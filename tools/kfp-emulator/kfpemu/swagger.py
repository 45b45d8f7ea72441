"""Schemas from the KFP swagger files: strict validation, protojson-style input normalisation and
zero-value pruning of outputs.

Rules applied (brief §1.2):
* field names are the proto (snake_case) names; protojson also accepts lowerCamelCase on input,
  so inputs are normalised to snake_case before validation;
* unknown fields are rejected: every object schema that lists ``properties`` is made closed
  (``additionalProperties: false``) unless it is ``protobufAny`` (an ``Any`` carries the fields of
  the packed message next to ``@type``);
* a schema of ``type: object`` without ``properties`` is a ``google.protobuf.Struct``: free JSON;
* outputs omit zero values (``EmitUnpopulated: false``): empty strings, 0, false, empty lists and
  maps, the enum's zero value, and messages that end up empty.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
)
_INT64 = re.compile(r"^-?\d{1,19}$")

# Enums whose numbers are not their position in the swagger enum list (filter.proto has no 4).
ENUM_NUMBERS = {
    "v2beta1PredicateOperation": {
        0: "OPERATION_UNSPECIFIED", 1: "EQUALS", 2: "NOT_EQUALS", 3: "GREATER_THAN",
        5: "GREATER_THAN_EQUALS", 6: "LESS_THAN", 7: "LESS_THAN_EQUALS", 8: "IN",
        9: "IS_SUBSTRING",
    },
}

# Shapes the server really sends but the swagger does not describe (brief §1.3, §1.4, §1.9).
EXTRA_DEFINITIONS = {
    # HEAD healthzResponse in main.go: the swagger only lists multi_user/pipeline_store.
    "emuApiHealthz": {
        "type": "object",
        "properties": {
            "commit_sha": {"type": "string"},
            "tag_name": {"type": "string"},
            "multi_user": {"type": "boolean"},
            "pipeline_store": {"type": "string", "enum": ["database", "kubernetes"]},
        },
        "additionalProperties": False,
    },
    # frontend/server/handlers/healthz.ts (UI answers it, always HTTP 200).
    "emuUiHealthz": {
        "type": "object",
        "properties": {
            "apiServerCommitHash": {"type": "string"},
            "apiServerTagName": {"type": "string"},
            "apiServerMultiUser": {"type": "boolean"},
            "multi_user": {"type": "boolean"},
            "apiServerReady": {"type": "boolean"},
            "buildDate": {"type": "string"},
            "frontendCommitHash": {"type": "string"},
            "frontendTagName": {"type": "string"},
            "pipelineStore": {"type": "string"},
        },
        "required": ["apiServerReady"],
        "additionalProperties": False,
    },
    # pipeline_upload_server.go writeErrorToResponse marshals apiv1beta1.Error.
    "emuUploadError": {
        "type": "object",
        "properties": {
            "error_message": {"type": "string"},
            "error_details": {"type": "string"},
        },
        "required": ["error_message"],
        "additionalProperties": False,
    },
    # grpc-gateway v1 DefaultHTTPError body (KFP <= 2.5).
    "emuOldRpcStatus": {
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "integer", "format": "int32"},
            "message": {"type": "string"},
            "details": {"type": "array", "items": {"$ref": "#/definitions/protobufAny"}},
        },
        "required": ["error", "code", "message"],
        "additionalProperties": False,
    },
    "emuEmpty": {"type": "object", "properties": {}, "additionalProperties": False},
}

OPEN_DEFINITIONS = {"protobufAny"}


def _version_tuple(v: str) -> Tuple[int, int, int]:
    parts = re.findall(r"\d+", v)[:3]
    while len(parts) < 3:
        parts.append("0")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def fields_absent_in(version: str) -> Dict[str, List[str]]:
    """Fields that a server of ``version`` does not know (brief: name from 2.14, tags later)."""
    if _version_tuple(version) < (2, 14, 0):
        return {
            "v2beta1Pipeline": ["name", "tags"],
            "v2beta1PipelineVersion": ["name", "tags"],
            "v2beta1Run": ["plugins_input", "plugins_output"],
        }
    return {}


def _close(node: Any, in_open: bool = False) -> None:
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node and not in_open:
            node["additionalProperties"] = False
        for key in ("properties",):
            for sub in node.get(key, {}).values():
                _close(sub)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                _close(node[key])
        for key in ("allOf", "anyOf", "oneOf"):
            for sub in node.get(key, []):
                _close(sub)


def _make_format_checker(strict_int64: bool) -> FormatChecker:
    fc = FormatChecker(formats=())

    @fc.checks("date-time")
    def _dt(value: Any) -> bool:
        return not isinstance(value, str) or bool(RFC3339.match(value))

    @fc.checks("int64")
    def _i64(value: Any) -> bool:
        if isinstance(value, str):
            return bool(_INT64.match(value))
        if isinstance(value, bool):
            return True
        if isinstance(value, int):
            # protojson writes int64 as a JSON string; it reads either form.
            return not strict_int64
        return True

    @fc.checks("int32")
    def _i32(value: Any) -> bool:
        if isinstance(value, int) and not isinstance(value, bool):
            return -(2 ** 31) <= value < 2 ** 31
        return True

    @fc.checks("byte")
    def _b64(value: Any) -> bool:
        if not isinstance(value, str):
            return True
        try:
            base64.b64decode(value + "=" * (-len(value) % 4), validate=False)
            return True
        except Exception:  # noqa: BLE001
            return False

    return fc


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class Swagger:
    """One swagger file, made strict, with per-definition validators."""

    def __init__(self, path: str, version: str = "2.17.0"):
        with open(path, "r", encoding="utf-8") as f:
            doc = json.load(f)
        self.path = path
        self.raw = doc
        self.uri = "urn:kfpemu:" + os.path.basename(path)
        defs = copy.deepcopy(doc["definitions"])
        for name, fields in fields_absent_in(version).items():
            if name in defs:
                for field in fields:
                    defs[name].get("properties", {}).pop(field, None)
        for name, schema in EXTRA_DEFINITIONS.items():
            defs.setdefault(name, copy.deepcopy(schema))
        for name, schema in defs.items():
            _close(schema, in_open=name in OPEN_DEFINITIONS)
        self.defs = defs
        resource = Resource(contents={"definitions": defs}, specification=DRAFT4)
        self.registry = Registry().with_resource(self.uri, resource)
        self._validators: Dict[Tuple[str, bool], Draft4Validator] = {}
        self._fc_strict = _make_format_checker(strict_int64=True)
        self._fc_lenient = _make_format_checker(strict_int64=False)

    # ---- schema navigation -------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.defs

    def resolve(self, schema: Optional[dict]) -> Tuple[Optional[dict], Optional[str]]:
        """Follow $ref; returns (schema, definition name or None)."""
        name = None
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 20:
            ref = schema["$ref"]
            name = ref.rsplit("/", 1)[-1]
            schema = self.defs.get(name)
            seen += 1
        return schema, name

    @staticmethod
    def is_free(schema: Optional[dict]) -> bool:
        """google.protobuf.Struct / Value: type object (or nothing) without properties."""
        if not isinstance(schema, dict):
            return True
        if "$ref" in schema:
            return False
        if "properties" in schema:
            return False
        if isinstance(schema.get("additionalProperties"), dict):
            return False
        t = schema.get("type")
        return t in (None, "object") and "enum" not in schema and "items" not in schema

    # ---- validation --------------------------------------------------------------------------
    def validator(self, name: str, response: bool) -> Draft4Validator:
        key = (name, response)
        v = self._validators.get(key)
        if v is None:
            schema = {"$ref": f"{self.uri}#/definitions/{name}"}
            v = Draft4Validator(
                schema,
                registry=self.registry,
                format_checker=self._fc_strict if response else self._fc_lenient,
            )
            self._validators[key] = v
        return v

    def errors(self, name: str, instance: Any, response: bool) -> List[str]:
        out = []
        for err in sorted(self.validator(name, response).iter_errors(instance),
                          key=lambda e: list(e.absolute_path)):
            where = "/".join(str(p) for p in err.absolute_path) or "<root>"
            out.append(f"{where}: {err.message}")
        return out

    # ---- input normalisation (protojson parse rules) -------------------------------------------
    def normalize(self, name: str, instance: Any) -> Tuple[Any, List[str]]:
        """Rename lowerCamelCase keys to proto names and numeric enums to names.

        Returns (normalised instance, errors). Errors name unknown fields like protojson does.
        """
        errors: List[str] = []
        out = self._norm({"$ref": f"#/definitions/{name}"}, instance, "", errors)
        return out, errors

    def _norm(self, schema: Optional[dict], value: Any, path: str, errors: List[str]) -> Any:
        schema, defname = self.resolve(schema)
        if schema is None or value is None:
            return value
        if "enum" in schema:
            if isinstance(value, int) and not isinstance(value, bool):
                table = ENUM_NUMBERS.get(defname or "")
                if table is not None:
                    return table.get(value, value)
                if 0 <= value < len(schema["enum"]):
                    return schema["enum"][value]
            return value
        if self.is_free(schema):
            return value
        if isinstance(value, dict) and "properties" in schema:
            props = schema["properties"]
            out: Dict[str, Any] = {}
            for key, sub in value.items():
                target = key
                if key not in props:
                    alt = snake(key)
                    if alt in props:
                        target = alt
                    else:
                        errors.append(f'unknown field "{key}"' + (f" in {path}" if path else ""))
                        continue
                if target in out:
                    errors.append(f'duplicate field "{target}"')
                    continue
                out[target] = self._norm(props[target], sub, f"{path}.{target}".lstrip("."), errors)
            return out
        if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
            return {k: self._norm(sub, v, f"{path}[{k}]", errors) for k, v in value.items()}
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self._norm(schema["items"], v, f"{path}[{i}]", errors)
                    for i, v in enumerate(value)]
        return value

    # ---- output pruning (EmitUnpopulated: false) -----------------------------------------------
    def prune(self, name: str, instance: Any) -> Any:
        out = self._prune({"$ref": f"#/definitions/{name}"}, instance)
        return {} if out is _ZERO else out

    def _prune(self, schema: Optional[dict], value: Any) -> Any:
        schema, _ = self.resolve(schema)
        if value is None:
            return _ZERO
        if schema is None:
            return value
        if "enum" in schema:
            zero = schema.get("default", schema["enum"][0] if schema["enum"] else None)
            return _ZERO if value == zero else value
        if self.is_free(schema):
            return value
        if isinstance(value, dict) and "properties" in schema:
            props = schema["properties"]
            out = {}
            for k, v in value.items():
                pv = self._prune(props.get(k), v)
                if not _is_zero(pv):
                    out[k] = pv
            return out if out else _ZERO
        if isinstance(value, dict) and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
            out = {}
            for k, v in value.items():
                pv = self._prune(sub, v)
                out[k] = {} if pv is _ZERO and isinstance(v, dict) else (v if pv is _ZERO else pv)
            return out if out else _ZERO
        if isinstance(value, list):
            items = schema.get("items")
            out_list = []
            for v in value:
                pv = self._prune(items, v)
                out_list.append({} if pv is _ZERO and isinstance(v, dict) else (v if pv is _ZERO else pv))
            return out_list if out_list else _ZERO
        return _ZERO if _is_zero(value) else value


class _Zero:
    def __repr__(self) -> str:
        return "<zero>"


_ZERO = _Zero()


def _is_zero(v: Any) -> bool:
    if v is _ZERO or v is None:
        return True
    if isinstance(v, bool):
        return v is False
    if isinstance(v, (int, float)):
        return v == 0
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    return False
