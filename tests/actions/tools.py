"""Where the workflow linter is: on PATH, or beside the interpreter running the tests (the project's venv)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def zizmor() -> str | None:
    found = shutil.which("zizmor")
    if found:
        return found
    beside = Path(sys.executable).parent / "zizmor"
    return str(beside) if beside.is_file() else None
