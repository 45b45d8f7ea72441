"""Where pipeline sources live and which YAML file each one produces.

Sources (one pipeline per file, file stem = output stem):

* ``checks/pipelines/src/<name>.py``                 -> ``checks/pipelines/<name>.yaml`` (KFP v2)
* ``fixtures/pipelines/src/<flavor>/<kind>/<name>.py`` -> ``fixtures/pipelines/<flavor>/<kind>/<name>.yaml``

where ``<flavor>`` is ``v2`` (kfp 2 IR), ``v1`` (kfp 1.8 Argo Workflow) or ``tekton``
(kfp-tekton PipelineRun) and ``<kind>`` is ``pass`` or ``fail``. Files whose name starts
with ``_`` are shared helpers, not pipelines (``fixtures/pipelines/src/_kfp2.py`` for v2,
``_kfp1.py`` for v1 and tekton, which share the kfp 1.8 DSL). Every ``*.yaml`` in the output folders is
generated: one without a source is reported as extra and removed on regeneration.

This module must import under both venvs (kfp 2 and kfp 1.8), so it uses the standard
library only.
"""

from __future__ import annotations

import dataclasses
import pathlib

FLAVORS = ('v2', 'v1', 'tekton')

# Which venv (relative to the repository root) compiles each flavor.
VENV_FOR_FLAVOR = {'v2': '.venv', 'v1': '.venv-kfp1', 'tekton': '.venv-kfp1'}

SAMPLES_SRC = 'checks/pipelines/src'
SAMPLES_OUT = 'checks/pipelines'
FIXTURES_SRC = 'fixtures/pipelines/src'
FIXTURES_OUT = 'fixtures/pipelines'


@dataclasses.dataclass(frozen=True)
class Source:
    """One pipeline source file and the compiled file it produces (repo-relative paths)."""

    path: str
    flavor: str
    output: str
    # Folder put on sys.path while the source runs, so it can import shared helpers
    # such as ``_common.py``.
    import_root: str


def discover(root: pathlib.Path) -> list[Source]:
    """Every pipeline source in the repository, sorted by path."""
    sources = []
    for path in sorted((root / SAMPLES_SRC).glob('*.py')):
        if path.name.startswith('_'):
            continue
        sources.append(
            Source(
                path=_rel(root, path),
                flavor='v2',
                output=f'{SAMPLES_OUT}/{path.stem}.yaml',
                import_root=SAMPLES_SRC,
            ))
    for flavor in FLAVORS:
        flavor_root = root / FIXTURES_SRC / flavor
        for path in sorted(flavor_root.glob('*/*.py')):
            if path.name.startswith('_'):
                continue
            kind = path.parent.name
            sources.append(
                Source(
                    path=_rel(root, path),
                    flavor=flavor,
                    output=f'{FIXTURES_OUT}/{flavor}/{kind}/{path.stem}.yaml',
                    import_root=FIXTURES_SRC,
                ))
    return sources


def by_path(root: pathlib.Path) -> dict[str, Source]:
    return {source.path: source for source in discover(root)}


def existing_outputs(root: pathlib.Path) -> list[str]:
    """Every generated-looking YAML file present in the output folders (repo-relative)."""
    found = set()
    for pattern in ('*.yaml', '*.yml'):
        for path in (root / SAMPLES_OUT).glob(pattern):
            found.add(_rel(root, path))
        for flavor in FLAVORS:
            for path in (root / FIXTURES_OUT / flavor).rglob(pattern):
                found.add(_rel(root, path))
    return sorted(found)


def _rel(root: pathlib.Path, path: pathlib.Path) -> str:
    return path.relative_to(root).as_posix()
