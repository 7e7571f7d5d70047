"""Shadow mode: answered requests also go to the legacy site, in the background, compared.

The legacy site is faked with ``responses`` (every registered call must be made); the
background thread's calls reach the fake too (it patches requests for the whole process),
and each test waits for the queue to settle before the fake is checked.
"""

from __future__ import annotations

import base64
import os
import threading
from urllib.parse import urlencode

import pytest
import requests

from plugins.passthrough import shadow
from tests.support.passthrough import LEGACY
from tests.support.passthrough import SECRET
from tests.support.passthrough import TOKEN_URL
from tests.support.passthrough import served

FORM = "application/x-www-form-urlencoded"
TOKEN_QUERY = "option=token&api=oauth2"
THEIR_ACCESS = "0123456789abcdef0123456789abcdef01234567"
THEIR_REFRESH = "fedcba9876543210fedcba9876543210fedcba98"
JSON_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def their_token(
    expires_in: str = '"3599"', token_type: str = "Bearer", refresh: str = THEIR_REFRESH
):
    return (
        f'{{"access_token":"{THEIR_ACCESS}","expires_in":{expires_in},"token_type":"{token_type}",'
        f'"scope":"catalog.read","refresh_token":"{refresh}",'
        '"expireTimeFormatted":"2025-06-30 11:00:00","created":"2025-06-30 10:00:00"}'
    )


def token_request(client, cid: str, secret: str, **extra):
    body = {"grant_type": "client_credentials", "client_id": cid, "client_secret": secret}
    return client.post(TOKEN_URL, data=body, **extra)


def report(cli) -> str:
    return cli("legacy", "shadow-report")


def register_token_answer(legacy, body: str, status: int = 200, headers=None) -> None:
    legacy.post(
        LEGACY + "/index.php",
        body=body,
        status=status,
        content_type="application/json",
        headers=JSON_HEADERS if headers is None else headers,
    )


def test_a_matching_answer_is_counted_as_a_match(
    client, cli, legacy, enable_passthrough, shop, shadow_done, count_rows
) -> None:
    enable_passthrough(shadow=True)
    register_token_answer(legacy, their_token())
    rv = token_request(client, *shop)
    assert rv.status_code == 200
    shadow_done()
    [call] = legacy.calls  # the request went as a forward would send it
    assert call.request.url == f"{LEGACY}/index.php?{TOKEN_QUERY}"
    assert (
        call.request.body
        == urlencode(
            {"grant_type": "client_credentials", "client_id": shop[0], "client_secret": SECRET}
        ).encode()
    )
    assert call.request.headers["X-Forwarded-For"] == "127.0.0.1"
    assert count_rows("passthrough_shadow_differences") == 0
    out = report(cli)
    assert "1 requests compared with the legacy site: 1 matched, 0 differed" in out
    assert "0 dropped" in out


def test_a_different_answer_is_kept_masked_and_without_secrets(
    client, cli, legacy, enable_passthrough, shop, shadow_done, table_text
) -> None:
    """Twice the same difference: one row with a count of 2; then another kind. Nothing of
    the request's credentials or either side's tokens is in the table or the report."""
    enable_passthrough(shadow=True)
    cid, secret = shop
    other_refresh = "Q" * 28  # a token of another shape
    register_token_answer(legacy, their_token(expires_in="7200", refresh=other_refresh))
    ours = [token_request(client, cid, secret).get_json() for _ in range(2)]
    basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
    client.set_cookie("joomla_session", "cookie-value-1")
    client.set_cookie("oauth2_site_session", "ours")  # a site user's session here: not sent
    rv = client.post(
        TOKEN_URL + "&access_token=" + THEIR_ACCESS,
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert rv.status_code == 200
    ours.append(rv.get_json())
    shadow_done()
    assert len(legacy.calls) == 3
    assert legacy.calls[2].request.headers["Authorization"] == f"Basic {basic}"
    assert legacy.calls[2].request.headers["Cookie"] == "joomla_session=cookie-value-1"

    kept = table_text()
    out = report(cli)
    secrets = [secret, basic, "cookie-value-1", THEIR_ACCESS, THEIR_REFRESH, other_refresh]
    secrets += [t[key] for t in ours for key in ("access_token", "refresh_token")]
    for text in (kept, out):
        assert [s for s in secrets if s in text] == []
    assert "3 requests compared with the legacy site: 0 matched, 3 differed (1 kinds kept)" in out
    kind = "POST /index.php?api=oauth2&option=token: body $.expires_in, $.refresh_token"
    assert f"\n3 x {kind}\n" in out
    assert "ours: 200\n      Content-Type: application/json\n" in out
    assert '"refresh_token":"<token28>"' in out and '"access_token":"<hex40>"' in out
    assert legacy.calls[2].request.url == f"{LEGACY}/index.php?{TOKEN_QUERY}&access_token=" + (
        THEIR_ACCESS
    )
    assert "client_secret=<masked>" in out  # the first example's form body


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("client.secret", FORM),
        ("%20client_secret", FORM),
        ("client+secret", FORM),
        ("client%2Esecret", FORM),
        ("client\\u005fsecret", "application/json"),
    ],
    ids=["dot", "leading-space", "space", "encoded-dot", "json-escaped-key"],
)
def test_a_working_secret_under_a_name_php_rewrites_is_never_kept(
    client, cli, legacy, enable_passthrough, shop, shadow_done, table_text, name, content_type
) -> None:
    """PHP reads each of these names as client_secret, so the secret works (our 200); the
    shadow's example masks it by that name, in the table and in the report (issue 20)."""
    enable_passthrough(shadow=True)
    register_token_answer(legacy, '{"error":"invalid_client"}', status=400)
    cid, secret = shop
    if content_type == FORM:
        body = f"grant_type=client_credentials&client_id={cid}&{name}={secret}".encode()
    else:
        body = (
            f'{{"grant_type":"client_credentials","client_id":"{cid}","{name}":"{secret}"}}'
        ).encode()
    rv = client.post(TOKEN_URL, data=body, content_type=content_type)
    assert rv.status_code == 200, rv.get_data(as_text=True)
    shadow_done()
    assert len(legacy.calls) == 1
    out = report(cli)
    assert "1 differed" in out
    for text in (table_text(), out):
        assert secret not in text


def test_a_shadowed_request_that_comes_back_is_not_shadowed_again(
    app, client, cli, enable_passthrough, shop, shadow_done, caplog
) -> None:
    """legacy_url is this very service: the shadowed request is answered here, and its
    answer is not shadowed once more (each round would make a token, without end)."""
    with served(app) as here:
        enable_passthrough(legacy_url=here, shadow=True)
        assert token_request(client, *shop).status_code == 200
        shadow_done()
    out = report(cli)
    assert "1 requests compared with the legacy site" in out
    assert "a shadowed request came back from legacy_url " + here in caplog.text


def test_a_status_difference_and_kinds_past_the_cap(
    client, cli, legacy, enable_passthrough, shop, make_client, shadow_done, count_rows
) -> None:
    enable_passthrough(shadow=True, shadow_max_kinds=1)
    register_token_answer(
        legacy,
        '{"error":"invalid_client","error_description":"The client credentials are invalid"}',
        status=400,
    )
    token_request(client, *shop)
    shadow_done()
    legacy.get(LEGACY + "/index.php", body="", status=404)  # option=resource: another kind
    client.get("/index.php?option=resource&api=oauth2")
    shadow_done()
    out = report(cli)
    assert count_rows("passthrough_shadow_differences") == 1
    assert "\n1 x POST /index.php?api=oauth2&option=token: status 200 vs 400; body" in out
    assert "1 differences were of new kinds past shadow_max_kinds: counted, not kept." in out
    assert "2 requests compared" in out and "2 differed (1 kinds kept)" in out


def test_a_full_queue_drops_and_counts(client, cli, legacy, enable_passthrough, shop, shadow_done):
    """The legacy site holds the first shadowed request; one more waits in the queue (its
    size is 1); the rest are dropped. Our answers come back all the while."""
    enable_passthrough(shadow=True, shadow_queue_size=1)
    entered, release = threading.Event(), threading.Event()

    def slow_site(_request):
        entered.set()
        release.wait(timeout=20)
        return 200, {"Content-Type": "application/json", **JSON_HEADERS}, their_token()

    legacy.add_callback("POST", LEGACY + "/index.php", callback=slow_site)
    answers = [token_request(client, *shop)]
    assert entered.wait(timeout=20)
    answers += [token_request(client, *shop) for _ in range(3)]
    assert not release.is_set()  # four answers while the legacy site still held the first
    release.set()
    shadow_done()
    assert [rv.status_code for rv in answers] == [200] * 4
    assert len(legacy.calls) == 2
    out = report(cli)
    assert "2 requests compared with the legacy site: 2 matched" in out
    assert "2 dropped (queue full)" in out


def test_the_shadow_never_changes_our_answer(
    client, cli, legacy, enable_passthrough, shop, shadow_done
) -> None:
    """A wrong secret and a resource call answered with shadow off, then on against a legacy
    site that answers something else entirely, then on against a site that is down."""
    cid, _ = shop
    wrong = {"grant_type": "client_credentials", "client_id": cid, "client_secret": "wrong"}

    def answers() -> list[tuple[int, list, bytes]]:
        rvs = [
            client.post(TOKEN_URL, data=wrong),
            client.get(
                "/index.php?option=resource&api=oauth2", headers={"Authorization": "Bearer x"}
            ),
        ]
        return [(rv.status_code, sorted(rv.headers.items()), rv.data) for rv in rvs]

    before = answers()
    enable_passthrough(shadow=True)
    legacy.add_callback(
        "POST",
        LEGACY + "/index.php",
        callback=lambda _r: (500, {"Set-Cookie": "x=1", "Location": "/elsewhere"}, "<html>"),
    )
    legacy.get(LEGACY + "/index.php", body=requests.exceptions.ConnectionError("down"))
    during = answers()
    shadow_done()
    assert during == before
    out = report(cli)
    assert "1 requests compared" in out and "1 differed" in out
    assert "1 failed (no answer from the legacy site)" in out


def test_forwarded_requests_are_not_shadowed(client, cli, legacy, enable_passthrough, shadow_done):
    enable_passthrough(shadow=True)
    legacy.get(LEGACY + "/index.php", body=b"old site")
    assert client.get("/index.php?option=com_content").data == b"old site"
    shadow_done()
    assert len(legacy.calls) == 1
    assert "Nothing compared yet" in report(cli)


def test_a_request_whose_body_is_not_kept_is_skipped(
    client, cli, legacy, enable_passthrough, shop, shadow_done
) -> None:
    """A body over the snapshot's 64 KiB (within MAX_CONTENT_LENGTH) is not shadowed: a cut
    body would ask the legacy site something else."""
    enable_passthrough(shadow=True)
    body = urlencode({"grant_type": "client_credentials", "pad": "x" * 70_000})
    assert client.post(TOKEN_URL, data=body, content_type=FORM).status_code == 400
    shadow_done()
    assert len(legacy.calls) == 0
    assert "1 skipped (not comparable)" in report(cli)


def test_shadow_off_sends_nothing(client, legacy, enable_passthrough, shop, shadow_done) -> None:
    enable_passthrough()
    assert token_request(client, *shop).status_code == 200
    shadow_done()
    assert len(legacy.calls) == 0


def test_a_forked_child_starts_with_an_empty_queue(app) -> None:
    """The parent's thread and jobs are not the child's: it queues and shadows on its own."""
    queue = shadow.queue_of(app)
    gate = threading.Event()
    queue._jobs.append(None)  # a job the parent's (absent) thread would take
    queue._thread = threading.Thread(target=gate.wait)  # stands for the parent's thread
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, then leave without running any of pytest's teardown
        ok = not queue._jobs and queue._thread is None and queue.wait_idle(timeout=1)
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    try:
        assert os.read(read, 1) == b"1"
    finally:
        os.close(read)
        os.waitpid(pid, 0)
        queue._jobs.clear()
        queue._thread = None
