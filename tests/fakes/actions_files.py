"""Read the files of an Actions step: what a command wrote to ``GITHUB_OUTPUT`` the way GitHub does
(``name<<DELIMITER`` blocks, ``name=value``), and the YAML of actions and workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# libyaml reads the actions' and workflows' YAML as yaml.safe_load does, about ten times faster; the pure-Python
# loader where PyYAML was built without it.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``."""
    return yaml.load(text, Loader=_LOADER)


def parse_outputs(text: str) -> dict[str, str]:
    """``name<<DELIM\\nvalue\\nDELIM`` entries, each value possibly spanning lines, and ``name=value`` lines."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if "<<" not in lines[i] and "=" in lines[i]:
            name, _, value = lines[i].partition("=")
            out[name] = value
            i += 1
            continue
        name, _, delimiter = lines[i].partition("<<")
        end = lines.index(delimiter, i + 1)
        out[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return out


def read_outputs(path: Path) -> dict[str, str]:
    return parse_outputs(path.read_text(encoding="utf-8"))
