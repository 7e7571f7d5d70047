"""The audit log: who changed what, when and from where; and security events (lockouts).

Every admin change (``emulator.manage.actions``, called by the CLI and the admin pages) records one
event in the caller's transaction, so a change and its event are committed, or rolled
back, together. ``before``/``after`` hold the changed fields only, as JSON; a secret, a
password or a token never goes in (a rotation records ``{"secret": "rotated"}``), and
``record`` refuses a value under a key that names one. A URL's password is masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.ops.clock import utcnow
from emulator.storage.models import AuditEvent
from emulator.storage.purge import PurgePacing
from emulator.storage.purge import delete_in_batches
from emulator.storage.schema import DbHandle

SYSTEM = "system"
# Keys whose value would be a credential: only these markers may stand there.
_SECRET_KEYS = frozenset(
    {
        "secret",
        "client_secret",
        "secret_hash",
        "previous_secret_hash",
        "password",
        "password_hash",
        "token",
        "access_token",
        "refresh_token",
    }
)
_MARKERS = frozenset({"rotated", "set", "changed"})
# scheme://user:password@host -> scheme://user:***@host; the password runs to the last
# "@" before the host (a raw "@" in it, as in u:p@ss@host, is the password's too)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/@:\s]*:)[^\s/?#]+(?=@[^@\s/?#]*(?:[/?#\s]|$))"
)
MAX_LIMIT = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_EVENTS = AuditEvent.__table__


@dataclass(frozen=True)
class Actor:
    """Who acts: ``admin:<username>`` (pages), ``cli:<os user>`` (CLI), ``system``."""

    name: str
    address: str | None  # the request's source address; None from the CLI


class AuditLeak(RuntimeError):
    """A caller tried to put a credential into the audit log (a bug, never user input)."""


def record(
    session: DbHandle,
    *,
    actor: Actor,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    now: datetime,
) -> None:
    """Add one event in the caller's transaction (not committed)."""
    session.execute(
        insert(_EVENTS),
        {
            "occurred_at": now,
            "actor": _plain(actor.name)[:255],
            "address": None if actor.address is None else _plain(actor.address)[:64],
            "action": action[:64],
            # A lockout's target is whatever client id a request presented.
            "target": _plain(target)[:255],
            "before": _encode(before),
            "after": _encode(after),
        },
    )


def record_event(
    session: DbHandle,
    action: str,
    target: str,
    *,
    after: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Add one event the service itself caused (actor ``system``, no address), in the
    caller's transaction: e.g. a plugin's link falling behind or catching up."""
    record(
        session,
        actor=Actor(SYSTEM, None),
        action=action,
        target=target,
        after=after,
        now=now if now is not None else utcnow(),
    )


def record_plugin_fields(
    session: DbHandle,
    *,
    actor: Actor,
    plugin: str,
    client_id: str,
    changes: Mapping[str, tuple[Any, Any]],
    now: datetime,
) -> None:
    """Record a change of a plugin's fields of a client (``{field: (old, new)}``) as a
    ``client.update`` whose keys are ``<plugin>.<field>``; nothing when nothing changed."""
    if not changes:
        return
    record(
        session,
        actor=actor,
        action="client.update",
        target=client_id,
        before={f"{plugin}.{key}": old for key, (old, _new) in changes.items()},
        after={f"{plugin}.{key}": new for key, (_old, new) in changes.items()},
        now=now,
    )


def events(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    action_prefix: str | None = None,
    actor: str | None = None,
    target: str | None = None,
) -> list[AuditEvent]:
    """Events, newest first; ``action_prefix`` "client" matches "client.update" etc.

    ``since``/``until``: occurred at or after / before; ``actor``: a part of the actor
    ("alice" finds "admin:alice"); ``target``: exactly this target.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"The limit must be 1 to {MAX_LIMIT}.")
    if offset < 0:
        raise ValueError("The offset must be 0 or more.")
    query = _filtered(
        select(AuditEvent),
        since=since,
        until=until,
        action_prefix=action_prefix,
        actor=actor,
        target=target,
    )
    query = query.order_by(AuditEvent.occurred_at.desc(), AuditEvent.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_events(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    action_prefix: str | None = None,
    actor: str | None = None,
    target: str | None = None,
) -> int:
    """How many events ``events`` finds with these filters (every page)."""
    query = _filtered(
        select(func.count()).select_from(AuditEvent),
        since=since,
        until=until,
        action_prefix=action_prefix,
        actor=actor,
        target=target,
    )
    return session.scalar(query) or 0


def _filtered(
    query: Select[Any],
    *,
    since: datetime | None,
    until: datetime | None,
    action_prefix: str | None,
    actor: str | None,
    target: str | None,
) -> Select[Any]:
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    if action_prefix:
        query = query.where(AuditEvent.action.startswith(action_prefix, autoescape=True))
    if actor:
        query = query.where(AuditEvent.actor.contains(actor, autoescape=True))
    if target:
        query = query.where(AuditEvent.target == target)
    return query


def purge_events(
    session: Session,
    *,
    before: datetime,
    pacing: PurgePacing,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Delete the events that occurred before ``before``, in committed batches
    (``emulator.storage.purge.delete_in_batches``); return how many went."""
    return delete_in_batches(
        session, _EVENTS, _EVENTS.c.occurred_at < before, pacing, on_batch=on_batch
    )


def event_dict(event: AuditEvent) -> dict[str, Any]:
    """An event as plain JSON-able values (before/after decoded), for --json and the pages."""
    return {
        "id": event.id,
        "occurred_at": f"{event.occurred_at:%Y-%m-%dT%H:%M:%S}Z",
        "actor": event.actor,
        "address": event.address,
        "action": event.action,
        "target": event.target,
        "before": None if event.before is None else json.loads(event.before),
        "after": None if event.after is None else json.loads(event.after),
    }


def _plain(text: str) -> str:
    """Text as stored in a column: control characters (NUL: PostgreSQL refuses it) as U+FFFD."""
    return _CONTROL.sub("\ufffd", text)


def _encode(values: Mapping[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps({key: _checked(key, value) for key, value in values.items()}, default=_iso)


def _checked(key: str, value: Any) -> Any:
    """The value as logged: a credential key holds only a marker; URL passwords masked."""
    if key in _SECRET_KEYS and value is not None and value not in _MARKERS:
        raise AuditLeak(f"audit: {key!r} may only hold one of {sorted(_MARKERS)}")
    if isinstance(value, str):
        return _URL_PASSWORD.sub(r"\g<head>***", value)
    if isinstance(value, Mapping):
        return {k: _checked(k, v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_checked("", v) for v in value]
    return value


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%dT%H:%M:%S}Z"
    raise TypeError(f"not JSON-able in an audit event: {type(value).__name__}")
