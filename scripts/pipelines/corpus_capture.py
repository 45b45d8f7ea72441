"""pytest plugin for scripts/sdk-corpus: keep every pipeline the kfp SDK's own tests compile.

Loaded with ``-p pipelines.corpus_capture`` while pytest runs the unit tests shipped in the
kfp sdist against the installed (pinned) kfp. It wraps ``kfp.compiler.Compiler.compile``:
each successful call's output file is kept, each failing call is recorded (many tests
expect a compile error). At the end of the session it also compiles every pipeline or
component defined at module level in those test files, which tests may only inspect
in memory, and every pipeline defined in the extra files listed in
``$KFCHECK_CORPUS_MODULES`` (``test_data`` pipelines, when an sdist ships them). Results go
to ``$KFCHECK_CORPUS_OUT``:

* ``compiled/<test id>.<yaml|yml|json>``: one file per distinct output (by content)
* ``index.json``: ``{"compiled": [{"file", "test", "sha256"}], "failed": [{"test", "error"}],
  "duplicates": n, "tests": {"collected": n, "failed": n}}``
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pathlib
import re
import sys
import tempfile

import kfp.compiler
from kfp.dsl import base_component

_OUT = pathlib.Path(os.environ['KFCHECK_CORPUS_OUT'])
_SRC = pathlib.Path(os.environ['KFCHECK_CORPUS_SRC']).resolve()
_EXTENSIONS = ('.yaml', '.yml', '.json')

_compiled: list[tuple[str, str, bytes]] = []  # (test id, extension, content)
_failed: list[dict] = []
_original_compile = kfp.compiler.Compiler.compile


def _current_test() -> str:
    return os.environ.get('PYTEST_CURRENT_TEST', 'collection').rsplit(' ', 1)[0]


def _record(test: str, package_path) -> None:
    path = pathlib.Path(str(package_path))
    if path.suffix in _EXTENSIONS and path.is_file():
        _compiled.append((test, path.suffix, path.read_bytes()))


def _capturing_compile(self, pipeline_func, package_path, *args, **kwargs):
    test = _current_test()
    try:
        result = _original_compile(self, pipeline_func, package_path, *args, **kwargs)
    except Exception as error:
        _failed.append({'test': test, 'error': f'{type(error).__name__}: {error}'[:300]})
        raise
    _record(test, package_path)
    return result


kfp.compiler.Compiler.compile = _capturing_compile


def _import_extra_modules() -> list:
    modules = []
    files = [f for f in os.environ.get('KFCHECK_CORPUS_MODULES', '').split(os.pathsep) if f]
    for index, file in enumerate(files):
        spec = importlib.util.spec_from_file_location(f'kfcheck_corpus_extra_{index}', file)
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            _failed.append({'test': f'{_relative(file)} (import)',
                            'error': f'{type(error).__name__}: {error}'[:300]})
            continue
        modules.append(module)
    return modules


def _relative(file: str) -> str:
    try:
        return pathlib.Path(file).resolve().relative_to(_SRC).as_posix()
    except ValueError:
        return file


def _module_level_components():
    """(test id, component) for components defined at module level in the SDK's test files
    (already imported by pytest) and in the extra modules."""
    modules = [module for _, module in sorted(sys.modules.items())
               if (getattr(module, '__file__', None) or '').endswith('_test.py')
               and _relative(module.__file__) != module.__file__]
    for module in modules + _import_extra_modules():
        rel = _relative(module.__file__)
        for attr, value in sorted(vars(module).items()):
            if isinstance(value, base_component.BaseComponent):
                yield f'{rel}::{attr}', value


def _compile_module_level() -> None:
    with tempfile.TemporaryDirectory(prefix='kfcheck-corpus-') as tmp:
        for index, (test, component) in enumerate(_module_level_components()):
            package_path = os.path.join(tmp, f'{index}.yaml')
            try:
                _original_compile(kfp.compiler.Compiler(), component, package_path)
            except Exception as error:
                _failed.append({'test': test, 'error': f'{type(error).__name__}: {error}'[:300]})
                continue
            _record(test, package_path)


def _file_name(test: str, extension: str, taken: set[str]) -> str:
    stem = re.sub(r'^kfp/', '', test).replace('.py::', '.').replace('::', '.')
    stem = re.sub(r'[^A-Za-z0-9._-]+', '_', stem.replace('/', '.'))[:150].strip('._')
    name, count = f'{stem}{extension}', 1
    while name in taken:
        count += 1
        name = f'{stem}--{count}{extension}'
    taken.add(name)
    return name


def pytest_sessionfinish(session, exitstatus):
    _compile_module_level()
    compiled_dir = _OUT / 'compiled'
    compiled_dir.mkdir(parents=True, exist_ok=True)
    seen, taken, index, duplicates = set(), set(), [], 0
    for test, extension, content in _compiled:
        digest = hashlib.sha256(content).hexdigest()
        if digest in seen:
            duplicates += 1
            continue
        seen.add(digest)
        name = _file_name(test, extension, taken)
        (compiled_dir / name).write_bytes(content)
        index.append({'file': f'compiled/{name}', 'test': test, 'sha256': digest})
    (_OUT / 'index.json').write_text(
        json.dumps({'compiled': index, 'failed': _failed, 'duplicates': duplicates,
                    'tests': {'collected': session.testscollected,
                              'failed': session.testsfailed}}, indent=1) + '\n')
