"""The ``tailor`` command as the benchmarks run it: a subprocess, offline, its stdout returned."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def tailor_command(*args: str, cwd: Path) -> str:
    """``tailor ARGS`` in ``cwd``; its stdout. Exits with tailor's stderr when it fails."""
    done = subprocess.run(
        [sys.executable, "-m", "tailor", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    if done.returncode != 0:
        raise SystemExit(f"tailor {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout
