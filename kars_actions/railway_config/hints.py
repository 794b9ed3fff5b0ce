"""What to do instead: hints for the keys and values real railway.json / railway.toml files get wrong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

VARIABLES_HINT = (
    "Railway does not read variables from this file: set them in the dashboard (service → Variables) "
    "or with `railway variables --set KEY=value`"
)
BUILD_VARIABLES_HINT = (
    "build-time variables are ordinary service variables, which Railway passes to the build: set them in the "
    "dashboard (service → Variables) or with `railway variables --set KEY=value`"
)
LEGACY_HINT = (
    "the dashboard exports this key, but Railway's schema allows it only under environments.<name>; "
    "delete it here (or run with --lenient to accept it with a warning)"
)

# Keys that are not Railway config at all, by the section they were found in ("" is the top level).
# A section of "*" matches anywhere.
_NOT_RAILWAY_CONFIG: dict[tuple[str, str], str] = {
    ("*", "variables"): VARIABLES_HINT,
    ("*", "env"): VARIABLES_HINT,
    ("*", "environmentVariables"): VARIABLES_HINT,
    ("*", "envVars"): VARIABLES_HINT,
    ("build", "env"): BUILD_VARIABLES_HINT,
    ("build", "args"): BUILD_VARIABLES_HINT,
    ("build", "buildArgs"): BUILD_VARIABLES_HINT,
    ("build", "dockerfile"): 'name the file with build.dockerfilePath (e.g. "Dockerfile" or "backend/Dockerfile")',
    ("", "services"): (
        "a railway.json describes one service: put one file in each service's folder and point each service at "
        "its own file (service → Settings → Config-as-code path)"
    ),
    ("*", "port"): (
        "Railway sets the PORT variable for you: make the app listen on $PORT "
        "(to pin a number, set a PORT service variable)"
    ),
    ("*", "healthcheck"): (
        'use deploy.healthcheckPath (e.g. "/api/health") and deploy.healthcheckTimeout (seconds) instead'
    ),
    ("*", "releaseCommand"): (
        "use deploy.preDeployCommand: it runs after the build and before the new version goes live (migrations)"
    ),
    ("*", "plugins"): (
        "databases and other plugins are separate services in the project: add them on the Railway canvas"
    ),
    ("", "name"): "the service's name lives in Railway, not in this file: delete the key",
    ("", "regions"): "use deploy.region for one region, or deploy.multiRegionConfig for several",
    ("", "region"): "move it under deploy: deploy.region",
    ("build", "buildEnvironment"): LEGACY_HINT,
    ("deploy", "useLegacyStacker"): LEGACY_HINT,
}

# Enum values that are a different word, not just a different case.
_VALUE_HINTS: dict[tuple[str, str], str] = {
    ("builder", "DOCKER"): 'use "DOCKERFILE" to build from the Dockerfile',
    ("builder", "NIXPACK"): 'use "NIXPACKS"',
    ("builder", "RAILWAY"): 'use "RAILPACK", Railway\'s own builder',
    ("restartPolicyType", "ON-FAILURE"): 'use "ON_FAILURE" (with an underscore)',
    ("restartPolicyType", "ONFAILURE"): 'use "ON_FAILURE" (with an underscore)',
    ("restartPolicyType", "UNLESS_STOPPED"): 'use "ALWAYS"',
}


def section_of(path: Sequence[object]) -> str:
    """The section a path points into, without the environment name: ``("environments", "pr", "deploy")`` →
    ``"deploy"``; the top level and ``environments.<name>`` itself → ``""``."""
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "environments":
        parts = parts[2:]
    return str(parts[0]) if parts else ""


def unknown_key_hint(
    key: str,
    parent: Sequence[object],
    allowed: Iterable[str],
    elsewhere: dict[str, Iterable[str]] | None = None,
) -> str | None:
    """What to do about ``key`` found under ``parent`` where only ``allowed`` keys are accepted.

    ``elsewhere`` maps other sections (``"build"``, ``"deploy"``) to their keys, to spot a key written at
    the wrong level (a top-level ``startCommand``).
    """
    allowed = sorted(allowed)
    for name in allowed:
        if name.lower() == key.lower():
            return f'did you mean "{name}"? Keys are case-sensitive'
    section = section_of(parent)
    special = _NOT_RAILWAY_CONFIG.get((section, key)) or _NOT_RAILWAY_CONFIG.get(("*", key))
    if special:
        return special
    for other, keys in (elsewhere or {}).items():
        if key in set(keys):
            return f'this key belongs under "{other}": move it to {other}.{key}'
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.75)
    if not close:
        lowered = {name.lower(): name for name in allowed}
        close = [lowered[m] for m in difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.75)]
    if close:
        return f'did you mean "{close[0]}"?'
    return None


def enum_hint(field: str, value: object, allowed: Sequence[object]) -> tuple[str | None, bool]:
    """A hint for ``value`` outside ``allowed``, and whether the only problem is letter case."""
    if not isinstance(value, str):
        return None, False
    for option in allowed:
        if isinstance(option, str) and option.upper() == value.upper():
            return f'values are upper-case: use "{option}"', True
    special = _VALUE_HINTS.get((field, value.upper()))
    if special:
        return special, False
    import difflib

    strings = [o for o in allowed if isinstance(o, str)]
    close = difflib.get_close_matches(value.upper(), strings, n=1, cutoff=0.7)
    if close:
        return f'did you mean "{close[0]}"?', False
    return None, False
