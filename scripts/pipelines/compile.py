"""Compile every pipeline source to its committed YAML, or check that the YAML is fresh.

Usage: scripts/compile-pipelines [--check] [--verbose]

Everything is compiled into a temporary folder first (kfp 2 sources with .venv, kfp 1.8
and kfp-tekton sources with .venv-kfp1, both workers at once). Then:

* without --check, changed and missing YAML files are written into the repository and
  generated files whose source is gone are removed;
* with --check, nothing is written; every stale, missing or extra YAML file is listed and
  the exit status is 1 (0 when everything is fresh).

Exit status 2 means a source failed to compile.
"""

from __future__ import annotations

import argparse
import collections
import os
import pathlib
import subprocess
import sys
import tempfile

from pipelines import layout


def _compile_all(root: pathlib.Path, out: pathlib.Path, verbose: bool) -> bool:
    sources = layout.discover(root)
    batches = collections.defaultdict(list)
    for source in sources:
        batches[layout.VENV_FOR_FLAVOR[source.flavor]].append(source.path)

    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [str(root / 'scripts')] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env['PYTHONDONTWRITEBYTECODE'] = '1'  # keep __pycache__ out of the source folders
    env['PYTHONHASHSEED'] = '0'
    workers = []
    for venv, paths in sorted(batches.items()):
        python = root / venv / 'bin' / 'python'
        cmd = [str(python), '-m', 'pipelines.worker', '--root', str(root), '--out', str(out)]
        if verbose:
            cmd.append('--verbose')
        workers.append(subprocess.Popen(cmd + paths, cwd=root, env=env))
    return all(worker.wait() == 0 for worker in workers)


def _compare(root: pathlib.Path, out: pathlib.Path):
    expected = {source.output for source in layout.discover(root)}
    present = set(layout.existing_outputs(root))
    missing = sorted(expected - present)
    extra = sorted(present - expected)
    stale = sorted(path for path in expected & present
                   if (root / path).read_bytes() != (out / path).read_bytes())
    return expected, missing, stale, extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='compile-pipelines',
        description='Compile the sample pipelines and lint fixtures with the real KFP SDKs.')
    parser.add_argument('--check', action='store_true',
                        help='only report stale, missing or extra YAML files (exit 1 if any)')
    parser.add_argument('--verbose', action='store_true', help='show SDK output and warnings')
    args = parser.parse_args(argv)
    root = pathlib.Path(__file__).resolve().parents[2]

    with tempfile.TemporaryDirectory(prefix='kfcheck-pipelines-') as tmp:
        out = pathlib.Path(tmp)
        if not _compile_all(root, out, args.verbose):
            print('compile-pipelines: some sources failed to compile (see above)',
                  file=sys.stderr)
            return 2
        expected, missing, stale, extra = _compare(root, out)

        if args.check:
            for label, paths in (('stale', stale), ('missing', missing), ('extra', extra)):
                for path in paths:
                    print(f'{label}: {path}')
            if missing or stale or extra:
                print(f'compile-pipelines: {len(stale)} stale, {len(missing)} missing, '
                      f'{len(extra)} extra; run scripts/compile-pipelines', file=sys.stderr)
                return 1
            print(f'compile-pipelines: all {len(expected)} compiled pipelines are fresh')
            return 0

        for path in missing + stale:
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((out / path).read_bytes())
            print(f'{"wrote" if path in missing else "updated"}: {path}')
        for path in extra:
            (root / path).unlink()
            print(f'removed: {path}')
        print(f'compile-pipelines: {len(expected)} pipelines, {len(missing)} new, '
              f'{len(stale)} updated, {len(extra)} removed')
        return 0


if __name__ == '__main__':
    sys.exit(main())
