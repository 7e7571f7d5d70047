"""Retention: `audit purge` and `usage purge` delete old rows in bounded, committed batches."""

from __future__ import annotations

from datetime import date
from datetime import timedelta

import pytest
import sqlalchemy as sa

from emulator.ops import audit
from emulator.ops import usage
from emulator.ops.audit import Actor
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.storage.models import AuditEvent
from emulator.storage.models import UsageCount
from emulator.storage.purge import PurgePacing

ACTOR = Actor("cli:test", None)


@pytest.fixture
def events(app):
    """Add audit events aged these many days (and a few seconds less); returns their ids."""

    def add(*ages: float) -> None:
        now = utcnow()
        with app.app_context():
            for age in ages:
                audit.record(
                    db.session,
                    actor=ACTOR,
                    action="client.update",
                    target=f"aged-{age}",
                    now=now - timedelta(days=age) + timedelta(seconds=5),
                )
            db.session.commit()

    return add


def targets(app) -> list[str]:
    with app.app_context():
        return sorted(db.session.scalars(sa.select(AuditEvent.target)))


@pytest.fixture
def counts(app, make_client):
    """Add usage counts of a client for UTC days this many days before today."""
    make_client("shop", secret="s")

    def add(*ages: int) -> date:
        today = utcnow().date()
        with app.app_context():
            pk = db.session.scalar(sa.text("SELECT id FROM oauth_clients"))
            for n, age in enumerate(ages):
                for form in ("basic", "query"):  # two rows a day: the key is composite
                    db.session.add(
                        UsageCount(
                            client_id=pk,
                            plugin="oauth2",
                            operation=f"token-{n}",
                            credential_form=form,
                            token_form="",
                            day=today - timedelta(days=age),
                            count=1,
                            last_seen=utcnow(),
                        )
                    )
            db.session.commit()
        return today

    return add


def days_kept(app) -> list[date]:
    with app.app_context():
        return sorted(set(db.session.scalars(sa.select(UsageCount.day))))


def test_audit_purge_removes_events_older_than_the_retention(app, cli, events) -> None:
    events(400, 366, 365.5, 364, 10, 0)
    app.config["TOKEN_PURGE_BATCH_SIZE"] = 2
    out = cli("audit", "purge")
    assert "Purged 3 audit events from before " in out and "(kept 365 days)." in out
    assert "audit_events: 2 removed so far" in out  # progress, on stderr
    kept = targets(app)
    assert kept == ["aged-0", "aged-10", "aged-364", "audit_events"]
    # The cut itself is an event: who purged, up to when, how many.
    purge = audit.event_dict(audit_event(app, "audit.purge"))
    assert purge["actor"].startswith("cli:") and purge["after"]["removed"] == 3
    out = cli("audit", "purge", "--days", "5")
    assert "Purged 2 audit events" in out and "(kept 5 days)." in out
    assert targets(app) == ["aged-0", "audit_events", "audit_events"]


def audit_event(app, action: str) -> AuditEvent:
    with app.app_context():
        event = db.session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)).one()
        db.session.expunge(event)
        return event


def test_an_audit_purge_that_removes_nothing_records_nothing(app, cli, events) -> None:
    events(1)
    assert "Purged 0 audit events" in cli("audit", "purge")
    assert targets(app) == ["aged-1"]


def test_usage_purge_removes_days_older_than_the_retention(app, cli, counts) -> None:
    today = counts(800, 401, 400, 399, 1, 0)
    app.config["TOKEN_PURGE_BATCH_SIZE"] = 3
    out = cli("usage", "purge")
    cut = today - timedelta(days=400)
    assert f"Purged 4 usage counts of UTC days before {cut:%Y-%m-%d} (kept 400 days)." in out
    assert "usage_counts: 3 removed so far" in out
    assert days_kept(app) == [today - timedelta(days=age) for age in (400, 399, 1, 0)]
    cli("usage", "purge", "--days", "1")
    assert days_kept(app) == [today - timedelta(days=1), today]


@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_purge_batches_are_bounded_and_each_is_committed(app, events, batch_size) -> None:
    events(*[100] * 5, 1)
    totals: list[int] = []
    with app.app_context():
        removed = audit.purge_events(
            db.session,
            before=utcnow() - timedelta(days=30),
            pacing=PurgePacing(batch_size=batch_size),
            on_batch=totals.append,
        )
    assert removed == 5
    sizes = [b - a for a, b in zip([0, *totals], totals, strict=False)]
    assert sizes and max(sizes) <= batch_size and sum(sizes) == 5
    assert targets(app) == ["aged-1"]  # committed: another session sees it


def test_usage_batches_delete_by_the_whole_composite_key(app, counts) -> None:
    today = counts(50, 50, 3)  # the same day twice: four rows of it, two forms
    totals: list[int] = []
    with app.app_context():
        removed = usage.purge_counts(
            db.session,
            before=today - timedelta(days=10),
            pacing=PurgePacing(batch_size=3),
            on_batch=totals.append,
        )
    assert (removed, totals) == (4, [3, 4])
    assert days_kept(app) == [today - timedelta(days=3)]


@pytest.mark.parametrize(
    ("command", "setting"),
    [("audit", "AUDIT_RETENTION_DAYS"), ("usage", "USAGE_RETENTION_DAYS")],
)
@pytest.mark.parametrize(
    "value",
    [0, -1, "abc", "", 1.5, True, None, 10**9],
    ids=["zero", "negative", "garbage", "empty", "fraction", "bool", "none", "huge"],
)
def test_a_bad_retention_setting_is_refused_and_nothing_is_purged(
    app, runner, events, counts, command, setting, value
) -> None:
    events(1000)
    counts(1000)
    before = targets(app)
    app.config[setting] = value
    result = runner.invoke(args=[command, "purge"])
    assert result.exit_code == 1
    assert f"Error: {setting} must be a whole number of days from 1 to 36525, not " in result.output
    assert "nothing was purged" in result.output and "Traceback" not in result.output
    assert targets(app) == before and len(days_kept(app)) == 1


@pytest.mark.parametrize("command", ["audit", "usage"])
@pytest.mark.parametrize(
    "days", ["0", "-3", "abc", "1e3", "7.5", " ", "²", pytest.param("9" * 5000, id="5000-digits")]
)
def test_a_bad_days_option_is_refused(app, runner, events, counts, command, days) -> None:
    events(1000)
    counts(1000)
    before = targets(app)
    result = runner.invoke(args=[command, "purge", "--days", days])
    assert result.exit_code == 1
    assert f"Error: --days must be a whole number of days from 1 to 36525, not {days!r}" in (
        result.output
    )
    assert targets(app) == before and len(days_kept(app)) == 1


def test_a_retention_from_the_environment_is_read_as_days(app, cli, events) -> None:
    """FLASK_AUDIT_RETENTION_DAYS=30 arrives as a number; a quoted "30" is taken too."""
    events(40, 20)
    app.config["AUDIT_RETENTION_DAYS"] = "30"
    assert "Purged 1 audit events" in cli("audit", "purge")
