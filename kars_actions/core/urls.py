"""URLs a user gives: checked up front (scheme, host, port, no control characters), shown without credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from kars_actions.core.errors import KarsError, UsageError
from kars_actions.core.gha import SECRETS

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#\s]*@")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")


def without_credentials(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@``: safe to print even when it does not parse."""
    text = url.strip()
    match = _USERINFO.match(text)
    if match is None:
        return text
    return f"{match.group(1) or ''}***@{text[match.end() :]}"


def _shown(url: str) -> str:
    """For an error message: without credentials, control characters made visible, and not too long."""
    text = without_credentials(url).encode("unicode_escape", "backslashreplace").decode("ascii")
    return text if len(text) <= 200 else text[:200] + "…"


def check_url(
    url: str,
    what: str,
    *,
    schemes: tuple[str, ...] = ("http", "https"),
    error: type[KarsError] = UsageError,
    hint: str | None = None,
) -> str:
    """``url`` stripped of surrounding spaces if it is a usable absolute URL, else ``error`` saying why.

    Its password is registered as a secret first, so no message (ours or a library's) can print it."""
    text = url.strip()
    example = f"{schemes[-1]}://app.example.com/api/health" if "http" in schemes[0] else f"{schemes[0]}://host"
    advice = hint or f"write the full URL, e.g. {example}"
    userinfo = _USERINFO.match(text)
    if userinfo:
        # Whatever else is wrong, the part before @ may be a password: hide it before saying anything.
        creds = text[len(userinfo.group(1) or "") : userinfo.end() - 1]
        SECRETS.register(creds)
        SECRETS.register(creds.partition(":")[2])
    if not text:
        raise error(f"{what} is empty", hint=advice)
    if _CONTROL.search(text):
        raise error(f"{what} '{_shown(text)}' contains a space or a control character", hint=advice)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as problem:
        raise error(f"{what} '{_shown(text)}' is not a valid URL: {_reason(problem)}", hint=advice) from None
    if parts.scheme.lower() not in schemes or "://" not in text:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise error(f"{what} '{_shown(text)}' must start with {wanted}", hint=advice)
    if not parts.hostname:
        raise error(f"{what} '{_shown(text)}' has no host", hint=advice)
    if port is not None and port == 0:
        raise error(f"{what} '{_shown(text)}' has port 0; ports run from 1 to 65535", hint=advice)
    return text


def _reason(problem: ValueError) -> str:
    text = str(problem)
    if "Port out of range" in text:
        return "the port must be a number from 1 to 65535"
    if "Port could not be cast" in text or "invalid literal" in text:
        return "the port must be a number from 1 to 65535"
    if "IPv6" in text:
        return "an IPv6 address must be written in brackets, e.g. http://[::1]:8080/"
    return "it cannot be parsed"
