"""URLs checked up front: what a host name may be, which percent-escapes are well formed, and what an error about a
secret URL leaves out. The refusals are also run through the real CLI in test_bad_input.py."""

from __future__ import annotations

import pytest

from kars_actions.core.errors import ConfigError, UsageError
from kars_actions.core.urls import check_url


@pytest.mark.parametrize(
    "url",
    [
        "https://backend-production.up.railway.app/api/health",
        "http://127.0.0.1:8080/health",
        "http://localhost/",
        "http://[::1]:3000/health",
        "http://[fe80::1%25eth0]/",  # an IPv6 zone is written %25 in a URL
        "http://my_service:8080/health",  # Docker Compose service names carry underscores
        "http://app.example.com./health",  # a fully qualified name ends with a dot
        "http://b\u00fccher.example/",  # IDNA: sent as xn--bcher-kva
        "http://xn--bcher-kva.example/",
        "http://app.example.com/a%20b?q=%2F%41#%7e",
        "http://user:p%40ss@app.example.com/",
        "http://" + "a" * 63 + ".example.com/",
    ],
)
def test_a_usable_url_passes_unchanged(url: str) -> None:
    assert check_url(f"  {url} ", "health URL") == url


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://%zz/", "malformed percent-escape ('%zz')"),
        ("http://app.example.com/%4", "malformed percent-escape ('%4')"),
        ("http://app.example.com/100%", "malformed percent-escape ('%')"),
        ("http://%41pp.example.com/", "percent-escapes cannot stand in a host name"),
        ("http://app..example.com/", "'app..example.com' has an empty label"),
        ("http://app.example.com../", "has an empty label"),
        ("http://app-.example.com/", "the label 'app-' starts or ends with a hyphen"),
        ("http://xn--.example.com/", "the label 'xn--' starts or ends with a hyphen"),
        ("http://xn--zz.example.com/", "the label 'xn--zz' is not valid IDNA"),
        ("http://xn--abc.example.com/", "the label 'xn--abc' is not valid IDNA"),  # decodes to ASCII: not IDNA
        ("http://\u2488.example.com/", "not a valid internationalised domain name"),
        ("http://app$.example.com/", "contains '$'"),
        ("http://1.2.3/", "'1.2.3' is not an IPv4 address"),
        ("http://[1.2.3.4]/", "an IPv4 address is written without brackets"),
        ("http://[fe80::zz]/", "the address in brackets is not an IPv6 address"),
        ("http://" + "a" * 64 + ".example.com/", "a label has at most 63"),
        ("http://" + ".".join(["a" * 60] * 5) + "/", "a host name has at most 253"),
    ],
)
def test_a_malformed_url_is_refused_with_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(UsageError, match="health URL") as caught:
        check_url(url, "health URL")
    assert says in caught.value.message


def test_a_bad_escape_inside_a_password_is_not_quoted() -> None:
    with pytest.raises(UsageError, match="malformed percent-escape:") as caught:
        check_url("http://deploy:p%zzword@app.example.com/", "health URL")
    assert "zz" not in caught.value.message and "***@app.example.com" in caught.value.message


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks..example.com/T0/hooksecretpart",
        "https://-hooks.example.com/T0/hooksecretpart",
        "https://hooks.example.com/T0/%zzhooksecretpart",
        "https://[hooksecretpart]/",
        "https://hooks\u2603secretpart.example/",
    ],
)
def test_a_secret_url_is_never_quoted_in_its_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^the Slack webhook ") as caught:
        check_url(url, "the Slack webhook", error=ConfigError, secret=True)
    assert "secretpart" not in caught.value.message + (caught.value.hint or "")
