"""Load compiled pipeline YAML and write it back exactly as the SDK that made it would.

A fixture's ``patch(docs)`` edits the parsed documents; the result is serialised with the
same dumper and options as the SDK used, so the only textual difference is the patch
itself. ``roundtrip_is_exact`` proves that for the unpatched file first.
"""

from __future__ import annotations

import yaml

# kfp 1.8 writes a wall-clock timestamp into every Argo Workflow (in a flow-style mapping
# that may wrap lines, so it is removed from the parsed document, not from the text).
# Nothing reads it back; dropping it makes compiling twice give identical bytes.
_TIME_DEPENDENT_ANNOTATIONS = ('pipelines.kubeflow.org/pipeline_compilation_time',)


def normalise(docs: list) -> None:
    """Remove everything time-dependent from freshly compiled documents, in place."""
    for doc in docs:
        annotations = (doc.get('metadata') or {}).get('annotations') or {}
        for key in _TIME_DEPENDENT_ANNOTATIONS:
            annotations.pop(key, None)


def split_leading_comments(text: str) -> tuple[str, str]:
    """Split off the comment lines kfp 2 writes before the YAML (``# PIPELINE DEFINITION``...)."""
    lines = text.splitlines(keepends=True)
    count = 0
    while count < len(lines) and lines[count].startswith('#'):
        count += 1
    return ''.join(lines[:count]), ''.join(lines[count:])


def load(text: str) -> list:
    _, body = split_leading_comments(text)
    return [doc for doc in yaml.safe_load_all(body) if doc is not None]


def dump(flavor: str, docs: list, comments: str = '') -> str:
    if flavor == 'v2':
        # Same call as kfp.compiler.pipeline_spec_builder.write_pipeline_spec_to_file.
        return comments + yaml.dump_all(docs, sort_keys=True)
    if len(docs) != 1:
        raise ValueError(f'{flavor} output must be a single YAML document, got {len(docs)}')
    if flavor == 'v1':
        from kfp.components._yaml_utils import dump_yaml  # kfp 1.8 only
        return comments + dump_yaml(docs[0])
    if flavor == 'tekton':
        from kfp_tekton.compiler.yaml_utils import dump_yaml
        return comments + dump_yaml(docs[0])
    raise ValueError(f'unknown flavor {flavor!r}')


def roundtrip_is_exact(flavor: str, text: str) -> bool:
    comments, _ = split_leading_comments(text)
    return dump(flavor, load(text), comments) == text
