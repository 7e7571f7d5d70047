"""Passthrough: what no enabled plugin answers goes to the legacy site, and comes back as is.

The legacy site is faked with ``responses`` (every registered call must be made, and an
unregistered one fails); the deadline and streaming tests use a real socket on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
import socket
from urllib.parse import unquote

import pytest
import requests
import responses
import urllib3
from flask import request
from responses import matchers
from werkzeug.exceptions import NotFound

from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.web import isolation
from emulator.web.registry import get_registry
from plugins.passthrough.legacy import hop_mark
from tests.live.server import scripted_target
from tests.live.server import trickle
from tests.support.app import empty_database
from tests.support.app import make_app
from tests.support.outbound import read_cut_off
from tests.support.passthrough import LEGACY
from tests.support.passthrough import SECRET
from tests.support.passthrough import TOKEN_URL
from tests.support.passthrough import served

FORM = "application/x-www-form-urlencoded"
SECURITY_HEADERS = ("X-Content-Type-Options", "Content-Security-Policy")


def body_of(call) -> bytes:
    body = call.request.body
    if body is None:
        return b""
    return body if isinstance(body, bytes) else body.encode()


def json_error(error: str, message: str) -> bytes:
    return json.dumps({"error": error, "message": message}, separators=(",", ":")).encode()


# --- what is forwarded ----------------------------------------------------------------------

UNANSWERED = [
    ("joomla-article", "GET", "/index.php?option=com_content&view=article&id=1"),
    ("site-root", "GET", "/"),
    ("no-api-post", "POST", "/index.php?option=com_users&task=user.login"),
    ("unknown-api", "GET", "/index.php?option=token&api=nosuch"),
    ("api-of-a-plugin-without-operations", "GET", "/index.php?option=x&api=apigee"),
    ("unknown-option", "GET", "/index.php?option=authorise&api=oauth2&response_type=code"),
    ("unknown-option-prefixed", "POST", "/index.php?option=com_authorise&api=oauth2"),
    ("path-of-a-disabled-plugin", "GET", "/images/logo.png"),
    ("deep-path", "GET", "/component/content/article/1-welcome?Itemid=101"),
    ("put-elsewhere", "PUT", "/api/index.php/v1/articles/1"),
]


@pytest.mark.parametrize(
    ("method", "url"), [u[1:] for u in UNANSWERED], ids=[u[0] for u in UNANSWERED]
)
def test_an_unanswered_request_is_forwarded(client, legacy, enable_passthrough, method, url):
    enable_passthrough()
    path, _, query = url.partition("?")
    legacy.add(
        method,
        LEGACY + path,
        body=b"<html>old site</html>",
        status=200,
        content_type="text/html; charset=utf-8",
        match=[matchers.query_string_matcher(query)],
    )
    rv = client.open(url, method=method, data=b"a=1&b=2" if method in ("POST", "PUT") else None)
    assert (rv.status_code, rv.data) == (200, b"<html>old site</html>")
    assert rv.headers["Content-Type"] == "text/html; charset=utf-8"
    [call] = legacy.calls
    assert call.request.method == method
    assert call.request.url == LEGACY + url
    assert body_of(call) == (b"a=1&b=2" if method in ("POST", "PUT") else b"")


def test_a_disabled_api_is_forwarded(client, cli, legacy, enable_passthrough) -> None:
    enable_passthrough()
    cli("plugins", "disable", "oauth2")
    legacy.post(LEGACY + "/index.php", body=b'{"access_token":"old"}')
    rv = client.post(TOKEN_URL, data={"grant_type": "client_credentials"})
    assert rv.data == b'{"access_token":"old"}'
    assert body_of(legacy.calls[0]) == b"grant_type=client_credentials"


def test_an_unknown_api_in_the_form_body_is_forwarded(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy.post(LEGACY + "/index.php", match=[matchers.query_string_matcher("option=x")])
    rv = client.post("/index.php?option=x", data={"api": "nosuch", "k": "v"})
    assert rv.status_code == 200
    assert body_of(legacy.calls[0]) == b"api=nosuch&k=v"


@pytest.mark.parametrize(
    "path",
    ["/components/com_content/index.html", "/oauth/authorize", "/oauth/client_credential/x"],
    ids=["no-proxy-there", "under-a-token-path-no-route", "under-the-cc-path-no-route"],
)
def test_a_path_the_apigee_plugin_has_no_flow_for_is_forwarded(
    client, legacy, enable_apigee, enable_passthrough, path
) -> None:
    enable_apigee()
    enable_passthrough()
    legacy.get(LEGACY + path, body=b"old")
    assert client.get(path).data == b"old"


def test_a_path_no_rule_matches_is_forwarded(app, legacy, enable_passthrough) -> None:
    """Werkzeug's own 404 (no rule at all: the apigee catch-all takes every path here, so
    the error is raised as routing would raise it)."""
    enable_passthrough()
    legacy.get(LEGACY + "/nowhere", body=b"old")
    with app.test_request_context("/nowhere"):
        rv = app.handle_http_exception(NotFound())
        assert (rv.status_code, b"".join(rv.response)) == (200, b"old")
        rv.close()


def test_what_plugins_answer_is_not_forwarded(client, legacy, enable_passthrough, shop) -> None:
    """A token request, and errors a plugin words in its dialect (a wrong method, an empty
    option, a body too large) stay the plugin's: nothing reaches the legacy site."""
    enable_passthrough()
    cid, secret = shop
    ok = client.post(
        TOKEN_URL,
        data={"grant_type": "client_credentials", "client_id": cid, "client_secret": secret},
    )
    assert ok.status_code == 200 and ok.get_json()["token_type"] == "Bearer"
    assert client.get(TOKEN_URL).status_code == 405
    assert client.get("/index.php?api=oauth2&option=").status_code == 500
    too_big = client.post(TOKEN_URL, data=b"x" * (1024 * 1024 + 1), content_type=FORM)
    assert too_big.status_code == 413
    assert client.get("/healthz").status_code == 200
    assert len(legacy.calls) == 0


# --- the request the legacy site gets --------------------------------------------------------


def test_the_legacy_site_gets_the_request_with_our_forwarding_headers(
    app, client, legacy, enable_passthrough
) -> None:
    enable_passthrough()
    legacy.post(LEGACY + "/index.php", body=b"ok")
    headers = {
        "Authorization": "Basic c2hvcDpzZWNyZXQ=",
        "X-Custom": "kept",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept-Encoding": "gzip",
        # hop-by-hop: for one connection only (RFC 9110 §7.6.1), and what Connection names
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "dropped",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Upgrade": "h2c",
        "Proxy-Authorization": "Basic cHJveHk6cHc=",
        # who asked, as the client claims it: replaced by what we saw
        "X-Forwarded-For": "6.6.6.6",
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/admin",
        "Forwarded": "for=6.6.6.6",
        "X-Real-IP": "6.6.6.6",
    }
    client.set_cookie("joomla_session", "abc")  # the test client sends its jar as Cookie
    rv = client.post(
        "/index.php?option=com_users&task=login&x=%2F%20", data=b"u=1", headers=headers
    )
    assert rv.status_code == 200
    [call] = legacy.calls
    sent = {name.lower(): value for name, value in call.request.headers.items()}
    assert call.request.url == LEGACY + "/index.php?option=com_users&task=login&x=%2F%20"
    assert body_of(call) == b"u=1"
    assert sent == {
        "authorization": "Basic c2hvcDpzZWNyZXQ=",
        "cookie": "joomla_session=abc",
        "x-custom": "kept",
        "content-type": "application/x-www-form-urlencoded",
        "accept-encoding": "gzip",
        "user-agent": sent["user-agent"],  # the client's own (Werkzeug's test client)
        "content-length": "3",  # of the body sent; Host is the legacy site's (see tests/live)
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-host": "localhost",
        "x-forwarded-proto": "http",
        "x-real-ip": "127.0.0.1",
        "forwarded": 'for=127.0.0.1;host="localhost";proto=http',
        "x-emulator-hop": hop_mark(app),  # this service's mark: a loop is seen (issue 20)
    }
    assert re.fullmatch("emulator-[0-9a-f]{16}", sent["x-emulator-hop"])


def test_this_services_own_cookies_never_reach_the_legacy_site(
    app, legacy, enable_passthrough
) -> None:
    """The old site's cookies go on; an admin's or a site user's session here does not (the
    old site, or whoever took it over, could act as them here). With only ours, no Cookie."""
    enable_passthrough()
    legacy.get(LEGACY + "/index.php", body=b"ok")
    client = app.test_client(use_cookies=False)  # sends the Cookie header as given
    for sent, expected in (
        (
            "joomla_session=abc; emulator_admin=adm; oauth2_site_session=s; x=1",
            "joomla_session=abc; x=1",
        ),
        ("Emulator_Admin=adm;oauth2_site_csrf=c", None),
    ):
        assert (
            client.get("/index.php?option=com_content", headers={"Cookie": sent}).status_code == 200
        )
        assert legacy.calls[-1].request.headers.get("Cookie") == expected


def test_forwarding_headers_name_the_client_the_app_trusts(database_url, legacy) -> None:
    """Behind one trusted proxy (TRUSTED_PROXIES=1), the client is the address it added."""

    trusting = make_app(database_url, TRUSTED_PROXIES=1)
    empty_database(trusting)
    try:
        runner = trusting.test_cli_runner()
        for args in (
            ["plugins", "set", "passthrough", f"legacy_url={LEGACY}"],
            ["plugins", "enable", "passthrough"],
        ):
            assert runner.invoke(args=args).exit_code == 0
        legacy.get(LEGACY + "/x", body=b"ok")
        trusting.test_client().get(
            "/x",
            headers={"X-Forwarded-For": "6.6.6.6, 203.0.113.7", "X-Forwarded-Proto": "https"},
        )
    finally:
        with trusting.app_context():
            db.engine.dispose()
    sent = legacy.calls[0].request.headers
    assert (sent["X-Forwarded-For"], sent["X-Forwarded-Proto"]) == ("203.0.113.7", "https")
    assert sent["Forwarded"] == 'for=203.0.113.7;host="localhost";proto=https'


def test_a_base_path_is_kept_in_front(client, legacy, enable_passthrough) -> None:
    enable_passthrough(legacy_url=LEGACY + "/site/")
    legacy.get(LEGACY + "/site/index.php", body=b"ok")
    legacy.get(LEGACY + "/site/", body=b"home")
    assert client.get("/index.php?option=com_content").data == b"ok"
    assert client.get("/").data == b"home"
    assert legacy.calls[0].request.url == LEGACY + "/site/index.php?option=com_content"


def test_a_chunked_request_body_is_forwarded(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy.post(LEGACY + "/upload", body=b"ok")
    rv = client.post(
        "/upload",
        headers={"Transfer-Encoding": "chunked", "Content-Type": "text/plain"},
        input_stream=io.BytesIO(b"0123456789"),
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert rv.status_code == 200
    assert body_of(legacy.calls[0]) == b"0123456789"
    assert "transfer-encoding" not in {k.lower() for k in legacy.calls[0].request.headers}


# --- the answer that comes back --------------------------------------------------------------


def test_the_answer_comes_back_unchanged(client, legacy, enable_passthrough) -> None:
    """Status, every Set-Cookie apart, Location as sent, the body's bytes (gzip stays gzip),
    no header of ours added but the sandbox policy (issue 20); hop-by-hop headers of the
    answer are not passed on."""
    enable_passthrough()
    page = gzip.compress(b"<html>login</html>")
    legacy.add(
        responses.Response(
            "POST",
            LEGACY + "/index.php",
            status=303,
            body=page,
            auto_calculate_content_length=True,
            content_type=None,  # only the headers below (responses adds text/plain otherwise)
            headers=[
                ("Location", "https://legacy.example/index.php?option=com_users&view=profile"),
                ("Set-Cookie", "joomla_session=abc; path=/; HttpOnly"),
                ("Set-Cookie", "joomla_user_state=logged_in; path=/"),
                ("Content-Encoding", "gzip"),
                ("Content-Type", "text/html; charset=utf-8"),
                ("X-Frame-Options", "SAMEORIGIN"),
                ("Connection", "X-Hop"),
                ("X-Hop", "for this connection"),
                ("Keep-Alive", "timeout=5"),
            ],
        )
    )
    rv = client.post("/index.php?option=com_users&task=user.login", data={"u": "x"})
    assert rv.status_code == 303
    assert rv.headers["Location"] == (
        "https://legacy.example/index.php?option=com_users&view=profile"
    )
    assert rv.headers.getlist("Set-Cookie") == [
        "joomla_session=abc; path=/; HttpOnly",
        "joomla_user_state=logged_in; path=/",
    ]
    assert rv.headers["Content-Encoding"] == "gzip"
    assert rv.data == page
    assert rv.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "X-Hop" not in rv.headers and "Keep-Alive" not in rv.headers
    assert "X-Content-Type-Options" not in rv.headers
    assert rv.headers.getlist("Content-Security-Policy") == [isolation.SANDBOX]


def test_a_redirect_is_passed_back_not_followed(client, legacy, enable_passthrough) -> None:
    """Only the first URL is registered: following the redirect would fail the test."""
    enable_passthrough()
    legacy.get(LEGACY + "/old", status=301, headers={"Location": "/new"})
    rv = client.get("/old")
    assert (rv.status_code, rv.headers["Location"]) == (301, "/new")
    assert len(legacy.calls) == 1


@pytest.mark.parametrize("status", [404, 500, 503])
def test_error_answers_of_the_legacy_site_are_passed_back(
    client, legacy, enable_passthrough, status
) -> None:
    enable_passthrough()
    legacy.get(LEGACY + "/x", status=status, body=b"legacy error")
    rv = client.get("/x")
    assert (rv.status_code, rv.data) == (status, b"legacy error")


def test_head_is_forwarded(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy.head(LEGACY + "/file.pdf", headers={"Content-Length": "1234"})
    rv = client.head("/file.pdf")
    assert rv.status_code == 200 and rv.headers["Content-Length"] == "1234"


# --- trouble -----------------------------------------------------------------------------------

TROUBLE = [
    (
        "refused",
        requests.exceptions.ConnectionError("refused"),
        "The legacy site could not be reached",
    ),
    (
        "connect-timeout",
        requests.exceptions.ConnectTimeout("slow"),
        "The legacy site could not be reached",
    ),
    (
        "read-timeout",
        requests.exceptions.ReadTimeout("silent"),
        "The legacy site did not answer in time",
    ),
    (
        "cut-off",
        requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("aborted")),
        "The legacy site's answer broke off",
    ),
    (
        "not-http",
        requests.exceptions.ChunkedEncodingError("garbage"),
        "The legacy site's answer broke off",
    ),
]


@pytest.mark.parametrize(("exc", "message"), [t[1:] for t in TROUBLE], ids=[t[0] for t in TROUBLE])
def test_trouble_at_the_legacy_site_is_a_502_and_a_log_line(
    client, legacy, enable_passthrough, caplog, exc, message
) -> None:
    enable_passthrough()
    legacy.get(LEGACY + "/index.php", body=exc)
    with caplog.at_level(logging.WARNING):
        rv = client.get(
            "/index.php?option=com_x&client_secret=" + SECRET,
            headers={"Authorization": "Bearer tok-of-the-client"},
        )
    assert rv.status_code == 502
    assert rv.headers["Content-Type"] == "application/json"
    assert rv.get_json() == {
        "error": "bad_gateway",
        "message": message,
    }
    [line] = [r for r in caplog.records if r.name.startswith("plugins.passthrough")]
    assert line.getMessage().startswith("legacy site http://legacy.test/index.php: ")
    assert SECRET not in caplog.text and "tok-of-the-client" not in caplog.text
    assert "Traceback" not in caplog.text


# Answers whose head holds a CR, LF or NUL inside a header (issue 20): passed on, a bare CR
# became a header break (http.client splits a line there), here a Set-Cookie of the attacker's.
BROKEN_HEADS = [
    ("bare-cr-in-value", b"X-Echo: a\rSet-Cookie: evil=1\r\n"),
    ("bare-cr-before-lf", b"X-Echo: a\r\rSet-Cookie: evil=1\r\n"),
    ("nul-in-value", b"X-Echo: a\x00Set-Cookie: evil=1\r\n"),
    ("cr-in-name", b"X-E\rcho: a\r\n"),
    ("nul-in-name", b"X-E\x00cho: a\r\n"),
    ("bare-cr-in-folded-line", b"X-Echo: a\r\n b\rSet-Cookie: evil=1\r\n"),
]


@pytest.mark.parametrize("line", [b[1] for b in BROKEN_HEADS], ids=[b[0] for b in BROKEN_HEADS])
def test_a_header_with_a_line_break_or_nul_is_a_502(client, enable_passthrough, caplog, line):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + line + b"\r\nok"
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url)
        with caplog.at_level(logging.WARNING):
            rv = client.get("/index.php?option=com_x&client_secret=" + SECRET)
    assert (rv.status_code, rv.data) == (
        502,
        json_error("bad_gateway", "The legacy site's answer has a malformed header"),
    )
    assert "Set-Cookie" not in rv.headers and "X-Echo" not in rv.headers
    [logged] = [r for r in caplog.records if r.name.startswith("plugins.passthrough")]
    assert logged.getMessage() == (
        f"legacy site {target.base_url}/index.php: "
        "a header of the answer holds a CR, LF or NUL (not passed on)"
    )
    assert "evil" not in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    "value",
    ["a\r\nSet-Cookie: evil=1", "a\nSet-Cookie: evil=1", "a\rb", "a\x00b"],
    ids=["crlf", "lf", "cr", "nul"],
)
def test_a_header_value_holding_a_line_break_is_a_502(client, legacy, enable_passthrough, value):
    """The same when the value reaches us parsed (``responses`` hands it over as is)."""
    enable_passthrough()
    legacy.get(LEGACY + "/x", body=b"ok", headers={"X-Echo": value})
    rv = client.get("/x")
    assert (rv.status_code, rv.get_json()["message"]) == (
        502,
        "The legacy site's answer has a malformed header",
    )
    assert "Set-Cookie" not in rv.headers


def test_header_lines_ended_by_a_bare_lf_pass(client, enable_passthrough) -> None:
    """RFC 9112 §2.2 lets a recipient take a bare LF for a line's end: two headers."""
    answer = b"HTTP/1.1 200 OK\nContent-Length: 2\nX-A: 1\nX-B: 2\n\nok"
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url)
        rv = client.get("/x")
    assert (rv.status_code, rv.data, rv.headers["X-A"], rv.headers["X-B"]) == (200, b"ok", "1", "2")


def test_an_unreachable_site_is_a_502(client, enable_passthrough, caplog) -> None:
    """A real refused connection: a port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    enable_passthrough(legacy_url=f"http://127.0.0.1:{port}")
    rv = client.get("/index.php?option=com_content")
    assert (rv.status_code, rv.data) == (
        502,
        json_error("bad_gateway", "The legacy site could not be reached"),
    )
    assert "legacy site http://127.0.0.1:" in caplog.text


def test_it_cannot_be_enabled_without_a_legacy_url(client, cli, set_params) -> None:
    out = cli("plugins", "enable", "passthrough", expect_ok=False)
    assert "cannot be enabled while legacy_url is not set" in out
    assert client.get("/index.php?option=com_content").status_code == 404  # not forwarded
    set_params("passthrough", legacy_url=LEGACY)
    cli("plugins", "enable", "passthrough")
    # Enabled, it keeps its legacy_url: emptying it is refused until it is disabled.
    out = cli("plugins", "set", "passthrough", "legacy_url=", expect_ok=False)
    assert "legacy_url: Required while the plugin is enabled" in out
    out = cli("plugins", "reset", "passthrough", expect_ok=False)
    assert "disable the plugin first" in out
    cli("plugins", "disable", "passthrough")
    cli("plugins", "reset", "passthrough")


def test_enabled_without_a_legacy_url_it_refuses_clearly(app, client, caplog) -> None:
    """A site whose plugin was enabled before legacy_url was required still answers clearly."""
    with app.app_context():
        get_registry().set_enabled(db.session, "passthrough", True, now=utcnow())
        db.session.commit()
    rv = client.get("/index.php?option=com_content")
    assert (rv.status_code, rv.data) == (
        502,
        json_error("not_configured", "The legacy site is not configured"),
    )
    assert "plugins set passthrough legacy_url=" in caplog.text


# --- limits ------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_request_body_over_the_limit_is_a_413_and_not_sent(
    client, legacy, enable_passthrough, chunked
) -> None:
    enable_passthrough(max_request_bytes=10)
    extra = (
        {
            "headers": {"Transfer-Encoding": "chunked"},
            "input_stream": io.BytesIO(b"0123456789A"),
            "environ_overrides": {"wsgi.input_terminated": True},
        }
        if chunked
        else {"data": b"0123456789A"}
    )
    rv = client.post("/upload", **extra)
    assert (rv.status_code, rv.data) == (
        413,
        json_error("request_too_large", "The request body is larger than 10 bytes"),
    )
    assert len(legacy.calls) == 0


def test_a_body_at_the_limit_is_sent(client, legacy, enable_passthrough) -> None:
    enable_passthrough(max_request_bytes=10)
    legacy.post(LEGACY + "/upload", body=b"ok")
    assert client.post("/upload", data=b"0123456789").status_code == 200


def test_a_body_over_max_content_length_is_a_413(client, legacy, enable_passthrough) -> None:
    """The host's MAX_CONTENT_LENGTH (1 MiB) bounds what is read, whatever the param says."""
    enable_passthrough()
    rv = client.post(
        "/index.php?option=com_media", data=b"x" * (1024 * 1024 + 1), content_type=FORM
    )
    assert rv.status_code == 413
    assert rv.get_json()["error"] == "request_too_large"


def test_a_declared_answer_over_the_limit_is_a_502(client, legacy, enable_passthrough) -> None:
    enable_passthrough(max_response_bytes=10)
    legacy.get(LEGACY + "/big", body=b"0123456789A", auto_calculate_content_length=True)
    rv = client.get("/big")
    assert (rv.status_code, rv.data) == (
        502,
        json_error("bad_gateway", "The legacy site's answer is too large"),
    )


def test_an_undeclared_answer_over_the_limit_ends_as_an_error(
    client, enable_passthrough, caplog
) -> None:
    """Chunked: the size is known only as it comes, after the status line went out. The
    answer ends with AnswerCutOff, so the server ends the connection without the last
    chunk: the client sees it incomplete, never as a whole answer (issue 20)."""
    chunks = b"".join(b"4\r\n%s\r\n" % b"abcd" for _ in range(4)) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url, max_response_bytes=10)
        rv = client.get("/big")
        assert (rv.status_code, read_cut_off(rv)) == (200, b"abcdabcdab")
    assert "answer cut off at 10 bytes (the size limit)" in caplog.text
    assert "Content-Length" not in rv.headers


def test_an_undeclared_answer_at_the_limit_comes_whole(client, enable_passthrough) -> None:
    chunks = b"".join(b"4\r\n%s\r\n" % b"abcd" for _ in range(4)) + b"0\r\n\r\n"
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url, max_response_bytes=16)
        rv = client.get("/big")
        assert (rv.status_code, rv.data) == (200, b"abcd" * 4)


def test_a_declared_answer_over_the_limit_is_a_502_before_anything_is_sent(
    client, enable_passthrough
) -> None:
    """A real answer declaring 11 bytes over a limit of 10: refused before its status line,
    and its body is never read."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-Legacy: 1\r\n\r\n0123456789A"
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url, max_response_bytes=10)
        rv = client.get("/big")
    assert (rv.status_code, rv.data) == (
        502,
        json_error("bad_gateway", "The legacy site's answer is too large"),
    )
    assert "X-Legacy" not in rv.headers


def test_a_legacy_answer_cut_mid_body_ends_as_an_error(client, enable_passthrough) -> None:
    """The legacy site closes its connection in the middle of a chunked body."""
    answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"
    with scripted_target(lambda conn: conn.sendall(answer)) as target:
        enable_passthrough(legacy_url=target.base_url)
        rv = client.get("/cut")
        assert (rv.status_code, read_cut_off(rv)) == (200, b"abcd")


def test_the_deadline_ends_a_trickling_answer_with_a_502(client, enable_passthrough) -> None:
    """A byte every 0.2 s: each read is quick (timeout_ms is 5 s), so only the 1 s deadline
    can stop the 7.6 s the whole answer would take."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with scripted_target(lambda conn: trickle(conn, head, every=0.2)) as target:
        enable_passthrough(legacy_url=target.base_url, deadline_ms=1000, timeout_ms=5000)
        rv = client.get("/slow")
    assert (rv.status_code, rv.data) == (
        502,
        json_error("bad_gateway", "The legacy site did not answer in time"),
    )


def test_the_answer_is_streamed(client, enable_passthrough) -> None:
    """The client has the first part while the legacy site still holds back the rest."""
    import threading

    release, finished = threading.Event(), threading.Event()

    def script(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nfirst")
        release.wait(timeout=5)
        conn.sendall(b"second")
        finished.set()

    with scripted_target(script) as target:
        enable_passthrough(legacy_url=target.base_url)
        rv = client.get("/stream", buffered=False)
        chunks = iter(rv.response)
        first = next(chunks)
        held_back = not finished.is_set()
        release.set()
        rest = b"".join(chunks)
        rv.close()
    assert (first, held_back, rest) == (b"first", True, b"second")


# --- paths that could go elsewhere ---------------------------------------------------------

HOSTILE = [
    ("dot-dot", "/site/../admin/index.php"),
    ("dot-dot-encoded", "/%2e%2e/admin"),
    ("dot-dot-encoded-twice", "/%252e%252e/admin"),
    ("encoded-slash", "/a%2Fb"),
    ("encoded-backslash", "/a%5Cb"),
    ("double-slash-host", "//evil.example/x"),
    ("tomcat-parameter", "/..;x/admin"),
]


def as_served(raw: str) -> dict[str, str]:
    """The environ a server gives for the request target ``raw``: PATH_INFO decoded once,
    RAW_URI/REQUEST_URI as sent (gunicorn's and Werkzeug's)."""
    return {"PATH_INFO": unquote(raw), "RAW_URI": raw, "REQUEST_URI": raw}


@pytest.mark.parametrize("raw", [h[1] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_path_that_could_name_another_place_is_refused(
    client, legacy, enable_passthrough, raw
) -> None:
    enable_passthrough(legacy_url=LEGACY + "/site")
    rv = client.get("/placeholder", environ_overrides=as_served(raw))
    assert rv.status_code == 400
    assert rv.get_json() == {
        "error": "invalid_path",
        "message": "The path may not hold dot segments, empty segments, backslashes or "
        "encoded slashes",
    }
    assert len(legacy.calls) == 0


def test_an_absolute_url_as_the_target_stays_on_the_legacy_site(
    client, legacy, enable_passthrough
) -> None:
    """``GET http://evil.example/x HTTP/1.1``: the host and the raw target name another site;
    only the path is forwarded, to the configured one."""
    enable_passthrough(legacy_url=LEGACY + "/site")
    legacy.get(LEGACY + "/site/x", body=b"ok")
    rv = client.get(
        "http://evil.example/x",
        environ_overrides={
            "RAW_URI": "http://evil.example/x",
            "REQUEST_URI": "http://evil.example/x",
        },
    )
    assert rv.data == b"ok"
    assert legacy.calls[0].request.url == LEGACY + "/site/x"
    assert legacy.calls[0].request.headers["X-Forwarded-Host"] == "evil.example"


def test_the_path_goes_as_the_client_encoded_it(client, legacy, enable_passthrough) -> None:
    enable_passthrough()
    legacy.get(LEGACY + "/a%3Bb/c%20d", body=b"ok")
    client.get("/placeholder", environ_overrides=as_served("/a%3Bb/c%20d"))
    assert legacy.calls[0].request.url == LEGACY + "/a%3Bb/c%20d"


# --- disabled: today's answers -----------------------------------------------------------------

API_NOT_AVAILABLE = (
    b'{"message":"API \\"nosuch\\" is not available","code":404,"type":"RuntimeException"}'
)
NOT_FOUND = (
    b'{"message":"The requested URL was not found on the server. If you entered the URL '
    b'manually please check your spelling and try again.","code":404,"type":"RuntimeException"}'
)
TODAY = [
    ("unknown-api", "/index.php?option=token&api=nosuch", 404, API_NOT_AVAILABLE, "text/html"),
    (
        "no-api",
        "/index.php?option=com_content",
        404,
        b'{"message":"No API was requested","code":404,"type":"RuntimeException"}',
        "text/html",
    ),
    ("unknown-option", "/index.php?option=authorise&api=oauth2", 200, b"", "text/html"),
    ("path-of-a-disabled-plugin", "/images/logo.png", 404, NOT_FOUND, "text/html"),
]


@pytest.mark.parametrize("configured", [False, True], ids=["never-set", "set-then-disabled"])
@pytest.mark.parametrize(
    ("url", "status", "body", "content_type"),
    [t[1:] for t in TODAY],
    ids=[t[0] for t in TODAY],
)
def test_disabled_it_changes_nothing(
    client, cli, legacy, enable_passthrough, configured, url, status, body, content_type
) -> None:
    if configured:
        enable_passthrough(shadow=True)
        cli("plugins", "disable", "passthrough")
    rv = client.get(url)
    assert (rv.status_code, rv.data) == (status, body)
    assert rv.headers["Content-Type"].startswith(content_type)
    assert all(name in rv.headers for name in SECURITY_HEADERS)
    assert len(legacy.calls) == 0


def test_disabled_the_apigee_answers_stay_edges(client, legacy, enable_apigee) -> None:
    enable_apigee()
    rv = client.get("/components/x")
    assert rv.status_code == 404
    assert rv.get_json()["fault"]["detail"]["errorcode"] == (
        "messaging.adaptors.http.flow.ApplicationNotFound"
    )
    rv = client.get("/oauth/authorize")
    assert (rv.status_code, rv.data, "Content-Type" in rv.headers) == (200, b"", False)


def test_disabled_werkzeugs_404_is_todays(app) -> None:
    with app.test_request_context("/nowhere"):
        rv = app.handle_http_exception(NotFound())
        assert (rv.status_code, rv.get_data()) == (404, NOT_FOUND)
        assert request.path == "/nowhere"


# --- params ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://legacy.example",
        "legacy.example",
        "http://",
        "https://legacy.example/?x=1",
        "https://legacy.example/#top",
        "https://user:pw@legacy.example",
        "https://legacy.example:port",
        "https://legacy.example/a/../b",
        "https://legacy.example//b",
        "https://legacy.example/a b",
    ],
)
def test_a_bad_legacy_url_is_refused(cli, url) -> None:
    out = cli("plugins", "set", "passthrough", f"legacy_url={url}", expect_ok=False)
    assert "is not a legacy site URL" in out and "nothing was stored" in out


def test_plugins_show_warns_about_risky_settings(cli) -> None:
    cli("plugins", "set", "passthrough", "legacy_url=http://legacy.example", "shadow=true")
    out = cli("plugins", "show", "passthrough")
    assert "legacy_url is http" in out
    assert "staging copy of the old site" in out


# --- a legacy_url that leads back here (issue 20) ------------------------------------------


def test_a_request_that_comes_back_is_a_508_and_not_sent_again(
    app, client, enable_passthrough, caplog
) -> None:
    """legacy_url is this very service: the forwarded request comes back with our hop mark
    and is answered 508 there, which our first forward passes back. One hop, not 13."""
    with served(app) as here:
        enable_passthrough(legacy_url=here, deadline_ms=5000)
        with caplog.at_level(logging.ERROR, logger="plugins.passthrough"):
            rv = client.get("/index.php?option=com_content&view=article&id=1")
    assert (rv.status_code, rv.data) == (
        508,
        json_error(
            "loop_detected",
            "The request came back to this service: the legacy site's URL leads here",
        ),
    )
    [logged] = [r for r in caplog.records if r.name.startswith("plugins.passthrough")]
    assert logged.getMessage().startswith(
        f"passthrough: a request came back from legacy_url {here}, which leads to this service"
    )


def test_a_request_with_our_mark_is_never_forwarded(app, client, legacy, enable_passthrough):
    """Whatever way it came back (another proxy in between): 508 at once, the old site is
    not called. Another service's mark is passed on, ours after it."""
    enable_passthrough()
    mark = hop_mark(app)
    rv = client.get("/x", headers={"X-Emulator-Hop": f"emulator-0123456789abcdef, {mark}"})
    assert rv.status_code == 508 and rv.get_json()["error"] == "loop_detected"
    assert len(legacy.calls) == 0
    legacy.get(LEGACY + "/x", body=b"ok")
    rv = client.get("/x", headers={"X-Emulator-Hop": "emulator-0123456789abcdef"})
    assert rv.data == b"ok"
    assert legacy.calls[0].request.headers["X-Emulator-Hop"] == (
        f"emulator-0123456789abcdef, {mark}"
    )


def test_the_hop_mark_is_the_same_in_every_worker_and_tells_nothing_of_the_key(app) -> None:
    again = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    try:
        assert hop_mark(again) == hop_mark(app)
    finally:
        with again.app_context():
            db.engine.dispose()
    assert app.secret_key not in hop_mark(app)


SELF_URLS = [
    "http://127.0.0.1:8000",
    "http://127.0.0.2:8000/site",
    "http://localhost:8000",
    "http://app.localhost:8000",
    "http://[::1]:8000",
    "http://0.0.0.0:8000",
    "http://[::ffff:127.0.0.1]:8000",
]


@pytest.mark.parametrize("url", SELF_URLS)
def test_a_legacy_url_that_is_this_service_is_refused(cli, monkeypatch, url) -> None:
    """This machine on the port the service listens on (bin/serve's PORT) is a loop."""
    monkeypatch.setenv("PORT", "8000")
    out = cli("plugins", "set", "passthrough", f"legacy_url={url}", expect_ok=False)
    assert f"{url!r} is this service itself (this machine, port 8000)" in out
    assert "nothing was stored" in out


def test_a_legacy_url_on_this_machine_but_another_port_is_taken(cli, monkeypatch) -> None:
    monkeypatch.setenv("PORT", "8000")
    cli("plugins", "set", "passthrough", "legacy_url=http://127.0.0.1:8080")  # the old site
    cli("plugins", "set", "passthrough", "legacy_url=http://legacy.example:8000")
    monkeypatch.delenv("PORT")  # not known here: stored; the hop mark stops a loop
    cli("plugins", "set", "passthrough", "legacy_url=http://127.0.0.1:8000")
    monkeypatch.setenv("PORT", "8000")  # read where it is known: still read, never refused
    assert "legacy_url = " in cli("plugins", "show", "passthrough")
