"""Headers that cannot be abused: escaped challenges, no sniffing, no cache poisoning."""

from __future__ import annotations

import pytest

CSP = "default-src 'none'; frame-ancestors 'none'"
XSS = "/index.php?api=<img src=x onerror=alert(1)>"
METADATA = "/.well-known/oauth-authorization-server"


@pytest.mark.parametrize(
    "path",
    [XSS, "/healthz", "/index.php?api=oauth2&option=token", METADATA, "/no/such/path"],
    ids=["echoed-api", "health", "token-error", "metadata", "unknown-path"],
)
def test_every_response_forbids_sniffing_and_running_anything(client, path) -> None:
    rv = client.get(path)
    assert rv.headers["X-Content-Type-Options"] == "nosniff"
    assert rv.headers["Content-Security-Policy"] == CSP


def test_the_legacy_echo_keeps_its_bytes_but_no_browser_runs_it(client) -> None:
    rv = client.get(XSS)
    assert rv.status_code == 404
    assert rv.data == (
        b'{"message":"API \\"<img src=x onerror=alert(1)>\\" is not available",'
        b'"code":404,"type":"RuntimeException"}'
    )
    assert rv.content_type == "text/html; charset=UTF-8"  # as the legacy site sent it
    assert rv.headers["Content-Security-Policy"] == CSP


def test_an_echoed_scope_cannot_break_out_of_the_challenge(client, make_client) -> None:
    cid, secret = make_client(scope="read")
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    token = rv.get_json()["access_token"]
    rv = client.get(
        "/index.php?option=resource&api=oauth2&scope=x%22%2C%20error%3D%22evil%5C",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert rv.status_code == 401
    assert rv.headers["WWW-Authenticate"] == (
        'Bearer realm="Service", scope="x\\", error=\\"evil\\\\", error="insufficient_scope", '
        'error_description="The request requires higher privileges than provided by the '
        'access token"'
    )


def test_metadata_from_the_host_header_is_never_cached(client, cli) -> None:
    rv = client.get(METADATA, base_url="https://attacker.example")
    assert rv.get_json()["issuer"] == "https://attacker.example"
    assert rv.headers["Cache-Control"] == "no-store"
    assert "Warning: issuer is empty" in cli("plugins", "show", "oauth2")
    cli("plugins", "set", "oauth2", "issuer=https://api.example.com")
    rv = client.get(METADATA, base_url="https://attacker.example")
    assert rv.get_json()["issuer"] == "https://api.example.com"
    assert rv.headers["Cache-Control"] == "public, max-age=3600"
    assert "Warning" not in cli("plugins", "show", "oauth2")
