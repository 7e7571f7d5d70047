"""Forwarded answers kept apart from the admin pages (emulator/web/isolation.py): which
upstream Set-Cookie values would land on the admin session's cookie, as a browser reads them;
and this service's own cookies taken out of a request it forwards."""

from __future__ import annotations

import pytest

from emulator.web.isolation import GuardedCookies
from emulator.web.isolation import cookie_name_and_path
from emulator.web.isolation import refused_cookie
from emulator.web.outbound import end_to_end_headers

ADMIN = GuardedCookies(names=frozenset({"emulator_admin"}), paths=("/admin",))


@pytest.mark.parametrize(
    "set_cookie",
    [
        "emulator_admin=forged; Path=/admin; HttpOnly",
        "emulator_admin=forged; Path=/",
        "emulator_admin=forged",  # the request's default path
        "emulator_admin=forged; Path=/admin/clients",  # sent first, before the real one
        " emulator_admin =forged; path=/",  # blanks a browser trims
        "EMULATOR_ADMIN=forged; Path=/",
        "emulator_admin",  # a nameless cookie: sent as `emulator_admin`
        "other=x; Path=/admin",  # any name on the admin pages' path
        "other=x; Path=/admin/",
        "other=x; path=/index.php; PATH=/admin",  # the last Path counts
    ],
)
def test_a_cookie_for_the_admin_session_is_refused(set_cookie: str) -> None:
    assert refused_cookie(set_cookie, "/index.php", ADMIN)


@pytest.mark.parametrize(
    "set_cookie",
    [
        "joomla_session=abc; path=/; HttpOnly",
        "emulator_admin_theme=dark; Path=/",  # another name
        "other=x; Path=/administrator",  # Joomla's back end: not under /admin
        "other=x; Path=/admin; path=/",
        "other=x; Path=admin",  # not a path: the default (/) applies
    ],
)
def test_the_old_sites_own_cookies_pass(set_cookie: str) -> None:
    assert not refused_cookie(set_cookie, "/index.php", ADMIN)


def test_the_default_path_is_the_request_paths_directory() -> None:
    assert cookie_name_and_path("a=b", "/admin/x") == ("a", "/admin")
    assert cookie_name_and_path("a=b", "/index.php") == ("a", "/")
    assert refused_cookie("a=b", "/admin/unknown", ADMIN)


@pytest.mark.parametrize(
    ("cookies", "forwarded"),
    [
        (["a=1; emulator_admin=s; b=2"], "a=1; b=2"),
        (["emulator_admin=s; b=2"], "b=2"),
        ([" EMULATOR_ADMIN =s;b=2;c"], "b=2;c"),  # any case, blanks trimmed; `c` nameless
        (["emulator_admin"], None),  # a nameless cookie sent as the name: ours too
        (["a=emulator_admin; emulator_admin_x=1"], "a=emulator_admin; emulator_admin_x=1"),
        (["a=1", "emulator_admin=s", "b=2"], "a=1; b=2"),  # several Cookie lines: one, `; `
        (["emulator_admin=s"], None),
    ],
)
def test_our_own_cookies_are_taken_out_of_a_forwarded_request(cookies, forwarded) -> None:
    headers = [("Cookie", value) for value in cookies] + [("Accept", "*/*")]
    kept = end_to_end_headers(headers, own_cookies=ADMIN.names)
    assert kept.get("Cookie") == forwarded
    assert kept["Accept"] == "*/*"
