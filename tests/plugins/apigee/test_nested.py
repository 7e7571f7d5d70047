"""Nested proxies cannot be bypassed (issue 20): with ``/shop`` (scope "read") in front of a
backend and ``/shop/admin`` (scope "admin") in front of its admin part, a path that a
common backend (Tomcat, Jetty, Spring, IIS, anything on Windows files) could read as one
under ``/shop/admin`` is matched to ``/shop/admin`` or refused with Apigee's InvalidPath,
never sent to ``/shop``'s target. The target is a real server that records what reaches
it; the token has "read" and not "admin".
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.live.server import Target
from tests.live.server import target_server
from tests.support.apigee import bearer


@pytest.fixture
def target() -> Iterator[Target]:
    with target_server() as real:
        yield real


@pytest.fixture
def shop(client, cli, proxy_to, target) -> str:
    """/shop (read) and /shop/admin (admin) in front of one backend; a "read write" token."""
    token = proxy_to(target.base_url + "/api", base_path="/shop")
    admin = target.base_url + "/api/admin"
    cli("apigee", "proxies", "add", "/shop/admin", "--target", admin, "--scope", "admin")
    return token


def invalid_path(sent: str) -> tuple[int, bytes]:
    body = {
        "fault": {
            "faultstring": f"Invalid path GET {sent} HTTP/1.1",
            "detail": {"errorcode": "protocol.http.InvalidPath"},
        }
    }
    return 400, json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode()


# What a backend could read as /admin/users, and who reads it so.
REFUSED = [
    ("tomcat-path-parameter", "/shop/admin;x/users"),
    ("tomcat-empty-parameter", "/shop/admin;/users"),
    ("jsessionid", "/shop/admin;jsessionid=1/users"),
    ("upper-case-iis", "/shop/ADMIN/users"),
    ("mixed-case", "/shop/Admin/users"),
    ("trailing-dot-windows", "/shop/admin./users"),
    ("trailing-dots", "/shop/admin.../users"),
    ("trailing-space", "/shop/admin%20/users"),
    ("trailing-spaces-and-dots", "/shop/admin%20.%20/users"),
    ("trailing-tab", "/shop/admin%09/users"),
    ("nul-ends-a-c-string", "/shop/admin%00/users"),
    ("nul-then-more", "/shop/admin%00.png/users"),
    ("ntfs-stream", "/shop/admin::$DATA/users"),
    ("ntfs-index-allocation", "/shop/admin:$i30:$index_allocation/users"),
    ("fullwidth-nfkc", "/shop/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E/users"),
    ("ligature-nfkc", "/shop/%EF%AC%80/users"),  # U+FB00 "ff": only with /shop/ff, below
    ("double-encoded-letter", "/shop/%2561dmin/users"),
    ("iis-percent-u", "/shop/%u0061dmin/users"),
    ("spring-suffix-pattern", "/shop/admin.json"),
    ("case-and-parameter", "/shop/ADMIN.;x/users"),
    ("empty-by-parameter", "/shop/;x/admin/users"),  # Tomcat: /shop//admin -> /shop/admin
    ("dot-by-trailing-space", "/shop/.%20/admin"),
    ("dots-and-a-space", "/shop/x/...%20/admin"),
]


@pytest.mark.parametrize("path", [r[1] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_a_path_a_backend_reads_under_the_inner_proxy_is_refused(
    client, cli, shop, target, path
) -> None:
    if "EF%AC%80" in path:
        cli("apigee", "proxies", "add", "/shop/ff", "--target", target.base_url + "/ff")
    rv = client.get(path, headers=bearer(shop))
    assert (rv.status_code, rv.data) == invalid_path(path)
    assert rv.headers["Content-Type"] == "application/json"
    assert target.received == []


# Read as /shop/admin by this service too: matched to it, whose scope the token lacks.
MATCHED_INNER = [
    ("plain", "/shop/admin/users"),
    ("encoded-letter", "/shop/%61dmin/users"),
    ("parameter-below-the-base", "/shop/admin/users;x"),
    ("base-itself", "/shop/admin"),
]


@pytest.mark.parametrize("path", [r[1] for r in MATCHED_INNER], ids=[r[0] for r in MATCHED_INNER])
def test_a_path_under_the_inner_proxy_needs_its_scope(client, shop, target, path) -> None:
    rv = client.get(path, headers=bearer(shop))
    assert rv.status_code == 403
    assert rv.get_json()["fault"]["detail"]["errorcode"] == "steps.oauth.v2.InsufficientScope"
    assert target.received == []


# Only /shop's: nothing a backend reads as /shop/admin.
OUTER = [
    ("another-name", "/shop/administrator/users", "/api/administrator/users"),
    ("a-prefix-of-it", "/shop/adm/users", "/api/adm/users"),
    ("parameter-elsewhere", "/shop/cart;x/items", "/api/cart;x/items"),
    ("upper-case-elsewhere", "/shop/CART/items", "/api/CART/items"),
    ("dot-inside", "/shop/ad.min/users", "/api/ad.min/users"),
    ("extension-not-last", "/shop/admin.json/users", "/api/admin.json/users"),
]


@pytest.mark.parametrize(("path", "reached"), [r[1:] for r in OUTER], ids=[r[0] for r in OUTER])
def test_other_paths_reach_the_outer_proxy(client, shop, target, path, reached) -> None:
    rv = client.get(path, headers=bearer(shop))
    assert rv.status_code == 200, rv.data
    assert [seen["path"] for seen in target.received] == [reached]


def test_without_an_inner_proxy_such_paths_pass(client, proxy_to, target) -> None:
    """The readings matter only where a more specific proxy exists."""
    token = proxy_to(target.base_url + "/api", base_path="/shop")
    for path in ("/shop/ADMIN/users", "/shop/admin;x/users", "/shop/admin./users"):
        assert client.get(path, headers=bearer(token)).status_code == 200, path
    assert [seen["path"] for seen in target.received] == [
        "/api/ADMIN/users",
        "/api/admin;x/users",
        "/api/admin./users",
    ]
