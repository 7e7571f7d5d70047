"""Usage telemetry (emulator/ops/usage.py): the per-worker aggregate, its flushes, its bounds,
the worker's exit, the token path's statements, and ``flask legacy usage``.

The dialects' forms are tested in tests/plugins/*/test_usage.py; real servers in
tests/live/test_usage.py.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from emulator import oauth
from emulator.ops import usage
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import UsageCount
from emulator.storage.sqlite import SerializedWriteConnection
from tests.support.app import make_app
from tests.support.app import migrate
from tests.support.usage import table_counts

ROOT = Path(__file__).resolve().parents[3]
TOKEN_URL = "/index.php?option=token&api=oauth2"
RESOURCE_URL = "/index.php?option=resource&api=oauth2"
QUERY_TOKEN = TOKEN_URL + "&grant_type=client_credentials&client_id=meter&client_secret=m3ter-pw"
KEY = ("meter", "oauth2", "token", "query", None)
DAY = 86_400


@pytest.fixture
def meter(make_client) -> None:
    make_client("meter", secret="m3ter-pw", scope="meter.read")


def pk_of(app, client_id: str) -> int:
    with app.app_context():
        found = oauth.find_client(db.session, client_id)
        db.session.remove()
    return found.id


def rows(app) -> list[sa.Row]:
    with app.app_context(), db.engine.connect() as conn:
        table = UsageCount.__table__
        return conn.execute(sa.select(table).order_by(table.c.operation, table.c.day)).all()


def epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=UTC).timestamp()


def dispose(*apps) -> None:
    for each in apps:
        with each.app_context():
            db.engine.dispose()


# --- the aggregate -------------------------------------------------------------------------


def test_counts_go_to_their_utc_day_with_the_latest_last_seen(app, meter) -> None:
    counter = usage.counter_of(app)
    pk = pk_of(app, "meter")
    midnight = datetime(2026, 3, 14)
    for moment in (midnight - timedelta(seconds=1), midnight - timedelta(hours=5)):
        counter.record(pk, "oauth2", "token", "query", None, epoch(moment))
    for moment in (midnight + timedelta(hours=2), midnight, midnight + timedelta(hours=1)):
        counter.record(pk, "oauth2", "token", "query", None, epoch(moment))
    assert counter.flush() == 2
    assert [(r.day, r.count, r.last_seen) for r in rows(app)] == [
        (date(2026, 3, 13), 2, midnight - timedelta(seconds=1)),
        (date(2026, 3, 14), 3, midnight + timedelta(hours=2)),
    ]
    assert (rows(app)[0].credential_form, rows(app)[0].token_form) == ("query", "")


def test_a_flush_adds_to_the_rows_there_are(app, meter) -> None:
    counter = usage.counter_of(app)
    pk = pk_of(app, "meter")
    now = epoch(datetime(2026, 5, 1, 12))
    counter.record(pk, "oauth2", "resource", None, "header", now)
    counter.flush()
    counter.record(pk, "oauth2", "resource", None, "header", now - 60)  # later, seen earlier
    counter.record(pk, "oauth2", "resource", None, "header", now - 30)
    counter.flush()
    assert [(r.count, r.last_seen) for r in rows(app)] == [(3, datetime(2026, 5, 1, 12))]


def test_two_app_instances_flushing_the_same_key_add_up(app, database_url, meter) -> None:
    """Two workers (two app instances on one database) count the same client and form."""
    other = make_app(database_url)
    for instance, requests in ((app, 3), (other, 4)):
        web = instance.test_client()
        for _ in range(requests):
            assert web.post(QUERY_TOKEN).status_code == 200
    assert table_counts(other) == {KEY: 4}
    assert table_counts(app) == {KEY: 7}
    dispose(other)


def test_the_aggregate_is_bounded_and_says_what_it_left_out(app, meter, caplog) -> None:
    counter = usage.UsageCounter(usage.counter_of(app).engine, interval=0, max_keys=2)
    pk = pk_of(app, "meter")
    now = time.time()
    for operation in ("token", "resource", "revoke", "introspect"):
        counter.record(pk, "oauth2", operation, "basic", None, now)
    counter.record(pk, "oauth2", "token", "basic", None, now)  # a key it has: still counted
    assert sorted((k[2], v[0]) for k, v in counter.pending().items()) == [
        ("resource", 1),
        ("token", 2),
    ]
    caplog.set_level(logging.WARNING, logger="emulator.ops.usage")
    assert counter.flush() == 2
    assert "2 requests not counted (more than USAGE_MAX_KEYS=2 keys" in caplog.text
    assert counter.dropped == 0


def test_a_failed_flush_keeps_the_counts_for_the_next(app, meter, tmp_path, caplog) -> None:
    counter = usage.counter_of(app)
    good = counter.engine
    pk = pk_of(app, "meter")
    now = time.time()
    counter.record(pk, "oauth2", "token", "query", None, now)
    counter.engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'down.sqlite'}")
    caplog.set_level(logging.ERROR, logger="emulator.ops.usage")
    try:
        assert counter.flush() == 0  # never raises
        counter.record(pk, "oauth2", "token", "query", None, now + 1)
        assert counter.flush() == 0
    finally:
        counter.engine.dispose()
        counter.engine = good
    assert "usage telemetry: 1 keys not written (OperationalError" in caplog.text
    assert [v[0] for v in counter.pending().values()] == [2]
    assert counter.flush() == 1
    assert table_counts(app) == {KEY: 2}


def test_kept_counts_stay_within_the_bound(app, meter, tmp_path) -> None:
    good = usage.counter_of(app).engine
    counter = usage.UsageCounter(
        sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'down.sqlite'}"),
        interval=0,
        max_keys=2,
    )
    pk = pk_of(app, "meter")
    for operation in ("token", "resource"):
        counter.record(pk, "oauth2", operation, None, None, time.time())
    assert counter.flush() == 0
    counter.record(pk, "oauth2", "revoke", None, None, time.time())  # full again: not kept
    assert len(counter.pending()) == 2 and counter.dropped == 1
    counter.engine.dispose()
    counter.engine = good
    assert counter.flush() == 2


def test_the_background_flush_writes_within_the_interval(database_url, app, meter) -> None:
    ticking = make_app(database_url, USAGE_FLUSH_SECONDS=0.2)
    counter = usage.counter_of(ticking)
    try:
        assert ticking.test_client().post(QUERY_TOKEN).status_code == 200
        deadline = time.monotonic() + 10
        while table_counts(app, flush=False) != {KEY: 1}:
            assert time.monotonic() < deadline, "no background flush within 10 s"
            time.sleep(0.05)
    finally:
        counter.close()
    dispose(ticking)


# --- the request path writes nothing for it -------------------------------------------------


def statements_of(app, action) -> list[str]:
    """The SQL statements ``action`` sends through the app's engine."""
    seen: list[str] = []

    def listen(_conn, _cursor, statement, _params, _context, _many) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    return seen


def test_the_token_path_performs_no_extra_statement(database_url, meter) -> None:
    """N token and resource requests send the same statements with telemetry on and off;
    the usage writes all happen in the flush, one statement for all of them."""
    on = make_app(database_url)
    off = make_app(database_url, USAGE_TELEMETRY=False)
    sent = {}
    for name, instance in (("on", on), ("off", off)):
        web = instance.test_client()
        token = web.post(QUERY_TOKEN).get_json()["access_token"]  # warm: secret verified once

        def traffic(web=web, token=token) -> None:
            for _ in range(25):
                assert web.post(QUERY_TOKEN).status_code == 200
                rv = web.get(RESOURCE_URL, headers={"Authorization": f"Bearer {token}"})
                assert rv.status_code == 200

        sent[name] = statements_of(instance, traffic)
    assert len(sent["on"]) >= 25 * 3  # the statements were seen at all
    assert sent["on"] == sent["off"]
    assert not [s for s in sent["on"] if "usage_counts" in s]
    flushed = statements_of(on, usage.counter_of(on).flush)
    assert len(flushed) == 1 and flushed[0].lstrip().upper().startswith("INSERT INTO USAGE_COUNTS")
    assert table_counts(on, flush=False) == {
        KEY: 26,
        ("meter", "oauth2", "resource", None, "header"): 25,
    }
    dispose(on, off)


def test_on_sqlite_the_flush_holds_the_writer_lock(tmp_path) -> None:
    """The flush is a writer like the others: its statement runs under the file's writer
    lock (emulator/storage/database.py), taken by the connection, released at commit."""
    url = f"sqlite:///{tmp_path / 'locked.sqlite'}"
    migrate(url)
    lone = make_app(url)
    with lone.app_context():
        oauth.register_client(db.session, oauth.ClientSpec("meter", "m3ter-pw"), now=utcnow())
        db.session.commit()
    assert lone.test_client().post(QUERY_TOKEN).status_code == 200
    holding = []

    def check(conn, _cursor, statement, _params, _context, _many) -> None:
        raw = conn.connection.dbapi_connection
        holding.append((isinstance(raw, SerializedWriteConnection), raw._holding))

    with lone.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", check)
    try:
        assert usage.counter_of(lone).flush() == 1
    finally:
        event.remove(engine, "after_cursor_execute", check)
    assert holding == [(True, True)]
    dispose(lone)


# --- the worker's end ----------------------------------------------------------------------

WORKER = """
import multiprocessing, os, sys
from app import create_app
from emulator.ops import usage
from emulator.storage.database import db

URL, MODE = sys.argv[1], sys.argv[2]
TOKEN = "{token}"

def serve(requests):
    # A flush interval no test outlives: only the worker's exit can write the counts.
    app = create_app({{"SQLALCHEMY_DATABASE_URI": URL, "SECRET_KEY": "t", "TESTING": True,
                      "USAGE_FLUSH_SECONDS": 3600}})
    web = app.test_client()
    for _ in range(requests):
        rv = web.post(TOKEN)
        assert rv.status_code == 200, rv.data
    return app

if MODE == "exit":  # a process that ends normally: atexit
    serve(5)
elif MODE == "multiprocessing":  # a multiprocessing worker (granian's) ends with os._exit
    worker = multiprocessing.get_context("fork").Process(target=serve, args=(5,))
    worker.start()
    worker.join()
    sys.exit(worker.exitcode)
elif MODE == "fork":  # a fork after counting: the child writes its own counts only
    app = serve(2)
    pid = os.fork()
    if pid == 0:
        with app.app_context():
            db.engine.dispose(close=False)  # SQLAlchemy's rule for a forked child
        inherited = len(usage.counter_of(app).pending())
        app.test_client().post(TOKEN)
        sys.exit(inherited)  # a normal exit: atexit runs in the child too
    _, status = os.waitpid(pid, 0)
    print("child inherited", os.waitstatus_to_exitcode(status), "keys")
"""


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("exit", 5), ("multiprocessing", 5), ("fork", 3)],
    ids=["atexit", "multiprocessing-worker", "fork"],
)
def test_a_clean_stop_loses_nothing(database_url, app, meter, tmp_path, mode, expected) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(token=QUERY_TOKEN))
    result = subprocess.run(
        [sys.executable, str(script), database_url, mode],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    if mode == "fork":
        assert "child inherited 0 keys" in result.stdout
    assert table_counts(app, flush=False) == {KEY: expected}


# --- the report ----------------------------------------------------------------------------


@pytest.fixture
def history(app, make_client) -> datetime:
    """Counts written at known times: the newest ten minutes ago; returns now."""
    make_client("alpha-shop", secret="a-pw")
    make_client("beta-kiosk", secret="b-pw")
    now = utcnow().replace(microsecond=0)
    alpha, beta = pk_of(app, "alpha-shop"), pk_of(app, "beta-kiosk")
    written = [
        (alpha, "token", "query", "", now - timedelta(minutes=10), 5),
        (alpha, "token", "query", "", now - timedelta(days=2), 7),
        (alpha, "resource", "", "header", now - timedelta(hours=3), 3),
        (beta, "token", "basic", "", now - timedelta(days=10), 2),
    ]
    with app.app_context(), db.engine.begin() as conn:
        usage.write_counts(
            conn,
            {
                (pk, "oauth2", op, cred, tok, int(epoch(seen) // DAY)): [count, epoch(seen)]
                for pk, op, cred, tok, seen, count in written
            },
        )
    return now


def report_json(cli, *args: str) -> dict:
    return json.loads(cli("legacy", "usage", "--json", *args))


def counted(report: dict) -> list[tuple]:
    return [
        (r["client_id"], r["operation"], r["credentials"], r["token"], r["count"])
        for r in report["rows"]
    ]


def test_the_report_as_json(cli, history) -> None:
    report = report_json(cli, "--since", "all")
    assert report["since"] is None
    assert report["rows"][0] == {
        "client_id": "alpha-shop",
        "plugin": "oauth2",
        "operation": "token",
        "credentials": "query",
        "token": None,
        "count": 12,
        "last_seen": f"{history - timedelta(minutes=10):%Y-%m-%dT%H:%M:%S}Z",
    }
    assert counted(report) == [  # by client, the most used form first
        ("alpha-shop", "token", "query", None, 12),
        ("alpha-shop", "resource", None, "header", 3),
        ("beta-kiosk", "token", "basic", None, 2),
    ]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ("30m", [("alpha-shop", "token", "query", None, 5)]),
        (
            "12h",
            [
                ("alpha-shop", "token", "query", None, 5),
                ("alpha-shop", "resource", None, "header", 3),
            ],
        ),
        (
            "7d",
            [
                ("alpha-shop", "token", "query", None, 12),
                ("alpha-shop", "resource", None, "header", 3),
            ],
        ),
        (
            "7D",
            [
                ("alpha-shop", "token", "query", None, 12),
                ("alpha-shop", "resource", None, "header", 3),
            ],
        ),
    ],
)
def test_the_report_window(cli, history, window, expected) -> None:
    report = report_json(cli, "--since", window)
    assert counted(report) == expected
    since = datetime.strptime(report["since"], "%Y-%m-%dT%H:%M:%SZ")
    amount, unit = int(window[:-1]), window[-1].lower()
    unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
    wanted = history - timedelta(**{unit_name: amount})
    assert abs((since - wanted).total_seconds()) < 60


def test_the_default_window_is_seven_days(cli, history) -> None:
    assert counted(report_json(cli)) == counted(report_json(cli, "--since", "7d"))


def test_the_report_as_a_table(cli, history, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    lines = cli("legacy", "usage", "--since", "all").splitlines()
    assert lines[0] == "Usage (all kept):"
    header, *body = lines[1:]
    assert header.split() == [
        "CLIENT",
        "PLUGIN",
        "OPERATION",
        "CREDENTIALS",
        "TOKEN",
        "COUNT",
        "LAST",
        "SEEN",
        "(UTC)",
    ]
    assert [line.split()[:6] for line in body] == [
        ["alpha-shop", "oauth2", "token", "query", "-", "12"],
        ["alpha-shop", "oauth2", "resource", "-", "header", "3"],
        ["beta-kiosk", "oauth2", "token", "basic", "-", "2"],
    ]
    for name in ("PLUGIN", "OPERATION", "CREDENTIALS", "TOKEN", "LAST SEEN"):  # aligned
        column = header.index(name)
        assert all(line[column - 2 : column] == "  " and line[column] != " " for line in body), name
    count_end = header.index("COUNT") + len("COUNT")
    assert {line[count_end - 1] for line in body} == {"2", "3"}  # counts right-aligned


def test_the_table_fits_a_narrow_terminal(cli, app, make_client, monkeypatch) -> None:
    long_id = "a-client-id-from-the-legacy-site-that-goes-on-and-on-0042"
    make_client(long_id, secret="long-pw")
    usage.counter_of(app).record(pk_of(app, long_id), "oauth2", "token", "json", None, time.time())
    usage.counter_of(app).flush()
    for width in (80, 100):  # an 80-column terminal gives the client id 13 characters
        monkeypatch.setenv("COLUMNS", str(width))
        lines = cli("legacy", "usage").splitlines()
        assert all(len(line) <= width for line in lines), lines
        cut = lines[2].split()[0]
        assert cut.endswith("...") and long_id.startswith(cut[:-3]) and len(cut) >= 13
        assert lines[2].split()[1:5] == ["oauth2", "token", "json", "-"]
    monkeypatch.setenv("COLUMNS", "400")
    assert long_id in cli("legacy", "usage")


def test_an_empty_report_says_so(cli) -> None:
    out = cli("legacy", "usage", "--since", "12h")
    assert out.startswith("No usage recorded since ") and out.endswith(" UTC.\n")
    assert report_json(cli, "--since", "all") == {"since": None, "rows": []}


@pytest.mark.parametrize("window", ["7w", "0d", "7", "d", "-1d", "1.5h", "7 d", "99999d", ""])
def test_a_bad_since_is_one_clear_line(runner, window) -> None:
    result = runner.invoke(args=["legacy", "usage", "--since", window])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: --since {window!r} is "), result.output


def test_the_help_says_when_counts_reach_the_table(cli) -> None:
    text = " ".join(cli("legacy", "usage", "--help").split())
    assert "every USAGE_FLUSH_SECONDS" in text and "flushes nothing" in text
