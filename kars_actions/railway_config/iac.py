"""Write .railway/railway.ts (Railway's Infrastructure as Code) from the repository's railway.json / railway.toml.

Unlike `railway config migrate`, nothing is dropped or left as a comment: builder, Dockerfile path, watch patterns,
restart policy, cron, sleep, overlap and draining, the nixpacks plan and every ``environments.*`` override go into
the SDK's object forms (``build: {...}``, ``deploy: {...}``) and ``ctx.isEnvironment(...)`` branches, with the
values normalised exactly as ``kars-actions config apply`` sends them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.railway_config.config import CONFIG_NAMES
from kars_actions.railway_config.report import MigrateResult
from kars_actions.railway_config.settings import SECTIONS, RepoConfig, normalise, read_repo_config

if TYPE_CHECKING:
    from kars_actions.core.config import Config

PARTIAL = "railway-json"  # the ownership name: the file then deletes only what it declares itself
_SKIP_DIRS = frozenset({".git", "node_modules", "__pycache__", ".venv", "venv", "dist", "build", "target", ".railway"})
_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")
_RESERVED = frozenset(
    {"ctx", "pr", "forkedFrom", "project", "service", "defineRailway", "default", "const", "let", "var", "new"}
)


@dataclass(frozen=True)
class MigratedService:
    name: str
    config: RepoConfig


def find_config_files(root: Path) -> list[Path]:
    """Every railway.json / railway.toml in the repository (railway.toml wins in a folder, as Railway reads it)."""
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith("."))
        for name in CONFIG_NAMES:
            if name in files:
                found.append(Path(folder) / name)
                break
    return found


def services_from_repo(config: Config, names: Mapping[Path, str]) -> list[MigratedService]:
    """Each file, named after the service whose file it is (``names``: resolved path -> Railway service name, found
    by the caller the way every command finds them), else after its folder."""
    root = config.root
    by_path = {path.resolve(): name for path, name in names.items()}
    out: list[MigratedService] = []
    seen: dict[str, Path] = {}
    paths = find_config_files(root) + [p for p in by_path if p.is_file()]
    for path in dict.fromkeys(p.resolve() for p in paths):
        folder_name = path.parent.name if path.parent != root.resolve() else (config.project or root.name)
        name = by_path.get(path) or folder_name
        if name in seen:
            raise ConfigError(
                f"two files would configure service {name!r}: {seen[name]} and {path}",
                hint="name each folder's service in kars.yml (services.<name>.railway_config), or keep one file",
            )
        seen[name] = path
        out.append(MigratedService(name, read_repo_config(path, root)))
    if not out:
        raise UsageError(
            f"no railway.json or railway.toml in {root}",
            hint="run from the repository root, or pass --config with the kars.yml of the repository",
        )
    return out


def _ts(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(name: str) -> str:
    return name if _IDENT.match(name) else json.dumps(name)


def _variable(name: str, taken: set[str]) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    base = (parts[0].lower() + "".join(p[:1].upper() + p[1:] for p in parts[1:])) if parts else "service"
    if not _IDENT.match(base) or base in _RESERVED:
        base = f"service{base[:1].upper()}{base[1:]}" if _IDENT.match(f"s{base}") else "service"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}{n}", n + 1
    taken.add(candidate)
    return candidate


def _values(config: RepoConfig, layer: str | None, section: str) -> dict[str, Any]:
    raw = config.layer(layer).get(section)
    if not isinstance(raw, Mapping):
        return {}
    prefix: tuple[str, ...] = () if layer is None else ("environments", layer)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        where = (*prefix, section, key)
        out[key] = None if value is None else normalise(section, key, value, lambda w=where: config.location(w))
    return out


def _object(values: Mapping[str, Any], indent: str) -> list[str]:
    return [f"{indent}{_key(k)}: {_ts(v)}," for k, v in values.items()]


def render(project: str, services: list[MigratedService]) -> str:
    """The whole .railway/railway.ts."""
    taken: set[str] = set()
    lines = [
        'import { defineRailway, project, service } from "railway/iac";',
        "",
        f"// Railway Infrastructure as Code for {project}, written by `kars-actions config migrate` from:",
        *[f"//   {s.config.shown} -> service {_ts(s.name)}" for s in services],
        "// Every build and deploy setting and every environments.* override of those files is below, in Railway's",
        "// order for them: the base settings; in a PR environment, then the environment it was forked from and",
        "// `pr`; then the environment's own name.",
        "// The files said nothing about sources, variables, domains or volumes: run `railway config plan` and check",
        "// it deletes nothing before the first `railway config apply` (the SDK: npm install railway).",
        "",
        f"export const partial = {_ts(PARTIAL)};",
        "",
        "type PullRequest = { number?: number; branch?: string | null; base?: string | null };",
        "",
        "export default defineRailway((ctx) => {",
        "  const pr = (ctx as { pr?: PullRequest | null }).pr ?? null;",
        "  const forkedFrom = (name: string): boolean => pr !== null && pr.base === name;",
    ]
    names = []
    for migrated in services:
        variable = _variable(migrated.name, taken)
        names.append(variable)
        lines.extend(_service(migrated, variable, taken))
    lines += [f"  return project({_ts(project)}, {{ resources: [{', '.join(names)}] }});", "});", ""]
    return "\n".join(lines)


def _service(migrated: MigratedService, variable: str, taken: set[str]) -> list[str]:
    config = migrated.config
    overrides = config.override_names()
    lines = ["", f"  // {config.shown}"]
    holder = _variable(f"{variable} overrides", taken) if overrides else ""
    if overrides:
        lines.append(f"  const {holder} = {{")
        for name in overrides:
            lines.append(f"    {_key(name)}: {{")
            for section in SECTIONS:
                values = _values(config, name, section)
                if values:
                    lines.append(f"      {section}: {{")
                    lines.extend(_object(values, "        "))
                    lines.append("      },")
                else:
                    lines.append(f"      {section}: {{}},")
            lines.append("    },")
        lines.append("  };")
    lines.append(f"  const {variable} = service({_ts(migrated.name)}, {{")
    for section in SECTIONS:
        base = _values(config, None, section)
        touched = [n for n in overrides if _values(config, n, section)]
        if not base and not touched:
            continue
        lines.append(f"    {section}: {{")
        lines.extend(_object(base, "      "))
        for name in touched:
            if name != "pr":
                lines.append(f"      ...(forkedFrom({_ts(name)}) ? {_ref(holder, name, section)} : {{}}),")
        if "pr" in touched:
            lines.append(f"      ...(pr !== null ? {_ref(holder, 'pr', section)} : {{}}),")
        for name in touched:
            lines.append(f"      ...(ctx.isEnvironment({_ts(name)}) ? {_ref(holder, name, section)} : {{}}),")
        lines.append("    },")
    lines.append("  });")
    return lines


def _ref(holder: str, name: str, section: str) -> str:
    return f"{holder}.{name}.{section}" if _IDENT.match(name) else f"{holder}[{_ts(name)}].{section}"


@dataclass(frozen=True)
class MigrateRequest:
    write: bool = False
    force: bool = False
    output: str = ".railway/railway.ts"


def run_migrate(
    request: MigrateRequest,
    config: Config,
    names: Mapping[Path, str],
    service_files: Sequence[dict[str, Any]] = (),
) -> MigrateResult:
    services = services_from_repo(config, names)
    project = config.project or config.root.name
    content = render(project, services)
    target = config.root / request.output
    result = MigrateResult(
        content,
        os.path.relpath(target),
        [s.name for s in services],
        [s.config.shown for s in services],
        list(service_files),
    )
    if request.write:
        if target.exists() and not request.force:
            raise UsageError(
                f"{result.path} already exists; not overwriting it",
                hint="pass --force to replace it, or --output PATH to write elsewhere",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
        result.written = True
    return result
