"""Know every secret before anything runs: the environment, credential flags in argv, and what kars.yml names."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from kars_actions.core.gha import SECRETS, SecretRegistry, url_credentials

# Flags whose value is a secret, whatever the command (values may also come as --flag=value).
SECRET_FLAGS = (
    "--github-token",
    "--slack-webhook",
    "--discord-webhook",
    "--webhook-url",
    "--webhook-secret",
    "--header",
)
CONFIG_NAMES = (".github/kars.yml", ".github/kars.yaml", "kars.yml", "kars.yaml")
# Read at most this much of kars.yml here: a bigger file is refused later by the loader anyway.
_SCAN_LIMIT = 1024 * 1024
# alerts.<x>_env: NAME names a variable holding a webhook URL or key; ${NAME} in a header value reads one.
_ENV_NAME_KEY = re.compile(r"""\b[a-z_]*_env\s*:\s*["']?([A-Za-z_][A-Za-z0-9_]*)""")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# user:password@host without a scheme (a URL typed without https://): the password is still a secret.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>]+")
_BARE_USERINFO = re.compile(r"^([^\s/@:]+):([^\s/@]+)@[^\s/@]+")


def register_process_secrets(
    argv: Sequence[str],
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    registry: SecretRegistry = SECRETS,
) -> None:
    """Register (and in Actions mask) every secret the process can know of before parsing its arguments,
    so that even a usage error or a test command's output cannot print one."""
    env = os.environ if environ is None else environ
    registry.register_from_environ(env)
    for value in env.values():  # endpoint overrides, proxies: their credentials only
        _register_url_credentials(value, registry)
    _register_argv(argv, registry)
    for name in config_secret_names(argv, env, cwd or Path.cwd()):
        registry.register(env.get(name))


def _register_argv(argv: Sequence[str], registry: SecretRegistry) -> None:
    take_next = False
    for arg in argv:
        if take_next:
            registry.register(arg)
            take_next = False
            continue
        flag, eq, value = arg.partition("=")
        if flag in SECRET_FLAGS:
            if eq:
                registry.register(value)
            else:
                take_next = True
            continue
        _register_url_credentials(arg, registry)
        bare = _BARE_USERINFO.match(arg.strip())
        if bare:
            registry.register(bare.group(2))
            registry.register(f"{bare.group(1)}:{bare.group(2)}")


def _register_url_credentials(text: str, registry: SecretRegistry) -> None:
    """The user:password of every URL inside ``text`` (``--service-url api=https://u:pw@host`` included)."""
    for url in _URL_IN_TEXT.findall(text):
        for part in url_credentials(url):
            registry.register(part)


def _config_path(argv: Sequence[str], environ: Mapping[str, str], cwd: Path) -> Path | None:
    chosen: str | None = None
    for index, arg in enumerate(argv):
        if arg == "--config" and index + 1 < len(argv):
            chosen = argv[index + 1]
        elif arg.startswith("--config="):
            chosen = arg.partition("=")[2]
    chosen = chosen or environ.get("KARS_CONFIG")
    if chosen:
        path = Path(chosen)
        return path if path.is_absolute() else cwd / path
    for name in CONFIG_NAMES:
        if (cwd / name).is_file():
            return cwd / name
    return None


def config_secret_names(argv: Sequence[str], environ: Mapping[str, str], cwd: Path) -> list[str]:
    """Names of the environment variables kars.yml reads secrets from (alerts' *_env keys, ``${NAME}``).

    A plain scan of the text, not a YAML parse: it must be cheap and cannot fail on a broken file (the
    command reports that properly once it runs)."""
    try:
        path = _config_path(argv, environ, cwd)
        if path is None or not path.is_file():
            return []
        with open(path, "rb") as handle:
            text = handle.read(_SCAN_LIMIT).decode("utf-8", errors="replace")
    except (OSError, ValueError):
        return []
    names = {m.group(1) for m in _ENV_NAME_KEY.finditer(text)} | {m.group(1) for m in _ENV_REF.finditer(text)}
    return sorted(n for n in names if n in environ)
