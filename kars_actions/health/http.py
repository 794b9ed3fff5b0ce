"""One health request: redirects kept to the same host, secret headers never sent elsewhere, bodies capped."""

from __future__ import annotations

import asyncio
import email.utils
import errno
import socket
import ssl
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit, urlunsplit

from kars_actions.core.errors import UsageError
from kars_actions.core.tls import tls_context
from kars_actions.core.urls import without_credentials
from kars_actions.health.assertions import Observation
from kars_actions.health.unpack import OFFERED, Unpacker, UnsupportedEncoding

if TYPE_CHECKING:
    import httpx

REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5
USER_AGENT = "kars-actions-health"


@dataclass(frozen=True)
class RequestOptions:
    method: str = "GET"
    timeout: float = 10.0
    max_body: int = DEFAULT_MAX_BODY
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    allow_cross_host_redirects: bool = False


def display_url(url: str) -> str:
    """The URL without user:password, for output (also for a URL too broken to parse)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return without_credentials(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def same_host(current: str, target: str) -> bool:
    """The same scheme, host and port; an http → https upgrade on the default ports counts as the same host.
    A downgrade to plain http is never the same host: secrets would travel in clear text."""
    a, b = _origin(current), _origin(target)
    if a == b:
        return True
    return a[1] == b[1] and a[0] == "http" and b[0] == "https" and a[2] == 80 and b[2] == 443


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def _chain(error: BaseException) -> list[BaseException]:
    """The error and everything beneath it (causes, contexts, exception groups), nearest first."""
    found: list[BaseException] = []
    pending = [error]
    while pending and len(found) < 32:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return found


def describe_error(error: BaseException) -> str:
    """A transport failure in a few words (no URL, no headers: nothing that could hold a secret)."""
    import httpx

    chain = _chain(error)
    if any(isinstance(e, (TimeoutError, httpx.TimeoutException)) for e in chain):
        return "timed out"
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(cause, ssl.SSLError):
            return "TLS handshake failed: " + _first_line(getattr(cause, "reason", None) or str(cause))
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return "connection refused"
        if isinstance(cause, ConnectionResetError) or getattr(cause, "errno", None) == errno.ECONNRESET:
            return "connection reset"
    text = " ".join(str(e).lower() for e in chain)
    if "refused" in text:
        return "connection refused"
    if any(s in text for s in ("name or service", "nodename", "getaddrinfo", "name resolution", "no address")):
        return "DNS lookup failed"
    if any(s in text for s in ("certificate", "ssl", "tls handshake")):
        return "TLS handshake failed: " + _first_line(str(error))
    if "reset" in text:
        return "connection reset"
    if isinstance(error, httpx.ConnectError):
        return "could not connect: " + _first_line(str(error))
    if isinstance(error, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "connection closed: " + (_first_line(str(error)) or type(error).__name__)
    return f"{type(error).__name__}: {_first_line(str(error))}"


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line[:160]


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    options: RequestOptions,
) -> Observation:
    """GET (or HEAD) ``url``, following redirects ourselves so that we decide which headers travel where."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(options.timeout):
            return await _follow(client, url, headers, options, started)
    except TimeoutError:
        return Observation(error="timed out", latency=time.perf_counter() - started, url=url)


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    options: RequestOptions,
    started: float,
) -> Observation:
    import httpx

    current = url
    sending = dict(headers)
    seen = {current}
    for _hop in range(options.max_redirects + 1):
        request = client.build_request(options.method, current, headers=sending)
        try:
            response = await client.send(request, stream=True)
        except (httpx.HTTPError, OSError, ssl.SSLError) as error:
            return Observation(error=describe_error(error), latency=time.perf_counter() - started, url=current)
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_CODES and location:
                target = urljoin(current, location)
                if target in seen:
                    return _failed(f"redirect loop back to {display_url(target)}", started, current, response)
                if not same_host(current, target):
                    if not options.allow_cross_host_redirects:
                        return _failed(
                            f"redirected to another host ({display_url(target)}); not followed",
                            started,
                            current,
                            response,
                        )
                    # Follow, but nothing the user gave us (Authorization, API keys) goes to the other host.
                    sending = {}
                seen.add(target)
                current = target
                continue
            body, truncated, refusal = await _read_capped(response, options.max_body)
        except (httpx.HTTPError, OSError) as error:
            return Observation(error=describe_error(error), latency=time.perf_counter() - started, url=current)
        finally:
            await response.aclose()
        return Observation(
            status=response.status_code,
            headers={k.lower(): v for k, v in response.headers.items()},
            body=body,
            truncated=truncated,
            latency=time.perf_counter() - started,
            error=refusal,
            url=current,
            retry_after=parse_retry_after(response.headers.get("retry-after")),
        )
    return Observation(
        error=f"more than {options.max_redirects} redirects", latency=time.perf_counter() - started, url=current
    )


def _failed(message: str, started: float, url: str, response: httpx.Response) -> Observation:
    return Observation(error=f"HTTP {response.status_code}: {message}", latency=time.perf_counter() - started, url=url)


async def _read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool, str | None]:
    """(body, truncated, refusal): at most ``cap`` bytes AFTER unpacking, read and decoded as they arrive.

    A 100 MB body must not be loaded to check a health answer, and neither may 38 KB that unpack to 16 GiB:
    an encoded body that unpacks past the cap is refused there, with what was sent and what it grew to.
    """
    if response.request.method == "HEAD":
        return b"", False, None
    try:
        unpacker = Unpacker(response.headers.get("content-encoding", ""), cap)
    except UnsupportedEncoding as error:
        return b"", False, f"the answer came with Content-Encoding {error}, which was not offered ({OFFERED})"
    chunks: list[bytes] = []
    try:
        async for raw in response.aiter_raw():
            chunks.append(unpacker.feed(raw))
            if unpacker.over:
                break
    except zlib.error:
        return b"", False, f"the {unpacker.encoding} body is corrupt and cannot be unpacked"
    body = b"".join(chunks)
    if unpacker.over and unpacker.compressed:
        return (
            body,
            True,
            (
                f"refused as a possible compression bomb: {unpacker.wire:,} bytes sent {unpacker.encoding} unpack to "
                f"more than {_size(cap)} (--max-body); raise --max-body if the answer is meant to be this large"
            ),
        )
    return body, unpacker.over, None


def _size(count: int) -> str:
    mib = 1024 * 1024
    return f"{count // mib} MiB" if count % mib == 0 else f"{count:,} bytes"


def make_client(
    *,
    concurrency: int,
    timeout: float,
    ca_bundle: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One connection pool for every target; TLS verified (against ``ca_bundle`` when given); proxies from env."""
    import httpx

    verify = tls_context(trust_env=True)
    if ca_bundle:
        try:
            verify = ssl.create_default_context(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as error:
            raise UsageError(
                f"cannot use CA bundle {ca_bundle}: {error.strerror or error}",
                hint="pass a PEM file of trusted certificates to --ca-bundle",
            ) from None
    return httpx.AsyncClient(
        follow_redirects=False,
        verify=verify,
        trust_env=True,
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json, */*;q=0.5", "Accept-Encoding": OFFERED},
        transport=transport,
    )
