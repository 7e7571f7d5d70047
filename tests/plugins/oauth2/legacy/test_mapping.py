"""The pure parts of the import: reading times, rows and redCORE's options."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from emulator import oauth
from plugins.oauth2.legacy.source import GAP
from plugins.oauth2.legacy.source import OVERLAP
from plugins.oauth2.legacy.source import Skip
from plugins.oauth2.legacy.source import map_client
from plugins.oauth2.legacy.source import map_scope
from plugins.oauth2.legacy.source import map_token
from plugins.oauth2.legacy.source import parse_expires
from plugins.oauth2.legacy.source import to_utc
from plugins.oauth2.params import ABSENT
from plugins.oauth2.params import ENABLED
from plugins.oauth2.params import map_redcore_options

CPH = ZoneInfo("Europe/Copenhagen")
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.mark.parametrize(
    ("local", "zone", "utc", "kind"),
    [
        (datetime(2026, 7, 1, 12, 0), CPH, datetime(2026, 7, 1, 10, 0), ""),
        (datetime(2026, 1, 1, 12, 0), CPH, datetime(2026, 1, 1, 11, 0), ""),
        (datetime(2026, 3, 29, 2, 30), CPH, datetime(2026, 3, 29, 1, 30), GAP),
        (datetime(2026, 10, 25, 2, 30), CPH, datetime(2026, 10, 25, 0, 30), OVERLAP),
        (datetime(2026, 10, 25, 3, 0), CPH, datetime(2026, 10, 25, 2, 0), ""),
        (datetime(2026, 3, 8, 2, 30), NY, datetime(2026, 3, 8, 7, 30), GAP),
        (datetime(2026, 11, 1, 1, 30), NY, datetime(2026, 11, 1, 5, 30), OVERLAP),
        (datetime(2026, 3, 29, 2, 30), ZoneInfo("UTC"), datetime(2026, 3, 29, 2, 30), ""),
    ],
    ids=["summer", "winter", "gap", "overlap", "after-overlap", "ny-gap", "ny-overlap", "utc"],
)
def test_wall_clock_times_to_utc(local, zone, utc, kind) -> None:
    assert to_utc(local, zone) == (utc, kind)


def test_an_overlap_reads_as_its_first_occurrence_never_later() -> None:
    local = datetime(2026, 10, 25, 2, 30)
    utc, _ = to_utc(local, CPH)
    second = local.replace(tzinfo=CPH, fold=1).astimezone(UTC).replace(tzinfo=None)
    assert utc == second - timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2031-03-30 02:30:00", datetime(2031, 3, 30, 2, 30)),
        (b"2031-03-30 02:30:00", datetime(2031, 3, 30, 2, 30)),
        ("2031-03-30 02:30:00.000000", datetime(2031, 3, 30, 2, 30)),
        (datetime(2031, 3, 30, 2, 30), datetime(2031, 3, 30, 2, 30)),
        ("0000-00-00 00:00:00", None),  # MySQL's zero date, as PyMySQL hands it over
        ("soon", None),
        (None, None),
        (1_900_000_000, None),
    ],
    ids=["text", "bytes", "micro", "datetime", "zero-date", "word", "null", "number"],
)
def test_parse_expires(value, expected) -> None:
    assert parse_expires(value) == expected


def client_row(**values):
    base = {
        "client_id": "c",
        "client_secret": "s",
        "redirect_uri": "",
        "grant_types": None,
        "scope": None,
        "user_id": None,
    }
    return SimpleNamespace(**{**base, **values})


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, oauth.ClientSpec("c", "s")),
        ({"client_secret": ""}, oauth.ClientSpec("c", None)),
        ({"client_secret": None}, oauth.ClientSpec("c", None)),
        ({"grant_types": ""}, oauth.ClientSpec("c", "s", grant_types="")),
        (
            {"grant_types": " client_credentials  refresh_token "},
            oauth.ClientSpec("c", "s", grant_types="client_credentials refresh_token"),
        ),
        ({"scope": " a  b "}, oauth.ClientSpec("c", "s", scope="a b")),
        ({"scope": ""}, oauth.ClientSpec("c", "s")),
        ({"user_id": 42}, oauth.ClientSpec("c", "s", user_id="42")),
        ({"client_id": b"bytes-id"}, oauth.ClientSpec("bytes-id", "s")),
    ],
    ids=[
        "confidential",
        "public",
        "null-secret",
        "no-grants",
        "grant-list",
        "scope-spaces",
        "empty-scope",
        "numeric-user",
        "bytes",
    ],
)
def test_map_client(values, expected) -> None:
    assert map_client(client_row(**values)) == expected


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"client_id": ""}, "malformed row: empty client_id"),
        ({"client_id": " c"}, "malformed row: client_id over 80 characters or with spaces"),
        ({"client_id": "c" * 81}, "malformed row: client_id over 80 characters or with spaces"),
        ({"client_id": "c\x00"}, "malformed row: control character in client_id"),
        ({"client_secret": "s\n"}, "malformed row: control character in client_secret"),
        ({"scope": "a\tb"}, "malformed row: control character in scope"),
        ({"scope": "caf\u00e9"}, "malformed row: scope with bad characters"),
        ({"grant_types": 'a"b'}, "malformed row: grant types with bad characters"),
        ({"user_id": "u" * 81}, "malformed row: user_id too long"),
        ({"client_id": b"\xff"}, "malformed row: a column is not text"),
        ({"client_id": "../../admin/clients/good"}, "malformed row: client_id with '/'"),
        ({"client_id": "a\\b"}, "malformed row: client_id with '/' or '\\'"),
        ({"client_id": ".."}, "malformed row: client_id with '/' or '\\', or '.' or '..'"),
    ],
    ids=[
        "empty-id",
        "spaces",
        "long-id",
        "nul",
        "secret-ctl",
        "scope-tab",
        "scope-non-ascii",
        "grant-quote",
        "long-user",
        "not-utf8",
        "id-with-dot-segments",
        "id-with-backslash",
        "id-dot-dot",
    ],
)
def test_malformed_clients_are_skipped_with_a_reason(values, reason) -> None:
    skip = map_client(client_row(**values))
    assert isinstance(skip, Skip) and skip.reason.startswith(reason), skip
    assert "s\n" not in skip.detail  # a secret is never shown


def test_an_id_stored_here_keeps_its_path_like_form() -> None:
    """Only a new client may not take such an id: one stored before keeps being imported."""
    row = client_row(client_id="a/../b")
    assert map_client(row, {"a/../b"}) == oauth.ClientSpec("a/../b", "s")
    assert isinstance(map_client(row, {"b"}), Skip)


def test_map_scope() -> None:
    row = SimpleNamespace
    assert map_scope(row(scope="site.read", is_default=1)) == ("site.read", True)
    assert map_scope(row(scope="site.read", is_default="0")) == ("site.read", False)
    assert map_scope(row(scope="site.read", is_default=None)) == ("site.read", False)
    assert (
        map_scope(row(scope="a b", is_default=0)).reason
        == "malformed row: scope with bad characters"
    )
    assert map_scope(row(scope="", is_default=0)).reason == "malformed row: empty scope"


def token_row(**values):
    base = {
        "access_token": "ab" * 20,
        "client_id": "c",
        "user_id": None,
        "expires": "2026-06-01 15:00:00",
        "scope": None,
    }
    return SimpleNamespace(**{**base, **values})


def mapped(row, **kwargs):
    options = {"zone": CPH, "now": NOW, "client_pks": {"c": 1}, "skipped_clients": {"bad"}}
    return map_token(row, "access", **{**options, **kwargs})


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"access_token": "AB" * 20}, "malformed row: token not 40 lowercase hex characters"),
        ({"access_token": "ab" * 19}, "malformed row: token not 40 lowercase hex characters"),
        ({"access_token": None}, "malformed row: token not 40 lowercase hex characters"),
        ({"client_id": ""}, "malformed row: empty client_id"),
        ({"user_id": "u\x7f"}, "malformed row: control character in user_id"),
        ({"scope": "a  b"}, "malformed row: scope with bad characters"),
        ({"expires": "0000-00-00 00:00:00"}, "malformed row: expires is not a date and time"),
        ({"expires": "2026-06-01 13:59:59"}, "expired"),  # 11:59:59 UTC
        ({"client_id": "ghost"}, "token of an unknown client"),
        ({"client_id": "bad"}, "token of a client that was skipped"),
    ],
    ids=[
        "upper-hex",
        "short",
        "null",
        "empty-client",
        "user-ctl",
        "double-space",
        "zero-date",
        "expired",
        "unknown-client",
        "skipped-client",
    ],
)
def test_tokens_that_are_skipped(values, reason) -> None:
    skip = mapped(token_row(**values))
    assert isinstance(skip, Skip) and skip.reason == reason, skip


def test_a_live_token_with_its_expiry_in_utc() -> None:
    result = mapped(token_row(expires="2026-06-01 14:00:00", scope=" a b ", user_id="5"))
    assert result.token == oauth.TokenImport("ab" * 20, 1, "5", "a b", datetime(2026, 6, 1, 12, 0))
    assert result.time_kind == ""
    # Valid through its last second, as PHP compared: time() > expires is expired.
    aware = datetime(2026, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert mapped(token_row(expires=aware)).token.expires_at == datetime(2026, 6, 1, 12, 0)
    assert mapped(token_row(), client_pks={"c": None}).token.client_pk is None


def options(stored):
    return {(m.key, m.param): m for m in map_redcore_options(stored)}


def test_options_as_joomla_saved_them() -> None:
    found = options(
        {
            "enable_oauth2_server": "1",
            "oauth2_access_lifetime": "600",
            "oauth2_allow_credentials_in_request_body": "0",
            "oauth2_always_issue_new_refresh_token": "1",
            "oauth2_token_bearer_header_name": "Token",
            "oauth2_allow_public_clients": "0",
            "oauth2_id_lifetime": "3600",
        }
    )
    assert found[("enable_oauth2_server", ENABLED)].value is True
    assert found[("oauth2_access_lifetime", "access_lifetime")].value == 600
    assert found[("oauth2_access_lifetime", "expires_in_as_string")].value is True
    assert (
        found[
            ("oauth2_allow_credentials_in_request_body", "allow_credentials_in_request_body")
        ].value
        is False
    )
    assert (
        found[("oauth2_always_issue_new_refresh_token", "always_issue_new_refresh_token")].value
        is True
    )
    assert found[("oauth2_token_bearer_header_name", "token_bearer_header_name")].value == "Token"
    assert (
        found[("oauth2_unset_refresh_token_after_use", "unset_refresh_token_after_use")].stored
        is ABSENT
    )
    assert (
        found[("oauth2_unset_refresh_token_after_use", "unset_refresh_token_after_use")].value
        is True
    )
    assert found[("oauth2_allow_public_clients", None)].non_default is True
    assert found[("oauth2_id_lifetime", None)].non_default is False  # "3600" is the default 3600
    assert found[("", "www_realm")].value == "Service"
    assert found[("", "refresh_token_lifetime")].value == 1_209_600
    assert not any(m.refused for m in found.values())


def test_options_never_saved_are_redcores_defaults() -> None:
    found = options({})
    assert found[("enable_oauth2_server", ENABLED)].value is False
    assert found[("oauth2_access_lifetime", "access_lifetime")].value == 3600
    assert found[("oauth2_access_lifetime", "expires_in_as_string")].value is False
    assert not any(m.non_default for m in found.values())


@pytest.mark.parametrize(
    ("stored", "param", "why"),
    [
        ({"oauth2_access_lifetime": "ten"}, "access_lifetime", "'ten' is not a whole number"),
        ({"oauth2_access_lifetime": "0"}, "access_lifetime", "greater than or equal to 1"),
        ({"oauth2_token_param_name": "a b"}, "token_param_name", "Use letters"),
        ({"oauth2_token_param_name": ["x"]}, "token_param_name", "an array or object"),
    ],
    ids=["not-a-number", "zero", "bad-name", "array"],
)
def test_options_the_schema_refuses(stored, param, why) -> None:
    key = next(iter(stored))
    assert why in options(stored)[(key, param)].refused


def test_unknown_oauth2_keys_are_reported() -> None:
    found = options({"oauth2_custom_thing": "1", "other_option": "1"})
    assert found[("oauth2_custom_thing", None)].non_default is True
    assert ("other_option", None) not in found
