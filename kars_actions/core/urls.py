"""URLs a user gives: checked up front (scheme, host, port, percent-escapes, no control characters), shown without
credentials."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from kars_actions.core.errors import KarsError, UsageError
from kars_actions.core.gha import SECRETS

_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?[^/?#\s]*@")
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f]")
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# What a host name label may hold once it is ASCII: letters, digits and hyphens, plus the underscore that service
# names on private networks (Docker Compose, some internal DNS) carry and resolvers accept.
_LABEL = re.compile(r"^[A-Za-z0-9_-]+$")
_NUMERIC_HOST = re.compile(r"^[0-9.]+$")
MAX_LABEL = 63
MAX_HOST = 253


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
    secret: bool = False,
) -> str:
    """``url`` stripped of surrounding spaces if it is a usable absolute URL, else ``error`` saying why.

    A URL that would only fail later as a DNS error or a garbled request is refused here: a malformed
    percent-escape anywhere, an empty or over-long host label, a character no host name holds, a label that is not
    valid IDNA. Its password is registered as a secret first, so no message (ours or a library's) can print it;
    ``secret`` URLs (webhooks) are never quoted in the message at all."""
    text = url.strip()
    example = f"{schemes[-1]}://app.example.com/api/health" if "http" in schemes[0] else f"{schemes[0]}://host"
    advice = hint or f"write the full URL, e.g. {example}"
    userinfo = _USERINFO.match(text)
    if userinfo:
        # Whatever else is wrong, the part before @ may be a password: hide it before saying anything.
        creds = text[len(userinfo.group(1) or "") : userinfo.end() - 1]
        SECRETS.register(creds)
        SECRETS.register(creds.partition(":")[2])
    named = what if secret else f"{what} '{_shown(text)}'"
    if not text:
        raise error(f"{what} is empty", hint=advice)
    if _CONTROL.search(text):
        raise error(f"{named} contains a space or a control character", hint=advice)
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as problem:
        raise error(f"{named} is not a valid URL: {_reason(problem)}", hint=advice) from None
    if parts.scheme.lower() not in schemes or "://" not in text:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise error(f"{named} must start with {wanted}", hint=advice)
    if not parts.hostname:
        raise error(f"{named} has no host", hint=advice)
    if port is not None and port == 0:
        raise error(f"{named} has port 0; ports run from 1 to 65535", hint=advice)
    bad = _BAD_ESCAPE.search(text)
    if bad is not None:
        escape = text[bad.start() : bad.start() + 3]
        in_credentials = userinfo is not None and bad.start() < userinfo.end()  # part of a password: not quoted
        where = "" if secret or in_credentials else f" ({escape!r})"
        raise error(
            f"{named} has a malformed percent-escape{where}: '%' must be followed by two hex digits",
            hint="write a literal % as %25" if hint is None else advice,
        )
    wrong = host_problem(parts, quote=not secret)
    if wrong is not None:
        host_hint = "check the host name: labels of letters, digits and hyphens, separated by single dots"
        raise error(f"{named} has an invalid host: {wrong}", hint=hint or host_hint)
    return text


def host_problem(parts: SplitResult, *, quote: bool = True) -> str | None:
    """Why the host of an already split URL cannot be looked up, or None when it can. ``quote=False`` names no part
    of the host (the URL is a secret)."""
    netloc_host = parts.netloc.rpartition("@")[2]
    host = parts.hostname or ""

    def shown(text: str, instead: str) -> str:
        return repr(text) if quote else instead

    if netloc_host.startswith("["):
        address = host.partition("%")[0]  # an IPv6 zone (fe80::1%25eth0) is the interface, not the address
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return f"{shown(address, 'the address in brackets')} is not an IPv6 address"
        return None
    if "%" in host:
        return "percent-escapes cannot stand in a host name; write the name itself"
    if _NUMERIC_HOST.match(host):
        try:
            ipaddress.IPv4Address(host.rstrip("."))
        except ValueError:
            return f"{shown(host, 'it')} is not an IPv4 address (four numbers from 0 to 255)"
        return None
    if not host.isascii():
        encoded = _idna(host)
        if encoded is None:
            return f"{shown(host, 'it')} is not a valid internationalised domain name (IDNA)"
        host = encoded
    name = host[:-1] if host.endswith(".") else host  # one trailing dot: a fully qualified name
    if len(name) > MAX_HOST:
        return f"it is {len(name)} characters long; a host name has at most {MAX_HOST}"
    for label in name.split("."):
        if not label:
            return f"{shown(host, 'it')} has an empty label (two dots in a row, or a leading dot)"
        if len(label) > MAX_LABEL:
            return f"a label is {len(label)} characters long; a label has at most {MAX_LABEL}"
        if not _LABEL.match(label):
            odd = next(c for c in label if not (c.isascii() and (c.isalnum() or c in "-_")))
            return f"{shown(host, 'it')} contains {odd!r}, which no host name holds"
        which = f"the label {label!r}" if quote else "a label"
        if label.startswith("-") or label.endswith("-"):
            return f"{which} starts or ends with a hyphen"
        if label.lower().startswith("xn--") and not _punycode_ok(label):
            return f"{which} is not valid IDNA (its xn-- part does not decode)"
    return None


def _idna(host: str) -> str | None:
    """The ASCII form httpx would send for a non-ASCII host, or None when it refuses to make one."""
    import httpx

    try:
        return httpx.URL(f"http://{host}/").raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError):
        return None


def _punycode_ok(label: str) -> bool:
    """Whether an ``xn--`` label is the IDNA form of a name: it decodes, and encodes back to itself."""
    try:
        decoded = label[4:].encode("ascii").decode("punycode")
    except UnicodeError:
        return False
    return bool(decoded) and not decoded.isascii() and _idna(decoded) == label.lower()


def _reason(problem: ValueError) -> str:
    text = str(problem)
    if "Port out of range" in text:
        return "the port must be a number from 1 to 65535"
    if "Port could not be cast" in text or "invalid literal" in text:
        return "the port must be a number from 1 to 65535"
    if "cannot be in brackets" in text:
        return "an IPv4 address is written without brackets"
    if "does not appear to be" in text:
        return "the address in brackets is not an IPv6 address"
    if "IPv6" in text:
        return "an IPv6 address must be written in brackets, e.g. http://[::1]:8080/"
    return "it cannot be parsed"
