#!/usr/bin/env python3
"""Kubeflow Pipelines REST API emulator for kfcheck's tests (never shipped in the binary).

    python tools/kfp-emulator/kfp_emulator.py --port 0 [--multi-user] [--version 2.14.0]
        [--error-shape new|old] [--ready-file PATH] ...

Prints "kfp-emulator listening on http://HOST:PORT" once serving. See README.md for the admin
endpoints (/_emulator/...).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from kfpemu.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
