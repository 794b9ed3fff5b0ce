"""The parts of setup.sh that need Python: fetch uv's hash-locked wheel directly, and say why an install failed.

Run by the interpreter from actions/setup-python with -I, before any virtualenv exists, so it uses the standard
library only and imports nothing from kars_actions.

  setup_tools.py fetch-uv LOCK DEST   the uv binary from the wheel LOCK (requirements/uv.txt) pins, into DEST
  setup_tools.py explain TRIED LOG... one ::error line naming why the installers TRIED (uv+pip, or pip) failed and
                                      what to do (exit 3, or 1 when the cause is unclear)
  setup_tools.py cause LOG...         the same cause in a few words, for the warning before the pip fallback

Why fetching the wheel ourselves is as safe as `pip install --require-hashes` of it (and 2 s faster):
- Integrity: the wheel's bytes are hashed and compared with the sha256 values in the lock before the archive is
  opened, as pip does. The index's listing only says where the file is; a forged listing, a mirror or a proxy
  can point at other bytes, which then fail the hash and are never opened. A listing that states a hash must
  state a locked one too.
- Extraction: one member is read, by its exact name (uv-<version>.data/scripts/uv), and written to a path we
  choose; nothing in the archive decides where a file goes (no extractall, so no "../" escape), and a member
  claiming more than _MAX_BINARY bytes is refused. The binary is the one pip would have put in bin/.
- Transport: HTTPS verified against the interpreter's trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured),
  proxies from HTTPS_PROXY / NO_PROXY as pip reads them. An index URL with credentials is left to pip (its
  auth handling does not forward them to another host on a redirect), as is a platform not listed below.
- Nothing else is downloaded, installed or run; anything that fails sends setup.sh to pip, as before.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
import os
import platform
import re
import shutil
import ssl
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path

_PYPI = "https://pypi.org/simple/"
_TIMEOUT = 20.0
_MAX_WHEEL = 200 * 1024 * 1024
_MAX_BINARY = 300 * 1024 * 1024
_CHUNK = 1024 * 1024
_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


class Refused(Exception):
    """The fast path cannot be taken; the message says why (setup.sh then installs uv with pip)."""


# --- the lock ---------------------------------------------------------------------------------------------------


def locked(lock_text: str, name: str = "uv") -> tuple[str, frozenset[str]]:
    """The version and sha256 hashes ``name`` is pinned to in a pip-compile lock (``uv==0.13.9 \\ --hash=...``)."""
    pin = rf"(?ms)^{re.escape(name)}==(?P<version>\S+)(?P<hashes>(?:\s*\\\s*--hash=sha256:\S+)+)"
    match = re.search(pin, lock_text)
    if not match:
        raise Refused(f"the lock pins no {name}==VERSION with hashes")
    hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", match["hashes"]))
    return match["version"], hashes


# --- which wheel fits this machine --------------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def platform_rank(tag: str) -> tuple[int, ...] | None:
    """How well a wheel platform tag fits this machine (higher is more specific), or None when it does not run here.

    Only the platforms uv ships for GitHub's runners and common self-hosted ones; anything else returns None and
    setup.sh lets pip choose."""
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        try:
            libc = os.confstr("CS_GNU_LIBC_VERSION") or ""
        except (ValueError, OSError):
            libc = ""
        if not libc.startswith("glibc "):
            return None  # musl and others: pip knows their tags
        glibc = _version_tuple(libc)
        arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
        match = re.fullmatch(r"(manylinux_(\d+)_(\d+)|manylinux1|manylinux2010|manylinux2014)_(\w+)", tag)
        if not match or match[4] != arch:
            return None
        needs = (int(match[2]), int(match[3])) if match[2] else _LEGACY_MANYLINUX[match[1]]
        return needs if needs <= glibc else None
    if sys.platform == "darwin":
        release = _version_tuple(platform.mac_ver()[0])
        match = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", tag)
        if not match or match[3] not in (machine, "universal2"):
            return None
        needs = (int(match[1]), int(match[2]))
        return needs if needs <= release else None
    if sys.platform == "win32":
        wanted = {"amd64": "win_amd64", "x86_64": "win_amd64", "arm64": "win_arm64", "x86": "win32"}.get(machine)
        return (1,) if tag == wanted else None
    return None


def wheel_rank(filename: str, name: str, version: str) -> tuple[int, ...] | None:
    """The best rank among a wheel's platform tags, when it is ``name==version`` and runs here."""
    parts = filename[: -len(".whl")].split("-") if filename.endswith(".whl") else []
    if len(parts) not in (5, 6) or parts[0].lower() != name or parts[1] != version:
        return None
    ranks = [rank for tag in parts[-1].split(".") if (rank := platform_rank(tag)) is not None]
    return max(ranks) if ranks else None


# --- the index ----------------------------------------------------------------------------------------------------


def index_url(environ: Mapping[str, str]) -> str:
    """The index uv will use: UV_DEFAULT_INDEX, UV_INDEX_URL, else pip's PIP_INDEX_URL, else PyPI."""
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        value = environ.get(name, "").strip()
        if value:
            return value if value.endswith("/") else value + "/"
    return _PYPI


class _Links(html.parser.HTMLParser):
    """The anchors of a PEP 503 page: (href, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def listing(body: bytes, content_type: str, page_url: str, prefix: str = "") -> list[tuple[str, str, str | None]]:
    """(filename, absolute URL without fragment, sha256 or None) for each file of a PEP 691 or PEP 503 page whose
    name starts with ``prefix`` (a project lists thousands of files; only one version's matter)."""
    found: list[tuple[str, str, str | None]] = []
    if "json" in content_type:
        for entry in json.loads(body).get("files", []):
            if not entry["filename"].startswith(prefix):
                continue
            url = urllib.parse.urljoin(page_url, entry["url"])
            digest = (entry.get("hashes") or {}).get("sha256")
            found.append((entry["filename"], urllib.parse.urldefrag(url)[0], digest))
        return found
    parser = _Links()
    parser.feed(body.decode("utf-8", errors="replace"))
    for href, text in parser.links:
        if not text.startswith(prefix) and not urllib.parse.unquote(href.split("#")[0]).rsplit("/", 1)[-1].startswith(
            prefix
        ):
            continue
        url, fragment = urllib.parse.urldefrag(urllib.parse.urljoin(page_url, href))
        digest = fragment.partition("=")[2] if fragment.startswith("sha256=") else None
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1]) or text
        found.append((filename, url, digest))
    return found


def _open(url: str, accept: str | None = None) -> tuple[bytes, str, str]:
    """GET ``url`` (at most _MAX_WHEEL bytes): body, content type, final URL."""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    context = ssl.create_default_context()
    with urllib.request.urlopen(request, timeout=_TIMEOUT, context=context) as response:
        chunks, size = [], 0
        while chunk := response.read(_CHUNK):
            size += len(chunk)
            if size > _MAX_WHEEL:
                raise Refused(f"{url} is larger than {_MAX_WHEEL // (1024 * 1024)} MiB")
            chunks.append(chunk)
        return b"".join(chunks), response.headers.get("Content-Type", ""), response.geturl()


def fetch_uv(lock: Path, dest: Path, environ: Mapping[str, str] = os.environ) -> Path:
    """Download the locked uv wheel that fits this machine, check its hash, and write its uv binary to ``dest``."""
    version, hashes = locked(lock.read_text(encoding="utf-8"))
    index = index_url(environ)
    if urllib.parse.urlsplit(index).password or urllib.parse.urlsplit(index).username:
        raise Refused("the index URL carries credentials: pip handles those")
    page = urllib.parse.urljoin(index, "uv/")
    body, content_type, final = _open(page, _ACCEPT)
    candidates = []
    for filename, url, digest in listing(body, content_type, final, f"uv-{version}-"):
        rank = wheel_rank(filename, "uv", version)
        if rank is not None and (digest is None or digest in hashes):
            candidates.append((rank, filename, url))
    if not candidates:
        raise Refused(f"{page} lists no locked uv {version} wheel for {sys.platform} {platform.machine()}")
    _, filename, url = max(candidates)
    wheel, _, _ = _open(url)
    digest = hashlib.sha256(wheel).hexdigest()
    if digest not in hashes:
        raise Refused(f"{filename} has sha256 {digest}, which {lock.name} does not list: refused")
    member = f"{'-'.join(filename.split('-')[:2])}.data/scripts/uv{'.exe' if sys.platform == 'win32' else ''}"
    with zipfile.ZipFile(io.BytesIO(wheel)) as archive:
        try:
            info = archive.getinfo(member)
        except KeyError:
            raise Refused(f"{filename} has no {member}") from None
        if info.file_size > _MAX_BINARY:
            raise Refused(f"{member} claims {info.file_size} bytes: refused")
        dest.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=dest.parent, prefix=".uv-")
        try:
            with os.fdopen(handle, "wb") as out, archive.open(info) as source:
                shutil.copyfileobj(source, out, _CHUNK)
            os.chmod(partial, 0o755)
            os.replace(partial, dest)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    return dest


# --- why an install failed ------------------------------------------------------------------------------------------

# The first pattern that matches any log names the cause; certificate first, since a refused certificate also
# reads as a failed connection ("client error (Connect)") and as a missing package to pip.
_CAUSES: list[tuple[str, re.Pattern[str]]] = [
    (
        "certificate",
        re.compile(
            r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|invalid peer certificate|UnknownIssuer|"
            r"SSLCertVerificationError|self[- ]signed certificate|unable to get local issuer certificate|"
            r"problem confirming the ssl certificate|certificate has expired|Hostname mismatch",
            re.IGNORECASE,
        ),
    ),
    (
        "hash",
        re.compile(r"do not match the hashes|Hash mismatch|hash mismatch|does not list: refused", re.IGNORECASE),
    ),
    (
        "network",
        re.compile(
            r"Connection refused|Failed to establish a new connection|Name or service not known|"
            r"Temporary failure in name resolution|nodename nor servname|No address associated|dns error|"
            r"Network is unreachable|timed out|ProxyError|Tunnel connection failed|Connection reset|"
            r"failed to lookup address|error sending request|Could not connect",
            re.IGNORECASE,
        ),
    ),
    (
        "index",
        re.compile(
            r"No matching distribution found|Could not find a version that satisfies|404 Client Error|"
            r"HTTP status client error|HTTP Error 4\d\d|not found in the package registry|"
            r"Because .* was not found|403 Forbidden|401 Unauthorized|lists no locked",
            re.IGNORECASE,
        ),
    ),
]
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_BRIEF = {
    "certificate": "the package index's TLS certificate was refused",
    "hash": "a downloaded file did not match its locked hash",
    "network": "the package index could not be reached",
    "index": "the package index does not serve the locked files",
    "unknown": "the installer failed",
}


def diagnose(logs: list[str]) -> tuple[str, str]:
    """(cause, the first log line that shows it, credentials removed)."""
    lines = [line.strip() for text in logs for line in text.splitlines() if line.strip()]
    for cause, pattern in _CAUSES:
        for line in lines:
            if pattern.search(line):
                return cause, _USERINFO.sub(r"\1***@", line)[:300]
    errors = [line for line in lines if line.lower().startswith(("error", "fatal"))]
    return "unknown", _USERINFO.sub(r"\1***@", (errors or lines or ["no output"])[-1])[:300]


def _hosts(installers: list[str], environ: Mapping[str, str]) -> str:
    """The index host (or hosts) the installers that ran were asked: uv's index, pip's PIP_INDEX_URL or PyPI."""
    pip_index = {k: v for k, v in environ.items() if k == "PIP_INDEX_URL"}
    urls = [index_url(environ) if name == "uv" else index_url(pip_index) for name in installers]
    hosts = list(dict.fromkeys(urllib.parse.urlsplit(url).hostname or "the package index" for url in urls))
    return " and ".join(hosts)


def explain(logs: list[str], installers: list[str], environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The one error line for setup.sh when every installer it tried failed, and the exit code (3: the index's
    fault, 1: unclear). ``installers`` are the ones that were tried, in order: ["uv", "pip"] or ["pip"]."""
    cause, evidence = diagnose(logs)
    host = _hosts(installers, environ)
    fixes = {
        "certificate": (
            f"the TLS certificate of {host} was refused ({evidence}). Behind a proxy that re-signs TLS, add its CA "
            "to the system certificate store (uv reads it: UV_SYSTEM_CERTS), or point SSL_CERT_FILE (uv, Python) "
            "and PIP_CERT or REQUESTS_CA_BUNDLE (pip) at a PEM bundle that holds it"
        ),
        "hash": (
            f"a file from {host} did not match the sha256 locked in requirements/ ({evidence}). A mirror or "
            "proxy changed it; nothing was installed. Point PIP_INDEX_URL / UV_DEFAULT_INDEX at an index that "
            "serves PyPI's files unchanged"
        ),
        "network": (
            f"{host} could not be reached ({evidence}). Check the runner's network; behind a proxy set "
            "HTTPS_PROXY (and NO_PROXY), or point PIP_INDEX_URL / UV_DEFAULT_INDEX at a reachable mirror"
        ),
        "index": (
            f"{host} {'do' if ' and ' in host else 'does'} not serve the locked versions ({evidence}). The lock "
            "pins exact versions and hashes: "
            "point PIP_INDEX_URL / UV_DEFAULT_INDEX at an index that mirrors PyPI, or unset them"
        ),
        "unknown": f"the last error: {evidence}",
    }
    tried = " or ".join(installers)
    message = f"could not install kars-actions' hash-locked dependencies with {tried}: " + fixes[cause]
    return message, 1 if cause == "unknown" else 3


def _escape(message: str) -> str:
    return message.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _read(paths: list[str]) -> list[str]:
    texts = []
    for path in paths:
        try:
            texts.append(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return texts


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "fetch-uv":
        try:
            fetch_uv(Path(argv[1]), Path(argv[2]))
        except (Refused, OSError, ValueError, KeyError, zipfile.BadZipFile, urllib.error.URLError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            print(f"kars-actions: uv's wheel could not be fetched directly: {reason}", file=sys.stderr)
            return 1
        return 0
    if len(argv) >= 2 and argv[0] == "explain":
        message, code = explain(_read(argv[2:]), argv[1].split("+"))
        print(f"::error title=kars-actions setup::{_escape(message)}")
        return code
    if len(argv) >= 1 and argv[0] == "cause":
        print(_BRIEF[diagnose(_read(argv[1:]))[0]])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
