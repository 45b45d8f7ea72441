"""Build a corpus of real compiled pipelines from the kfp SDK's own tests.

Usage: scripts/sdk-corpus [OUT_DIR]   (default: target/sdk-corpus at the repository root)

The kfp and kfp-kubernetes sdists (versions pinned in scripts/requirements/kfp2.txt,
downloaded with ``pip download --no-binary :all:`` through pip's cache) do not ship the
SDK's ``test_data`` pipelines or compiled YAML, but the kfp sdist does ship the SDK's unit
tests (``kfp/**/*_test.py``), which define and compile well over a hundred pipelines and
components. This script runs those tests with the pinned kfp from .venv under a pytest
plugin (``corpus_capture.py``) that keeps every file ``Compiler.compile`` writes, plus
module-level pipelines that tests only build in memory. Whatever compiled YAML or
``test_data`` pipeline sources a future sdist ships is used too.

Output in OUT_DIR: ``compiled/*.yaml|yml|json`` (one file per distinct output, named after
the test), ``shipped/<sdist>/...`` (compiled YAML found in the sdists), ``index.json``
(file -> test, and the compile calls that failed). ``.work/`` keeps downloads and tools.
A failing SDK test or compile call is expected (some need network access or files the
sdist lacks, many test compile errors on purpose); they are listed, not fatal.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / 'scripts' / 'requirements'
# Running components locally (subprocess/docker) is not compiling; skip those tests.
IGNORED_TEST_DIRS = ('kfp/local',)
TEST_DATA_DIRS = {'test_data', 'testdata'}


def _pinned(package: str) -> str:
    text = (REQUIREMENTS / 'kfp2.txt').read_text()
    match = re.search(rf'^{re.escape(package)}==(\S+)', text, re.MULTILINE)
    if not match:
        raise SystemExit(f'sdk-corpus: no {package}== pin in scripts/requirements/kfp2.txt')
    return match.group(1)


def _run(cmd: list, **kwargs) -> None:
    subprocess.run([str(part) for part in cmd], check=True, **kwargs)


def _download(work: pathlib.Path, specs: list[str]) -> list[pathlib.Path]:
    sdists = work / 'sdists'
    sdists.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, '-m', 'pip', 'download', '--quiet', '--disable-pip-version-check',
          '--no-binary', ':all:', '--no-deps', '--dest', sdists, *specs])
    found = []
    for spec in specs:
        name, version = spec.split('==')
        pattern = re.compile(rf'^{re.sub(r"[-_.]+", "[-_.]", name)}-{re.escape(version)}\.tar\.gz$',
                             re.IGNORECASE)
        matches = [path for path in sdists.iterdir() if pattern.match(path.name)]
        if not matches:
            raise SystemExit(f'sdk-corpus: pip download gave no sdist for {spec}')
        found.append(matches[0])
    return found


def _extract(sdist: pathlib.Path, into: pathlib.Path) -> pathlib.Path:
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split('/')[0]
        target = into / top
        shutil.rmtree(target, ignore_errors=True)
        archive.extractall(into, filter='data')
    return target


def _install_test_tools(work: pathlib.Path) -> pathlib.Path:
    """pytest and absl-py (the SDK tests' runner and helpers) go into a --target folder,
    so .venv keeps exactly its pins."""
    requirements = REQUIREMENTS / 'sdk-corpus.txt'
    tools = work / 'tools'
    stamp = tools / '.kfcheck-stamp'
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == digest:
        return tools
    shutil.rmtree(tools, ignore_errors=True)
    _run([sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
          '--no-deps', '--target', tools, '-r', requirements])
    stamp.write_text(digest)
    return tools


def _looks_compiled(path: pathlib.Path) -> bool:
    try:
        docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    except (yaml.YAMLError, UnicodeDecodeError):
        return False
    first = docs[0] if docs else None
    return isinstance(first, dict) and (
        ('pipelineInfo' in first and 'root' in first)
        or first.get('kind') in ('Workflow', 'PipelineRun'))


def _shipped(trees: list[pathlib.Path], out: pathlib.Path):
    """Copy compiled pipeline YAML shipped in the sdists; return (copied, test_data .py files)."""
    copied, sources = [], []
    for tree in trees:
        for path in sorted(tree.rglob('*')):
            if not path.is_file():
                continue
            rel = path.relative_to(tree)
            if path.suffix in ('.yaml', '.yml') and _looks_compiled(path):
                target = out / 'shipped' / tree.name / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
                copied.append(f'{tree.name}/{rel.as_posix()}')
            elif path.suffix == '.py' and TEST_DATA_DIRS & set(rel.parts[:-1]):
                sources.append(path)
    return copied, sources


def main(argv: list[str]) -> int:
    if len(argv) > 1 or (argv and argv[0] in ('-h', '--help')):
        print(__doc__.split('\n\n')[1])
        return 0 if argv and argv[0] in ('-h', '--help') else 2
    out = pathlib.Path(argv[0]).resolve() if argv else ROOT / 'target' / 'sdk-corpus'
    work = out / '.work'
    for stale in ('compiled', 'shipped', 'index.json'):
        path = out / stale
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    specs = [f'kfp=={_pinned("kfp")}', f'kfp-kubernetes=={_pinned("kfp-kubernetes")}']
    print(f'sdk-corpus: sdists {", ".join(specs)}', flush=True)
    trees = [_extract(sdist, work / 'src') for sdist in _download(work, specs)]
    copied, data_sources = _shipped(trees, out)
    tests = {tree.name: sorted(p for p in tree.rglob('*_test.py')
                               if not any(p.relative_to(tree).as_posix().startswith(d + '/')
                                          for d in IGNORED_TEST_DIRS))
             for tree in trees}
    for tree in trees:
        print(f'sdk-corpus: {tree.name}: {len(tests[tree.name])} test files, '
              f'{sum(1 for c in copied if c.startswith(tree.name + "/"))} compiled YAML files '
              f'shipped, {sum(1 for s in data_sources if tree in s.parents)} test_data '
              'pipeline sources', flush=True)

    kfp_tree = trees[0]
    tools = _install_test_tools(work)
    env = dict(os.environ)
    env.update({
        'PYTHONPATH': os.pathsep.join([str(tools), str(ROOT / 'scripts')]),
        'PYTHONDONTWRITEBYTECODE': '1',
        'KFCHECK_CORPUS_OUT': str(out),
        'KFCHECK_CORPUS_SRC': str(kfp_tree),
        'KFCHECK_CORPUS_MODULES': os.pathsep.join(str(p) for p in data_sources),
    })
    test_files = [str(p.relative_to(kfp_tree)) for tree in trees for p in tests[tree.name]
                  if tree == kfp_tree]
    log = work / 'pytest.log'
    with open(log, 'w') as handle:
        # --import-mode=importlib keeps the sdist's kfp/ off sys.path, so the tests import
        # the installed, pinned kfp (which also has kfp.kubernetes).
        status = subprocess.call(
            [sys.executable, '-m', 'pytest', '-p', 'pipelines.corpus_capture',
             '-p', 'no:cacheprovider', '--import-mode=importlib', '-q', '-W', 'ignore',
             '--continue-on-collection-errors', *test_files],
            cwd=kfp_tree, env=env, stdout=handle, stderr=subprocess.STDOUT)
    index_path = out / 'index.json'
    if status not in (0, 1) or not index_path.is_file():
        print(f'sdk-corpus: pytest could not run the SDK tests (exit {status}); see {log}',
              file=sys.stderr)
        return 1
    index = json.loads(index_path.read_text())
    print(f'sdk-corpus: ran the SDK\'s tests: {index["tests"]["collected"]} collected, '
          f'{index["tests"]["failed"]} failed (network access or files the sdist lacks; '
          f'log in {log.relative_to(out)})')
    print(f'sdk-corpus: compiled {len(index["compiled"])} distinct pipelines '
          f'({index["duplicates"]} identical repeats skipped); '
          f'{len(index["failed"])} compile calls failed:')
    for failure in index['failed']:
        print(f'  failed: {failure["test"]}: {failure["error"].splitlines()[0][:160]}')
    for path in copied:
        print(f'  shipped: {path}')
    print(f'sdk-corpus: {len(index["compiled"]) + len(copied)} files in '
          f'{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}')
    return 0 if index['compiled'] or copied else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
