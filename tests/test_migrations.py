"""Migrations: they build the models' schema, and an upgrade keeps existing rows."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade
from flask_migrate import upgrade

from emulator.storage.database import MIGRATIONS_DIR
from emulator.storage.database import db
from emulator.storage.schema import binary_collation
from tests.support.app import BACKENDS
from tests.support.app import make_app
from tests.support.app import scratch_database

CREATED = "2020-01-01 00:00:00"
EXPIRES = "2099-01-01 00:00:00"


def test_migrations_match_the_models(app) -> None:
    with app.app_context(), db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


@pytest.mark.skipif("mysql" not in BACKENDS, reason="TEST_MYSQL_URL names no MariaDB/MySQL")
def test_on_mysql_every_column_is_what_the_models_declare(tmp_path) -> None:
    """What compare_metadata cannot see there (it skips a collation equal to the table's
    and a DATETIME's precision): exact ids, microsecond times, DOUBLE, MEDIUMTEXT, utf8mb4,
    from an empty latin1 database."""
    columns = sa.text(
        "SELECT column_type AS type, character_set_name AS charset, collation_name AS collation "
        "FROM information_schema.columns WHERE table_schema = DATABASE() "
        "AND table_name = :table AND column_name = :column"
    )
    with scratch_database("mysql", tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            upgrade(directory=str(MIGRATIONS_DIR))
            with db.engine.connect() as conn:
                exact = binary_collation(conn.dialect)
                found, wanted = [], []
                for table in db.metadata.sorted_tables:
                    for column in table.columns:
                        row = conn.execute(columns, {"table": table.name, "column": column.name})
                        row = row.one()
                        declared = column.type.compile(dialect=conn.dialect).lower()
                        if " collate " in declared:
                            kind, _, rest = declared.partition(" character set ")
                            charset, _, collation = rest.partition(" collate ")
                            found.append((table.name, column.name, row.type, row.collation))
                            wanted.append((table.name, column.name, kind, collation))
                        elif declared in ("datetime(6)", "double", "mediumtext"):
                            found.append((table.name, column.name, row.type))
                            wanted.append((table.name, column.name, declared))
                        if row.charset is not None:
                            found.append((table.name, column.name, row.charset))
                            wanted.append((table.name, column.name, "utf8mb4"))
            db.engine.dispose()
    assert found == wanted
    assert ("oauth_clients", "client_id", "varchar(80)", exact) in found
    assert ("oauth_access_tokens", "expires_at", "datetime(6)") in found


def test_upgrade_from_0001_gives_each_client_a_stable_app_id(empty_database_url) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0001")
        with db.engine.begin() as conn:
            for name in ("legacy-a", "legacy-b"):
                conn.execute(
                    sa.text(
                        "INSERT INTO oauth_clients "
                        "(client_id, secret_hash, redirect_uri, created_at) "
                        "VALUES (:c, 'h', '', :t)"
                    ),
                    {"c": name, "t": CREATED},
                )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT c.client_id, a.app_id FROM oauth_clients c "
                    "JOIN apigee_apps a ON a.client_id = c.id ORDER BY c.id"
                )
            ).all()
        db.engine.dispose()
    assert [r.client_id for r in rows] == ["legacy-a", "legacy-b"]
    assert len({r.app_id for r in rows}) == 2 and all(len(r.app_id) == 36 for r in rows)


def _fill_0003(conn: sa.Connection) -> None:
    """Apps, products, proxies and live tokens as a 0003 database held them."""
    for pk, client_id, app_id, email in (
        (1, "weather-app", "11111111-1111-4111-8111-111111111111", "dev@example.com"),
        (2, "plain-client", "22222222-2222-4222-8222-222222222222", None),
    ):
        conn.execute(
            sa.text(
                "INSERT INTO oauth_clients (id, client_id, secret_hash, redirect_uri, "
                "created_at, app_id, developer_email) VALUES (:pk, :c, 'h', '', :t, :a, :e)"
            ),
            {"pk": pk, "c": client_id, "t": CREATED, "a": app_id, "e": email},
        )
    for pk, name, scopes in ((7, "Zeta", "z y"), (3, "Alpha", None), (5, "Mid", "m")):
        conn.execute(
            sa.text("INSERT INTO oauth_api_products (id, name, scopes) VALUES (:pk, :n, :s)"),
            {"pk": pk, "n": name, "s": scopes},
        )
    for product_pk, position in ((7, 0), (3, 1), (5, 2)):
        conn.execute(
            sa.text(
                "INSERT INTO oauth_client_products (client_id, product_id, position) "
                "VALUES (1, :p, :pos)"
            ),
            {"p": product_pk, "pos": position},
        )
    conn.execute(
        sa.text(
            "INSERT INTO apigee_proxies (base_path, target_url, scope, created_at) "
            "VALUES ('/weather', 'http://127.0.0.1:9000', 'z', :t)"
        ),
        {"t": CREATED},
    )
    conn.execute(
        sa.text(
            "INSERT INTO oauth_access_tokens (token_hash, client_id, scope, issued_at, "
            "expires_at) VALUES (:h, 1, 'z', :t, :x)"
        ),
        {"h": "a" * 64, "t": CREATED, "x": EXPIRES},
    )
    conn.execute(
        sa.text(
            "INSERT INTO plugin_state (name, enabled, params, revision, updated_at) "
            "VALUES ('apigee', :on, '{}', 3, :t)"
        ),
        {"on": True, "t": CREATED},
    )


def _upgrade_a_filled_0003() -> None:
    """Migrate to 0003, fill it as a site of that version was, then migrate to the head."""
    upgrade(directory=str(MIGRATIONS_DIR), revision="0003")
    with db.engine.begin() as conn:
        _fill_0003(conn)
    upgrade(directory=str(MIGRATIONS_DIR))


def test_upgrade_from_0003_keeps_every_app_product_proxy_and_token(empty_database_url) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        _upgrade_a_filled_0003()
        with db.engine.connect() as conn:
            apps = conn.execute(
                sa.text(
                    "SELECT c.client_id, a.app_id, a.developer_email FROM apigee_apps a "
                    "JOIN oauth_clients c ON c.id = a.client_id ORDER BY c.id"
                )
            ).all()
            products = conn.execute(
                sa.text(
                    "SELECT p.name, p.scopes FROM apigee_app_products l "
                    "JOIN apigee_products p ON p.id = l.product_id "
                    "WHERE l.client_id = 1 ORDER BY l.position"
                )
            ).all()
            proxies = conn.execute(sa.text("SELECT base_path, scope FROM apigee_proxies")).all()
            tokens = conn.execute(sa.text("SELECT client_id FROM oauth_access_tokens")).all()
            enabled = conn.execute(sa.text("SELECT enabled FROM plugin_state")).scalar_one()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("oauth_clients")}
            tables = set(sa.inspect(conn).get_table_names())
        db.engine.dispose()
    assert [tuple(r) for r in apps] == [
        ("weather-app", "11111111-1111-4111-8111-111111111111", "dev@example.com"),
        ("plain-client", "22222222-2222-4222-8222-222222222222", None),
    ]
    assert [tuple(r) for r in products] == [("Zeta", "z y"), ("Alpha", None), ("Mid", "m")]
    assert [tuple(r) for r in proxies] == [("/weather", "z")]
    assert [r.client_id for r in tokens] == [1]  # rebuilding oauth_clients cascaded nothing
    assert enabled
    assert not {"app_id", "developer_email"} & columns
    assert not {"oauth_api_products", "oauth_client_products"} & tables


def test_downgrade_to_0003_puts_apps_and_products_back(empty_database_url) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        _upgrade_a_filled_0003()
        downgrade(directory=str(MIGRATIONS_DIR), revision="0003")
        with db.engine.connect() as conn:
            clients = conn.execute(
                sa.text("SELECT client_id, app_id, developer_email FROM oauth_clients ORDER BY id")
            ).all()
            products = conn.execute(
                sa.text(
                    "SELECT p.name FROM oauth_client_products l "
                    "JOIN oauth_api_products p ON p.id = l.product_id ORDER BY l.position"
                )
            ).all()
        db.engine.dispose()
    assert [tuple(r) for r in clients] == [
        ("weather-app", "11111111-1111-4111-8111-111111111111", "dev@example.com"),
        ("plain-client", "22222222-2222-4222-8222-222222222222", None),
    ]
    assert [r.name for r in products] == ["Zeta", "Alpha", "Mid"]


def test_upgrade_from_0006_keeps_every_row_and_makes_ids_exact(empty_database_url) -> None:
    """0007 on MySQL/MariaDB turns the latin1, case-insensitive tables of a 0006 database
    (the scratch database is latin1) into utf8mb4 with exact ids, keeping every row; on the
    other backends it changes nothing, and the same holds."""
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0006")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO oauth_clients (id, client_id, secret_hash, redirect_uri, "
                    "scope, user_id, created_at) VALUES (1, 'Bjørn-App', 'h', '', 'a b', "
                    "'Søren', :t)"
                ),
                {"t": CREATED},
            )
            conn.execute(
                sa.text("INSERT INTO oauth_scopes (scope, is_default) VALUES ('Orders.Read', :f)"),
                {"f": False},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO oauth_access_tokens (token_hash, client_id, scope, issued_at, "
                    "expires_at) VALUES (:h, 1, 'a', :t, :x)"
                ),
                {"h": "a" * 64, "t": CREATED, "x": EXPIRES},
            )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            for pk, client_id, user_id in (
                (2, "bjørn-app", None),
                (3, "Bjørn-App ", None),
                (4, "kunde-😀", "用户😀"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO oauth_clients (id, client_id, secret_hash, redirect_uri, "
                        "user_id, created_at) VALUES (:pk, :c, 'h', '', :u, :t)"
                    ),
                    {"pk": pk, "c": client_id, "u": user_id, "t": CREATED},
                )
            conn.execute(
                sa.text("INSERT INTO oauth_scopes (scope, is_default) VALUES ('orders.read', :f)"),
                {"f": False},
            )
        with db.engine.connect() as conn:
            clients = conn.execute(
                sa.text("SELECT client_id, user_id, scope FROM oauth_clients ORDER BY id")
            ).all()
            found = conn.execute(
                sa.text("SELECT id FROM oauth_clients WHERE client_id = 'bjørn-app'")
            ).all()
            scopes = conn.execute(sa.text("SELECT scope FROM oauth_scopes ORDER BY id")).all()
            token = conn.execute(
                sa.text("SELECT client_id, issued_at, expires_at FROM oauth_access_tokens")
            ).one()
        db.engine.dispose()
    assert [tuple(r) for r in clients] == [
        ("Bjørn-App", "Søren", "a b"),
        ("bjørn-app", None, None),
        ("Bjørn-App ", None, None),
        ("kunde-😀", "用户😀", None),
    ]
    assert [r.id for r in found] == [2]
    assert [r.scope for r in scopes] == ["Orders.Read", "orders.read"]
    assert token.client_id == 1
    assert [str(token.issued_at), str(token.expires_at)] == [CREATED, EXPIRES]


def test_upgrade_from_0010_keeps_clients_enabled_and_downgrade_puts_0010_back(
    empty_database_url,
) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0010")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO oauth_clients (client_id, secret_hash, redirect_uri, created_at) "
                    "VALUES ('legacy-a', 'h', '', :t)"
                ),
                {"t": CREATED},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO oauth_access_tokens (token_hash, client_id, scope, issued_at, "
                    "expires_at) VALUES (:h, 1, 'z', :t, :x)"
                ),
                {"h": "a" * 64, "t": CREATED, "x": EXPIRES},
            )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            row = conn.execute(
                sa.text(
                    "SELECT client_id, disabled, previous_secret_hash, previous_secret_until "
                    "FROM oauth_clients"
                )
            ).one()
            assert (row.client_id, bool(row.disabled), row.previous_secret_hash) == (
                "legacy-a",
                False,
                None,
            )
            assert row.previous_secret_until is None
            conn.execute(
                sa.text(
                    "INSERT INTO audit_events (occurred_at, actor, action, target) "
                    "VALUES (:t, 'cli:x', 'client.create', 'legacy-a')"
                ),
                {"t": CREATED},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO admin_users (username, password_hash, created_at, "
                    "password_changed_at) VALUES ('alice', 'h', :t, :t)"
                ),
                {"t": CREATED},
            )
        downgrade(directory=str(MIGRATIONS_DIR), revision="0010")
        with db.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            columns = {c["name"] for c in sa.inspect(conn).get_columns("oauth_clients")}
            kept = conn.execute(sa.text("SELECT count(*) FROM oauth_access_tokens")).scalar()
            clients = conn.execute(sa.text("SELECT client_id FROM oauth_clients")).scalars().all()
        upgrade(directory=str(MIGRATIONS_DIR))  # and up again
        db.engine.dispose()
    assert not {"audit_events", "admin_users"} & tables
    assert not {"disabled", "previous_secret_hash", "previous_secret_until"} & columns
    assert (clients, kept) == (["legacy-a"], 1)


def test_upgrade_from_0011_keeps_admins_with_no_session_ended_and_downgrade_drops_it(
    empty_database_url,
) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0011")
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO admin_users (username, password_hash, created_at, "
                    "password_changed_at) VALUES ('alice', 'h', :t, :t)"
                ),
                {"t": CREATED},
            )
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            upgraded = conn.execute(
                sa.text("SELECT username, sessions_ended_at FROM admin_users")
            ).one()
        downgrade(directory=str(MIGRATIONS_DIR), revision="0011")
        with db.engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("admin_users")}
            kept = conn.execute(sa.text("SELECT username FROM admin_users")).scalars().all()
        upgrade(directory=str(MIGRATIONS_DIR))  # and up again
        db.engine.dispose()
    assert (upgraded.username, upgraded.sessions_ended_at) == ("alice", None)
    assert "sessions_ended_at" not in columns
    assert kept == ["alice"]


def test_0014_adds_the_secret_displays_and_downgrade_drops_them(empty_database_url) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0013")
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO admin_secret_displays (pad_hash, sealed, expires_at) "
                    "VALUES (:h, 'ab', :t)"
                ),
                {"h": "0" * 64, "t": EXPIRES},
            )
        downgrade(directory=str(MIGRATIONS_DIR), revision="0013")
        with db.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        upgrade(directory=str(MIGRATIONS_DIR))  # and up again, empty
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM admin_secret_displays")).scalar()
        db.engine.dispose()
    assert "admin_secret_displays" not in tables
    assert rows == 0


def test_0018_adds_the_site_users_and_downgrade_drops_them(empty_database_url) -> None:
    app = make_app(empty_database_url)
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0017")
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.begin() as conn:
            for pk, name in ((42, "apiuser"), (43, "Bjørn")):
                conn.execute(
                    sa.text(
                        "INSERT INTO site_users (id, username, username_key, name, email, "
                        "blocked, two_factor) VALUES (:id, :u, :k, '', '', :f, :f)"
                    ),
                    {"id": pk, "u": name, "k": name.lower(), "f": False},
                )
            conn.execute(
                sa.text(
                    "INSERT INTO site_user_groups (user_id, title, position) "
                    "VALUES (42, 'Registered', 0)"
                )
            )
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(  # the key is unique: "APIUSER" is "apiuser"
                sa.text(
                    "INSERT INTO site_users (id, username, username_key, name, email, "
                    "blocked, two_factor) VALUES (44, 'APIUSER', 'apiuser', '', '', :f, :f)"
                ),
                {"f": False},
            )
        with db.engine.connect() as conn:
            keys = conn.execute(sa.text("SELECT username_key FROM site_users ORDER BY id"))
            kept = keys.scalars().all()
        downgrade(directory=str(MIGRATIONS_DIR), revision="0017")
        with db.engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        upgrade(directory=str(MIGRATIONS_DIR))  # and up again, empty
        db.engine.dispose()
    assert kept == ["apiuser", "bjørn"]
    assert not {"site_users", "site_user_groups", "oauth2_imported_users"} & tables


def test_0020_indexes_a_users_tokens_and_downgrade_drops_the_index(empty_database_url) -> None:
    app = make_app(empty_database_url)
    tables = ("oauth_access_tokens", "oauth_refresh_tokens")
    with app.app_context():
        upgrade(directory=str(MIGRATIONS_DIR), revision="0019")
        upgrade(directory=str(MIGRATIONS_DIR))
        with db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            up = {
                t: {i["name"]: i["column_names"] for i in inspector.get_indexes(t)} for t in tables
            }
        downgrade(directory=str(MIGRATIONS_DIR), revision="0019")
        with db.engine.connect() as conn:
            inspector = sa.inspect(conn)
            down = {t: {i["name"] for i in inspector.get_indexes(t)} for t in tables}
        upgrade(directory=str(MIGRATIONS_DIR))
        db.engine.dispose()
    for table in tables:
        name = f"ix_{table}_user_id_issued_at"
        assert up[table][name] == ["user_id", "issued_at", "token_hash"]
        assert name not in down[table]
