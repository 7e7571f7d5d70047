"""GenerateAccessToken at /oauth/accesstoken and /oauth/client_credential/accesstoken.

compat/apigee.md §2.2 (every row of the success-field table, both profiles, exact bytes),
§2.3 (scope), §2.4 (every row of the error table), decisions 1-6.
"""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import event

from emulator.storage.database import db
from plugins.apigee.render import _string
from plugins.apigee.render import seconds_left
from plugins.apigee.tokens import ALPHANUMERIC
from plugins.apigee.tokens import alphanumeric_token
from tests.support.apigee import CC_TOKEN_URL
from tests.support.apigee import PROFILES
from tests.support.apigee import TOKEN_URL
from tests.support.apigee import basic
from tests.support.apigee import bearer
from tests.support.app import make_app

from .wire_format import SEED
from .wire_format import SEED_CLIENT_ID
from .wire_format import SEED_RESPONSE
from .wire_format import SEED_SECRET
from .wire_format import SEED_TEMPLATE
from .wire_format import TEMPLATES
from .wire_format import field_line
from .wire_format import match_template

GRANT = "?grant_type=client_credentials"


def get_token(
    client,
    client_id=SEED_CLIENT_ID,
    secret=SEED_SECRET,
    *,
    url=TOKEN_URL + GRANT,
    method="GET",
    **kwargs,
):
    """The sample's call: Basic credentials, grant_type in the query."""
    rv = client.open(url, method=method, headers=basic(client_id, secret), **kwargs)
    assert rv.status_code == 200, rv.data
    return rv


def test_seed_copy_is_current() -> None:
    if not SEED.exists():
        pytest.skip("shared/seeds is not beside the repository")
    assert SEED_RESPONSE in SEED.read_text()


# --- the whole body, both profiles ----------------------------------------------------


@pytest.mark.parametrize("refresh", [False, True], ids=["no-refresh", "cc-refresh-token"])
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_token_body_is_the_profiles_bytes(client, seed_app, app_id_of, profile, refresh) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=refresh)
    before = int(time.time() * 1000)
    rv = get_token(client)
    after = int(time.time() * 1000)

    assert rv.headers["Content-Type"] == "application/json"
    values = match_template(TEMPLATES[(profile, refresh)], rv.get_data(as_text=True))
    assert before <= int(values["issued_at"]) <= after
    assert values["app_id"] == app_id_of(SEED_CLIENT_ID)


def test_the_seeds_response_with_our_values_is_our_response(client, seed_app) -> None:
    """The seed's README body with the per-call values swapped in is, byte for byte, ours."""
    seed_app()
    text = get_token(client).get_data(as_text=True)
    values = match_template(SEED_TEMPLATE, text)
    seed = json.loads(SEED_RESPONSE)
    ours = json.loads(text)
    assert list(ours) == list(seed)
    assert {
        k: v for k, v in ours.items() if k not in ("issued_at", "application_name", "access_token")
    } == {
        k: v for k, v in seed.items() if k not in ("issued_at", "application_name", "access_token")
    }
    assert values["access_token"] == ours["access_token"]


# --- one test per row of the success-field table (§2.2), both profiles -----------------


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_issued_at_is_epoch_milliseconds(client, seed_app, profile) -> None:
    seed_app(response_profile=profile)
    before = time.time() * 1000
    body = get_token(client).get_json()
    assert isinstance(body["issued_at"], str) and len(body["issued_at"]) == 13
    assert before - 1 <= int(body["issued_at"]) <= time.time() * 1000 + 1


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_application_name_is_the_apps_stable_uuid(
    client, cli, seed_app, app_id_of, profile
) -> None:
    seed_app(response_profile=profile)
    app_id = app_id_of(SEED_CLIENT_ID)
    first = get_token(client).get_data(as_text=True)
    cli("apigee", "apps", "set", SEED_CLIENT_ID, "--developer-email", "other@example.com")
    second = get_token(client).get_data(as_text=True)
    assert field_line(first, "application_name") == f'  "application_name" : "{app_id}"'
    assert field_line(second, "application_name") == field_line(first, "application_name")


@pytest.mark.parametrize(
    ("products", "form", "line"),
    [
        ({"Test App product": None}, None, '  "scope" : ""'),
        ({"P1": "read write", "P2": "admin read"}, None, '  "scope" : "read write admin"'),
        (
            {"P1": "read write", "P2": "admin"},
            {"scope": "admin other read"},
            '  "scope" : "admin read"',
        ),
    ],
    ids=["no-product-scopes", "nothing-requested-gets-all", "requested-intersection"],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_scope(client, enable_apigee, make_app_client, profile, products, form, line) -> None:
    enable_apigee(response_profile=profile)
    cid, secret = make_app_client(products=products)
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(cid, secret), data=form or {})
    assert rv.status_code == 200, rv.data
    assert field_line(rv.get_data(as_text=True), "scope") == line


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_status_is_approved(client, seed_app, profile) -> None:
    seed_app(response_profile=profile)
    assert (
        field_line(get_token(client).get_data(as_text=True), "status") == '  "status" : "approved"'
    )


@pytest.mark.parametrize(
    ("products", "listed", "json_array"),
    [
        ({}, '"[]"', "[ ]"),
        ({"Test App product": None}, '"[Test App product]"', '[ "Test App product" ]'),
        (
            {"LDAP": None, "Oauth": None, "Payment": None},
            '"[LDAP, Oauth, Payment]"',
            '[ "LDAP", "Oauth", "Payment" ]',
        ),
    ],
    ids=["none", "one", "three-in-order"],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_api_product_list_and_its_json_twin(
    client, enable_apigee, make_app_client, profile, products, listed, json_array
) -> None:
    enable_apigee(response_profile=profile)
    cid, secret = make_app_client(products=products)
    text = get_token(client, cid, secret).get_data(as_text=True)
    assert field_line(text, "api_product_list") == f'  "api_product_list" : {listed}'
    expected_json = f'  "api_product_list_json" : {json_array}' if profile == "modern" else None
    assert field_line(text, "api_product_list_json") == expected_json


@pytest.mark.parametrize(
    ("lifetime_ms", "expected"),
    [(None, '"3599"'), (1_800_000, '"1799"'), (86_400_000, '"86399"')],
    ids=["default-3600000", "1800000", "86400000"],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_expires_in_is_a_string_one_second_short(
    client, seed_app, profile, lifetime_ms, expected
) -> None:
    params = {"response_profile": profile}
    if lifetime_ms is not None:
        params["access_token_lifetime_ms"] = lifetime_ms
    seed_app(**params)
    assert (
        field_line(get_token(client).get_data(as_text=True), "expires_in")
        == f'  "expires_in" : {expected}'
    )


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_expires_in_as_a_number_when_asked(client, seed_app, profile) -> None:
    seed_app(response_profile=profile, expires_in_as_string=False)
    text = get_token(client).get_data(as_text=True)
    assert field_line(text, "expires_in") == '  "expires_in" : 3599'
    assert field_line(text, "refresh_count") == '  "refresh_count" : "0"'  # the rest stay strings


def test_expires_in_counts_down() -> None:
    issued = datetime(2026, 11, 23, 8, 0, 0, 123456)
    expires = issued + timedelta(milliseconds=3_600_000)
    assert seconds_left(expires, issued) == 3599
    assert seconds_left(expires, issued + timedelta(milliseconds=1)) == 3599
    assert seconds_left(expires, issued + timedelta(seconds=1)) == 3598
    assert seconds_left(expires, issued + timedelta(seconds=1800, milliseconds=500)) == 1799
    assert seconds_left(expires, expires) == 0
    assert seconds_left(expires, expires + timedelta(seconds=5)) == 0


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_developer_email(client, enable_apigee, make_app_client, profile) -> None:
    enable_apigee(response_profile=profile)
    cid, secret = make_app_client(email="dev.one@example.org")
    text = get_token(client, cid, secret).get_data(as_text=True)
    assert field_line(text, "developer.email") == '  "developer.email" : "dev.one@example.org"'


def test_a_worker_reads_an_app_at_most_once_per_cache_max_age(
    database_url, cli, enable_apigee, make_app_client
) -> None:
    """The token response's app (developer, products) comes from this worker's copy for
    CACHE_MAX_AGE, like the client record: repeated token requests only insert their
    token; an admin's change shows once the copy is older than that."""
    enable_apigee()
    cid, secret = make_app_client(email="dev.one@example.org")
    worker = make_app(database_url, CACHE_MAX_AGE=1.5)
    web = worker.test_client()
    assert "dev.one@example.org" in get_token(web, cid, secret).get_data(as_text=True)
    with worker.app_context():
        engine = db.engine
    sent: list[str] = []
    listen = lambda _c, _cur, statement, *_rest: sent.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for _ in range(3):
            assert "dev.one@example.org" in get_token(web, cid, secret).get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert [s.split()[0] for s in sent] == ["INSERT"] * 3
    cli("apigee", "apps", "set", cid, "--developer-email", "dev.two@example.org")
    time.sleep(1.6)
    assert "dev.two@example.org" in get_token(web, cid, secret).get_data(as_text=True)
    engine.dispose()


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_organization_id_only_in_the_2014_profile(client, seed_app, profile) -> None:
    seed_app(response_profile=profile)
    line = field_line(get_token(client).get_data(as_text=True), "organization_id")
    assert line == ('  "organization_id" : "0"' if profile == "edge-2014" else None)


@pytest.mark.parametrize(
    ("param", "line"),
    [(None, '"BearerToken"'), ("Bearer", '"Bearer"')],
    ids=["apigee", "rfc-param"],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_token_type(client, seed_app, profile, param, line) -> None:
    seed_app(response_profile=profile, **({"token_type": param} if param else {}))
    assert (
        field_line(get_token(client).get_data(as_text=True), "token_type")
        == f'  "token_type" : {line}'
    )


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_client_id_is_the_consumer_key_used(client, seed_app, profile) -> None:
    seed_app(response_profile=profile)
    line = field_line(get_token(client).get_data(as_text=True), "client_id")
    assert line == f'  "client_id" : "{SEED_CLIENT_ID}"'


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_access_token_is_28_alphanumerics_new_on_every_call(
    client, cli, seed_app, count_rows, profile
) -> None:
    seed_app(response_profile=profile)
    cli("apigee", "proxies", "add", "/weather", "--target", "http://127.0.0.1:9/")
    tokens = [get_token(client).get_json()["access_token"] for _ in range(3)]
    assert all(len(t) == 28 and t.isascii() and t.isalnum() for t in tokens)
    assert len(set(tokens)) == 3
    assert count_rows("oauth_access_tokens") == 3
    # each one is a live token: it passes verification (then the target is down: 503, not 401)
    assert client.get("/weather/x", headers=bearer(tokens[0])).status_code == 503


@pytest.mark.parametrize("length", [28, 32], ids=["access", "refresh"])
def test_token_characters_are_all_62_alphanumerics_evenly(length: int) -> None:
    """Every one of [A-Za-z0-9] comes up, nothing else does, and none is favoured (a
    byte taken modulo 62 without skipping would make a-h a quarter likelier)."""
    counts = Counter("".join(alphanumeric_token(length) for _ in range(2000)))
    assert set(counts) == set(ALPHANUMERIC)
    expected = 2000 * length / 62
    assert all(abs(n - expected) < 0.15 * expected for n in counts.values())


@pytest.mark.parametrize(
    "value",
    ["plain", "dev.one@example.org", "a/b", 'quo"te', "ünï", "tab\tnew\nline", "\u2028"],
    ids=["plain", "email", "slash", "quote", "utf8", "controls", "line-separator"],
)
def test_strings_are_encoded_as_json_dumps_does(value: str) -> None:
    assert _string(value) == json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_organization_name_is_the_param(client, seed_app, set_params, profile) -> None:
    seed_app(response_profile=profile)
    set_params("apigee", organization_name="acme-prod")
    line = field_line(get_token(client).get_data(as_text=True), "organization_name")
    assert line == '  "organization_name" : "acme-prod"'


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_token_expires_in_and_refresh_count_are_zero(client, seed_app, profile) -> None:
    seed_app(response_profile=profile)
    text = get_token(client).get_data(as_text=True)
    assert field_line(text, "refresh_token_expires_in") == '  "refresh_token_expires_in" : "0"'
    assert field_line(text, "refresh_count") == '  "refresh_count" : "0"'


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_no_refresh_token_for_client_credentials(client, seed_app, count_rows, profile) -> None:
    seed_app(response_profile=profile)
    body = get_token(client).get_json()
    assert "refresh_token" not in body and "refresh_token_status" not in body
    assert count_rows("oauth_refresh_tokens") == 0


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_refresh_fields_with_client_credentials_refresh_token(
    client, seed_app, count_rows, profile
) -> None:
    seed_app(response_profile=profile, client_credentials_refresh_token=True)
    body = get_token(client).get_json()
    assert len(body["refresh_token"]) == 32 and body["refresh_token"].isalnum()
    assert body["refresh_token_issued_at"] == body["issued_at"]
    assert body["refresh_token_status"] == "approved"
    assert body["refresh_token_expires_in"] == "0"  # RefreshTokenExpiresIn unset: no expiry
    assert count_rows("oauth_refresh_tokens") == 1


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_no_custom_attributes(client, seed_app, profile) -> None:
    """The sample defines no <Attribute>: no extra top-level keys."""
    seed_app(response_profile=profile)
    body = get_token(client).get_json()
    assert len(body) == 14


# --- how the request may come (§2.1, decisions 2-4) ----------------------------------


@pytest.mark.parametrize(
    "method",
    ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
    ids=["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"],
)
def test_the_samples_path_answers_any_method(client, seed_app, method) -> None:
    seed_app()
    rv = get_token(client, method=method)
    assert rv.get_json()["token_type"] == "BearerToken"


@pytest.mark.parametrize(
    ("form", "headers"),
    [
        ({"client_id": SEED_CLIENT_ID, "client_secret": SEED_SECRET}, {}),
        ({}, basic(SEED_CLIENT_ID, SEED_SECRET)),
        ({"client_id": "nobody", "client_secret": "x"}, basic(SEED_CLIENT_ID, SEED_SECRET)),
    ],
    ids=["form-credentials", "basic", "basic-wins-over-form"],
)
def test_default_proxy_takes_basic_or_form_credentials(client, seed_app, form, headers) -> None:
    seed_app()
    rv = client.post(CC_TOKEN_URL + GRANT, data=form, headers=headers)
    assert rv.status_code == 200, rv.data
    assert rv.get_json()["client_id"] == SEED_CLIENT_ID


def test_grant_type_from_a_form_body_by_default(client, seed_app) -> None:
    seed_app()
    rv = client.post(
        CC_TOKEN_URL,
        data={"grant_type": "client_credentials"},
        headers=basic(SEED_CLIENT_ID, SEED_SECRET),
    )
    assert rv.status_code == 200, rv.data


def test_query_grant_type_wins_over_the_body(client, seed_app) -> None:
    seed_app()
    rv = client.post(
        CC_TOKEN_URL + GRANT,
        data={"grant_type": "password"},
        headers=basic(SEED_CLIENT_ID, SEED_SECRET),
    )
    assert rv.status_code == 200, rv.data


def test_a_json_body_is_no_form(client, seed_app) -> None:
    seed_app()
    rv = client.post(
        CC_TOKEN_URL,
        json={"grant_type": "client_credentials"},
        headers=basic(SEED_CLIENT_ID, SEED_SECRET),
    )
    assert (rv.status_code, rv.data) == (
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Required param : grant_type"}',
    )


def test_base_paths_change_at_run_time(client, seed_app, set_params) -> None:
    seed_app()
    set_params("apigee", base_paths=json.dumps({"/v1/oauth/token": "POST GenerateAccessToken"}))
    rv = client.post("/v1/oauth/token" + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    assert rv.status_code == 200, rv.data
    gone = client.get(TOKEN_URL + GRANT, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
    assert gone.status_code == 404
    assert b"Unable to identify proxy" in gone.data


def test_a_disabled_plugin_answers_the_hosts_404(client, cli, seed_app, count_rows) -> None:
    seed_app()
    cli("plugins", "disable", "apigee")
    for url in (TOKEN_URL + GRANT, "/weather/forecastrss"):
        rv = client.get(url, headers=basic(SEED_CLIENT_ID, SEED_SECRET))
        assert rv.status_code == 404
        assert rv.get_json(force=True)["code"] == 404
    assert count_rows("oauth_access_tokens") == 0


def test_disabled_on_a_new_installation(client, cli) -> None:
    assert "apigee           disabled" in cli("plugins", "list")
    assert client.get(TOKEN_URL + GRANT).status_code == 404


# --- the error table (§2.4), both profiles --------------------------------------------

REQUIRED_GRANT = b'{"ErrorCode" : "invalid_request", "Error" :"Required param : grant_type"}'
CLIENT_ID_INVALID = b'{"ErrorCode" : "invalid_client", "Error" :"ClientId is Invalid"}'
CREDENTIALS_INVALID = b'{"ErrorCode" : "invalid_client", "Error" :"Client credentials are invalid"}'
INVALID_SCOPE = b'{"ErrorCode" : "invalid_request", "Error" :"Invalid Scope"}'
OK_BASIC = basic(SEED_CLIENT_ID, SEED_SECRET)

ERROR_ROWS = [
    ("missing-grant-type", "GET", TOKEN_URL, {}, OK_BASIC, {}, 400, REQUIRED_GRANT),
    ("empty-grant-type", "GET", TOKEN_URL + "?grant_type=", {}, OK_BASIC, {}, 400, REQUIRED_GRANT),
    (
        "grant-type-only-in-body-strict",
        "POST",
        CC_TOKEN_URL,
        {"grant_type_in_body": False},
        OK_BASIC,
        {"grant_type": "client_credentials"},
        400,
        REQUIRED_GRANT,
    ),
    (
        "unsupported-password",
        "GET",
        TOKEN_URL + "?grant_type=password",
        {},
        OK_BASIC,
        {},
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Unsupported grant type : password"}',
    ),
    (
        "unsupported-foo",
        "GET",
        TOKEN_URL + "?grant_type=foo",
        {},
        OK_BASIC,
        {},
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Unsupported grant type : foo"}',
    ),
    (
        "refresh-grant-at-generate",
        "GET",
        TOKEN_URL + "?grant_type=refresh_token",
        {},
        OK_BASIC,
        {},
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Unsupported grant type : refresh_token"}',
    ),
    (
        "grant-checked-before-client",
        "GET",
        TOKEN_URL + "?grant_type=foo",
        {},
        basic("nobody", "x"),
        {},
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Unsupported grant type : foo"}',
    ),
    (
        "unknown-client-basic",
        "GET",
        TOKEN_URL + GRANT,
        {},
        basic("nobody", "x"),
        {},
        401,
        CLIENT_ID_INVALID,
    ),
    (
        "unknown-client-form",
        "POST",
        CC_TOKEN_URL + GRANT,
        {},
        {},
        {"client_id": "nobody", "client_secret": "x"},
        401,
        CLIENT_ID_INVALID,
    ),
    (
        "wrong-secret-basic",
        "GET",
        TOKEN_URL + GRANT,
        {},
        basic(SEED_CLIENT_ID, "wrong"),
        {},
        401,
        CREDENTIALS_INVALID,
    ),
    (
        "wrong-secret-form",
        "POST",
        CC_TOKEN_URL + GRANT,
        {},
        {},
        {"client_id": SEED_CLIENT_ID, "client_secret": "wrong"},
        401,
        CREDENTIALS_INVALID,
    ),
    (
        "id-without-secret",
        "POST",
        CC_TOKEN_URL + GRANT,
        {},
        {},
        {"client_id": SEED_CLIENT_ID},
        401,
        CREDENTIALS_INVALID,
    ),
    ("no-credentials", "GET", TOKEN_URL + GRANT, {}, {}, {}, 401, CLIENT_ID_INVALID),
    (
        "malformed-basic",
        "GET",
        TOKEN_URL + GRANT,
        {},
        {"Authorization": "Basic %%%"},
        {},
        401,
        CLIENT_ID_INVALID,
    ),
    (
        "basic-without-colon",
        "GET",
        TOKEN_URL + GRANT,
        {},
        {"Authorization": "Basic a2V5"},
        {},
        401,
        CLIENT_ID_INVALID,
    ),
    (
        "scope-no-overlap",
        "POST",
        CC_TOKEN_URL + GRANT,
        {},
        OK_BASIC,
        {"scope": "admin"},
        400,
        INVALID_SCOPE,
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "params", "headers", "form", "status", "body"),
    [row[1:] for row in ERROR_ROWS],
    ids=[row[0] for row in ERROR_ROWS],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_token_errors(
    client, seed_app, count_rows, profile, method, url, params, headers, form, status, body
) -> None:
    seed_app(response_profile=profile, **params)
    rv = client.open(url, method=method, headers=headers, data=form or None)
    assert (rv.status_code, rv.data) == (status, body)
    assert rv.headers["Content-Type"] == "application/json"
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_scope_no_overlap_empty_gives_an_empty_scope(client, seed_app, profile) -> None:
    seed_app(response_profile=profile, scope_no_overlap="empty")
    rv = client.post(CC_TOKEN_URL + GRANT, headers=OK_BASIC, data={"scope": "admin"})
    assert field_line(rv.get_data(as_text=True), "scope") == '  "scope" : ""'


@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_a_client_barred_from_the_grant_is_an_app_not_approved(
    client, enable_apigee, make_app_client, profile
) -> None:
    enable_apigee(response_profile=profile)
    cid, secret = make_app_client(grant_types="refresh_token")
    rv = client.get(TOKEN_URL + GRANT, headers=basic(cid, secret))
    assert (rv.status_code, rv.data) == (
        401,
        b'{"ErrorCode" : "invalid_client", "Error" :"App not Approved"}',
    )


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/oauth/authorize"),
        ("POST", "/oauth"),
        ("GET", CC_TOKEN_URL + GRANT),
        ("PUT", "/oauth/client_credential/refresh_accesstoken"),
        ("GET", "/oauth/accesstoken/"),
    ],
    ids=[
        "other-suffix",
        "base-path-itself",
        "get-on-post-flow",
        "put-on-refresh-flow",
        "trailing-slash",
    ],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_paths_under_the_token_proxies_without_a_flow_answer_an_empty_200(
    client, seed_app, count_rows, profile, method, url
) -> None:
    seed_app(response_profile=profile)
    rv = client.open(url, method=method, headers=OK_BASIC)
    assert (rv.status_code, rv.data) == (200, b"")
    assert "Content-Type" not in rv.headers
    assert count_rows("oauth_access_tokens") == 0


@pytest.mark.parametrize(
    "url",
    ["/foo", "/weather/forecastrss?w=1", "/oauthx/accesstoken"],
    ids=["unknown-path", "sample-api-path", "near-miss-of-token-path"],
)
@pytest.mark.parametrize("profile", PROFILES, ids=PROFILES)
def test_a_url_matching_no_proxy_is_application_not_found(client, seed_app, profile, url) -> None:
    seed_app(response_profile=profile)
    rv = client.get(url)
    path = url.split("?")[0].replace("/", "\\/")
    assert rv.status_code == 404
    assert (
        rv.data
        == (
            '{"fault":{"faultstring":"Unable to identify proxy for host: secure and url: '
            + path
            + '","detail":{"errorcode":"messaging.adaptors.http.flow.ApplicationNotFound"}}}'
        ).encode()
    )
    assert rv.headers["Content-Type"] == "application/json"


def test_the_hosts_own_routes_are_not_shadowed(client, seed_app) -> None:
    seed_app()
    assert client.get("/.well-known/oauth-authorization-server").status_code == 200
    rv = client.post(
        "/index.php?option=token&api=oauth2",
        data={"grant_type": "client_credentials"},
        headers=OK_BASIC,
    )
    assert rv.status_code == 200 and rv.get_json()["token_type"] == "Bearer"


# --- a body over MAX_CONTENT_LENGTH ---------------------------------------------------

TOO_BIG_BODY = (
    b'{"fault":{"faultstring":"Body buffer overflow",'
    b'"detail":{"errorcode":"protocol.http.TooBigBody"}}}'
)


@pytest.mark.parametrize("url", [CC_TOKEN_URL, CC_TOKEN_URL + GRANT], ids=["no-query", "query"])
def test_a_form_body_over_the_limit_is_too_big_body(client, seed_app, count_rows, url) -> None:
    """Edge's 413 for a payload over its limit (its troubleshooting page "413 Request Entity
    Too Large - TooBigBody"); the limit here is MAX_CONTENT_LENGTH (1 MiB)."""
    seed_app()
    body = "grant_type=client_credentials&pad=" + "x" * (1024 * 1024)
    rv = client.post(
        url,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=basic(SEED_CLIENT_ID, SEED_SECRET),
    )
    assert (rv.status_code, rv.data) == (413, TOO_BIG_BODY)
    assert rv.headers["Content-Type"] == "application/json"
    assert count_rows("oauth_access_tokens") == 0


def test_a_body_declared_too_big_is_refused_unread(client, seed_app) -> None:
    seed_app()
    rv = client.post(
        CC_TOKEN_URL + GRANT,
        input_stream=UnreadableBody(b"scope=x"),
        content_type="application/x-www-form-urlencoded",
        headers=basic(SEED_CLIENT_ID, SEED_SECRET),
        environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert (rv.status_code, rv.data) == (413, TOO_BIG_BODY)


def test_a_body_that_is_no_form_is_not_read(client, seed_app) -> None:
    """The sample's GET with a JSON body of any size: the policy reads no form, nor do we."""
    seed_app()
    rv = get_token(
        client,
        method="POST",
        input_stream=UnreadableBody(b"{}"),
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(50 * 1024 * 1024)},
    )
    assert rv.get_json()["token_type"] == "BearerToken"


class UnreadableBody(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body was read")

    readinto = readline = read  # type: ignore[assignment]


# --- NUL and control characters: the normal clean error, on every database ------------


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x7f"], ids=["nul", "soh", "del"])
def test_values_with_a_control_character_are_unknown(
    client, enable_apigee, make_app_client, count_rows, char
) -> None:
    enable_apigee(client_credentials_refresh_token=True)
    cid, secret = make_app_client(SEED_CLIENT_ID, secret=SEED_SECRET, products={"P": "read"})
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(cid + char, secret))
    assert (rv.status_code, rv.data) == (401, CLIENT_ID_INVALID)
    rv = client.post(CC_TOKEN_URL + GRANT, data={"client_id": cid + char, "client_secret": secret})
    assert (rv.status_code, rv.data) == (401, CLIENT_ID_INVALID)
    rv = client.post(
        CC_TOKEN_URL + GRANT, headers=basic(cid, secret), data={"scope": "read" + char}
    )
    assert (rv.status_code, rv.data) == (400, INVALID_SCOPE)
    rv = client.post(
        "/oauth/client_credential/refresh_accesstoken?grant_type=refresh_token",
        headers=basic(cid, secret),
        data={"refresh_token": "x" * 31 + char},
    )
    assert (rv.status_code, rv.data) == (
        400,
        b'{"ErrorCode" : "invalid_request", "Error" :"Invalid Refresh Token"}',
    )
    assert count_rows("oauth_access_tokens") == 0
    rv = client.post(CC_TOKEN_URL + GRANT, headers=basic(cid, secret), data={"scope": "read"})
    assert rv.status_code == 200
