"""One import run: the redCORE database's clients, scopes, users, options and live tokens, here.

Order, inside the caller's one transaction: clients (their secrets verified and hashed on
threads before the first write, so no writer lock is held meanwhile), scopes, the site's
users (streamed in batches), options, then the access and refresh tokens, streamed in
batches. With ``write=False`` (a dry run) every step only compares and nothing is written;
the caller rolls back anyway.

A user carried over keeps a record of the old site's values as last imported
(``oauth2_imported_users``): a later run applies to a user only what changed on the old site
since, so a password set or rehashed here, a block lifted here, stay as they are unless the
old site's own value changed. A user removed here is never brought back.

Every token carried over is recorded (``oauth2_imported_tokens``, by the engine's hash,
to its expiry): one recorded before that is no longer stored here was used up, revoked
or deleted here, and is never imported again. After the commit, ``forget_expired``
removes the records past their expiry in batches.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from contextlib import AbstractContextManager
from contextlib import nullcontext
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from emulator import oauth
from emulator.host import delete_in_batches
from emulator.host import plugin_state
from emulator.host import purge_pacing
from emulator.host import record_change
from emulator.host import set_plugin_state

from ..models import ImportedClient
from ..models import ImportedScope
from ..models import ImportedToken
from ..models import ImportedUser
from ..params import ENABLED
from ..params import MappedOption
from ..params import map_redcore_options
from .source import GAP
from .source import OVERLAP
from .source import TOKEN_TABLES
from .source import LegacySource
from .source import MappedToken
from .source import Skip
from .source import map_client
from .source import map_scope
from .source import map_token
from .source import map_user

_IMPORTED = ImportedClient.__table__
_IMPORTED_SCOPES = ImportedScope.__table__
_IMPORTED_TOKENS = ImportedToken.__table__
_IMPORTED_USERS = ImportedUser.__table__

PLUGIN = "oauth2"
BATCH = 1000  # token rows per read, per SELECT of ours and per executemany
# Secrets are checked and hashed on this many threads (argon2 leaves the GIL).
THREADS = max(1, min(4, os.cpu_count() or 1))
TABLES = ("clients", "scopes", "users", "access tokens", "refresh tokens", "options")
TOKEN_TALLIES = {"access": "access tokens", "refresh": "refresh tokens"}
EXAMPLES = 5  # rows named per skip reason
GONE_HERE = "used, revoked or removed here; never imported again"
USER_GONE_HERE = "removed here; never imported again"
# The old site's values of a user that a record keeps, to tell what changed there since.
USER_PROFILE = ("username", "name", "email", "blocked", "two_factor", "groups", "registered_at")

# progress(label, total) -> a context whose value advances the bar by n rows.
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


def no_progress(_label: str, _total: int) -> AbstractContextManager[Callable[[int], None]]:
    """A progress display that shows nothing."""
    return nullcontext(lambda _n: None)


@dataclass
class Tally:
    """One table's outcomes (imported, updated, unchanged, skipped, removed) and skip reasons."""

    counts: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, skip: Skip) -> None:
        """Count a skipped row under its reason, naming the row (a few per reason)."""
        self.counts["skipped"] += 1
        self.reasons[skip.reason] += 1
        named = self.examples.setdefault(skip.reason, [])
        if skip.detail and len(named) < EXAMPLES and skip.detail not in named:
            named.append(skip.detail)


@dataclass(frozen=True)
class OptionOutcome:
    """One redCORE option: what it maps to, the value here before, and what was done."""

    mapped: MappedOption
    before: object
    status: str  # "set", "unchanged", "refused", "not reproduced", "default"


@dataclass
class TimeNote:
    """Expiry times that fell on a change of offset: how many, and the first one seen."""

    count: int = 0
    example: tuple[datetime, datetime, str] | None = None  # (local, UTC, client_id)


@dataclass(frozen=True)
class UserChange:
    """What a run does (or would do) to one user: IMPORTED, UPDATED (``fields``), REMOVED or
    MISSING (kept here, gone from the old site); ``tokens`` revoked with a block or removal."""

    user_id: int
    username: str
    action: str
    fields: tuple[str, ...] = ()
    tokens: int = 0


@dataclass
class ImportReport:
    """Everything a run did (or, in a dry run, would do), for the summary."""

    write: bool
    tallies: dict[str, Tally] = field(default_factory=lambda: {name: Tally() for name in TABLES})
    client_sync: oauth.ClientSync | None = None
    scope_changes: list[str] = field(default_factory=list)
    options: list[OptionOutcome] = field(default_factory=list)
    options_problem: str = ""
    times: dict[str, TimeNote] = field(
        default_factory=lambda: {GAP: TimeNote(), OVERLAP: TimeNote()}
    )
    not_carried: dict[str, int] = field(default_factory=dict)
    user_changes: list[UserChange] = field(default_factory=list)
    users_problem: str = ""  # why the users were not read ("" when they were)
    forgotten: int = 0  # records of imported tokens past their expiry, removed after the run
    forget_problem: str = ""  # why they were not (the import itself is committed)


def run_import(
    session: Session,
    source: LegacySource,
    *,
    zone: ZoneInfo,
    write: bool,
    prune: bool,
    now: datetime,
    progress: Progress = no_progress,
    threads: int = THREADS,
) -> ImportReport:
    """Import everything in the caller's transaction (the caller commits or rolls back)."""
    report = ImportReport(write=write, not_carried=dict(source.counts_not_carried))
    registered = oauth.registered_clients(session)
    specs, skipped_ids = _read_clients(source, report.tallies["clients"], registered.keys())
    imported = set(session.scalars(select(_IMPORTED.c.client_id)))
    sync = oauth.sync_clients(
        session,
        specs,
        keep=skipped_ids | _registered_here(registered, imported),
        remove_missing=prune,
        write=write,
        threads=threads,
        now=now,
    )
    if write:
        _remember_imported(session, set(sync.pks.values()) - imported, now=now)
    report.client_sync = sync

    for change in sync.changes:
        if change.action != oauth.MISSING:
            report.tallies["clients"].counts[change.action] += 1
    _import_scopes(session, source, report, write=write, prune=prune, now=now)
    _import_users(session, source, report, write=write, prune=prune, now=now, progress=progress)
    _import_options(source, report, write=write, now=now)
    client_pks = {spec.client_id: sync.pks.get(spec.client_id) for spec in specs}
    for kind in TOKEN_TABLES:
        _import_tokens(
            session,
            source,
            kind,
            report,
            zone=zone,
            now=now,
            client_pks=client_pks,
            skipped_clients=skipped_ids,
            write=write,
            progress=progress,
        )
    return report


def _read_clients(
    source: LegacySource, tally: Tally, registered: Collection[str]
) -> tuple[list[oauth.ClientSpec], set[str]]:
    """The client rows as specs; the ids of rows that were skipped (kept here, not pruned)."""
    specs: dict[str, oauth.ClientSpec] = {}
    skipped: set[str] = set()
    for row in source.clients():
        mapped = map_client(row, registered)
        if isinstance(mapped, Skip):
            tally.skip(mapped)
            if isinstance(row.client_id, str) and row.client_id:
                skipped.add(row.client_id)
        elif mapped.client_id in specs:  # only where no unique key kept it out (not MySQL)
            tally.skip(Skip("duplicate client_id", mapped.client_id))
        else:
            specs[mapped.client_id] = mapped
    return list(specs.values()), skipped - specs.keys()


def _import_scopes(
    session: Session,
    source: LegacySource,
    report: ImportReport,
    *,
    write: bool,
    prune: bool,
    now: datetime,
) -> None:
    """The scopes table with its defaults. A scope an import brought over that the old site
    no longer has is kept, or removed on --prune; one made here is never the old site's."""
    tally = report.tallies["scopes"]
    wanted: dict[str, bool] = {}
    for row in source.scopes():
        mapped = map_scope(row)
        if isinstance(mapped, Skip):
            tally.skip(mapped)
            continue
        name, is_default = mapped
        if name in wanted:  # the table has no key; bshaffer took any default row as default
            tally.skip(Skip("duplicate row (merged)", name))
            wanted[name] = wanted[name] or is_default
        else:
            wanted[name] = is_default
    current = oauth.scope_defaults(session)
    ids = oauth.scope_ids(session)
    imported = set(session.scalars(select(_IMPORTED_SCOPES.c.scope_id)))
    for name, is_default in wanted.items():
        mark = " (default)" if is_default else ""
        if name not in current:
            tally.counts[oauth.IMPORTED] += 1
            report.scope_changes.append(f"add {name}{mark}")
        elif current[name] != is_default:
            tally.counts[oauth.UPDATED] += 1
            report.scope_changes.append(f"{name}: {'now' if is_default else 'no longer'} default")
        else:
            tally.counts[oauth.UNCHANGED] += 1
            continue
        if write:
            oauth.add_scope(session, name, is_default=is_default)
    for name in current:
        if name in wanted or ids[name] not in imported:
            continue
        if prune:
            tally.counts[oauth.REMOVED] += 1
            report.scope_changes.append(f"remove {name} (not on the old site)")
            if write:
                oauth.remove_scope(session, name)
        else:
            report.scope_changes.append(f"keep {name} (not on the old site; --prune removes it)")
    if write:
        _remember_imported_scopes(session, wanted, imported, now=now)


def _import_options(
    source: LegacySource, report: ImportReport, *, write: bool, now: datetime
) -> None:
    """The com_redcore options onto the plugin's enabled flag and params (validated)."""
    stored, problem = source.options()
    if stored is None:
        report.options_problem = problem
        return
    tally = report.tallies["options"]
    enabled, params = plugin_state(PLUGIN)
    updates: dict[str, Any] = {}
    new_enabled: bool | None = None
    for mapped in map_redcore_options(stored):
        before: object = None
        if mapped.param is None:
            status = "not reproduced" if mapped.non_default else "default"
            if mapped.non_default:
                tally.skip(Skip("no counterpart here, holds a non-default value", mapped.key))
        elif mapped.refused is not None:
            status = "refused"
            before = enabled if mapped.param == ENABLED else params[mapped.param]
            tally.skip(Skip("refused by the params schema", mapped.key or mapped.param))
        else:
            before = enabled if mapped.param == ENABLED else params[mapped.param]
            if before == mapped.value:
                status = "unchanged"
                tally.counts[oauth.UNCHANGED] += 1
            else:
                status = "set"
                tally.counts[oauth.UPDATED] += 1
                if mapped.param == ENABLED:
                    new_enabled = bool(mapped.value)
                else:
                    updates[mapped.param] = mapped.value
        report.options.append(OptionOutcome(mapped, before, status))
    if write and (updates or new_enabled is not None):
        set_plugin_state(PLUGIN, enabled=new_enabled, params=updates, now=now)


def _import_tokens(
    session: Session,
    source: LegacySource,
    kind: str,
    report: ImportReport,
    *,
    zone: ZoneInfo,
    now: datetime,
    client_pks: dict[str, int | None],
    skipped_clients: set[str],
    write: bool,
    progress: Progress,
) -> None:
    """One token table, streamed in batches: each batch mapped, compared and written."""
    tally = report.tallies[TOKEN_TALLIES[kind]]
    total = source.count(TOKEN_TABLES[kind])
    with progress(TOKEN_TALLIES[kind], total) as advance:
        for rows in source.token_batches(kind, BATCH):
            batch: list[MappedToken] = []
            for row in rows:
                mapped = map_token(
                    row,
                    kind,
                    zone=zone,
                    now=now,
                    client_pks=client_pks,
                    skipped_clients=skipped_clients,
                )
                if isinstance(mapped, Skip):
                    tally.skip(mapped)
                else:
                    batch.append(mapped)
            if batch:
                _sync_batch(session, kind, batch, report, tally, now=now, write=write)
            advance(len(rows))


def _sync_batch(
    session: Session,
    kind: str,
    batch: list[MappedToken],
    report: ImportReport,
    tally: Tally,
    *,
    now: datetime,
    write: bool,
) -> None:
    """One batch of tokens synced, except those imported before and gone here since; each
    recorded (a record's expiry follows the old site's when that moves later)."""
    hashes = [oauth.hash_token(mapped.token.raw) for mapped in batch]
    table = _IMPORTED_TOKENS
    recorded: dict[str, datetime] = dict(
        session.execute(
            select(table.c.token_hash, table.c.expires_at).where(
                table.c.kind == kind, table.c.token_hash.in_(set(hashes))
            )
        ).all()
    )
    not_again = set(recorded)
    if kind == "refresh":  # imported before this table existed, and used here since
        not_again |= oauth.used_refresh_hashes(session, set(hashes) - not_again)
    outcomes = oauth.sync_tokens(
        session, kind, [mapped.token for mapped in batch], write=write, now=now, not_again=not_again
    )
    new: list[dict] = []
    later: list[dict] = []
    for mapped, token_hash, outcome in zip(batch, hashes, outcomes, strict=True):
        if outcome == oauth.GONE:
            tally.skip(Skip(GONE_HERE, mapped.client_id))
        else:
            tally.counts[outcome] += 1
            _note_time(report, mapped)
        expires_at = mapped.token.expires_at
        if token_hash not in recorded:
            new.append({"kind": kind, "token_hash": token_hash, "expires_at": expires_at})
        elif recorded[token_hash] < expires_at:
            later.append({"b_hash": token_hash, "b_expires_at": expires_at})
    if write and new:
        session.execute(insert(table), new)
    if write and later:
        session.execute(
            update(table)
            .where(table.c.kind == kind, table.c.token_hash == bindparam("b_hash"))
            .values(expires_at=bindparam("b_expires_at")),
            later,
        )


def forget_expired(session: Session, *, now: datetime, write: bool) -> int:
    """Remove (``write=False``: count) the records of imported tokens past their expiry, in
    committed batches paced as ``flask tokens purge`` paces them: such a token is expired
    on the old site as well, and an import skips it."""
    table = _IMPORTED_TOKENS
    condition = table.c.expires_at < now.replace(microsecond=0)
    if not write:
        return session.scalar(select(func.count()).select_from(table).where(condition)) or 0
    return delete_in_batches(session, table, condition, purge_pacing())


def _note_time(report: ImportReport, mapped: MappedToken) -> None:
    if mapped.time_kind and mapped.local is not None:
        note = report.times[mapped.time_kind]
        note.count += 1
        if note.example is None:
            note.example = (mapped.local, mapped.token.expires_at, mapped.client_id)


def _registered_here(registered: dict[str, int], imported: set[int]) -> set[str]:
    """The clients no import brought over: registered here, so never the old site's to remove."""
    return {cid for cid, pk in registered.items() if pk not in imported}


def _remember_imported(session: Session, new: Iterable[int], *, now: datetime) -> None:
    """Record clients as brought over by an import (a removed one's row goes with its client)."""
    rows = [{"client_id": pk, "imported_at": now} for pk in sorted(new)]
    if rows:
        session.execute(insert(_IMPORTED), rows)


def _remember_imported_scopes(
    session: Session, names: Iterable[str], known: set[int], *, now: datetime
) -> None:
    """Record the old site's scopes as brought over (a removed one's row goes with it)."""
    session.flush()  # the scopes added in this run get their ids
    ids = oauth.scope_ids(session)
    rows = [
        {"scope_id": pk, "imported_at": now} for pk in sorted({ids[name] for name in names} - known)
    ]
    if rows:
        session.execute(insert(_IMPORTED_SCOPES), rows)


# --- users ---------------------------------------------------------------------------------


def _import_users(
    session: Session,
    source: LegacySource,
    report: ImportReport,
    *,
    write: bool,
    prune: bool,
    now: datetime,
    progress: Progress,
) -> None:
    """Joomla's users, streamed in batches, each merged with what is here (``_merge_user``).

    Users an import brought over that the old site no longer has are kept, or removed with
    their tokens on --prune; one made here is never the old site's.
    """
    if source.users_problem:
        report.users_problem = source.users_problem
        return
    tally = report.tallies["users"]
    groups = source.user_groups()
    recorded = set(session.scalars(select(_IMPORTED_USERS.c.user_id)))
    seen: set[int] = set()
    claimed: dict[str, int] = {}  # username keys taken by this run, by the old site's id
    with progress("users", source.count_users()) as advance:
        for rows in source.user_batches(BATCH):
            batch: list[oauth.UserImport] = []
            for row in rows:
                if isinstance(row.id, int):
                    seen.add(row.id)
                mapped = map_user(row, groups.get(row.id, ()))
                if isinstance(mapped, Skip):
                    tally.skip(mapped)
                    continue
                key = oauth.username_key(mapped.username)
                if claimed.setdefault(key, mapped.id) != mapped.id:
                    tally.skip(Skip("duplicate username", f"{mapped.id}: {mapped.username}"))
                    continue
                batch.append(mapped)
            if batch:
                _sync_users(session, batch, report, write=write, now=now)
            advance(len(rows))
    _users_gone(session, recorded - seen, report, write=write, prune=prune)
    changed = Counter(change.action for change in report.user_changes)
    if write and (changed[oauth.IMPORTED] or changed[oauth.UPDATED] or changed[oauth.REMOVED]):
        record_change(
            "oauth2.users.import",
            source.shown_url,
            after={
                "imported": changed[oauth.IMPORTED],
                "updated": changed[oauth.UPDATED],
                "removed": changed[oauth.REMOVED],
            },
        )


def _sync_users(
    session: Session,
    batch: list[oauth.UserImport],
    report: ImportReport,
    *,
    write: bool,
    now: datetime,
) -> None:
    """One batch of users: the new ones added (one executemany), the others merged."""
    tally = report.tallies["users"]
    ids = [user.id for user in batch]
    records = {
        row.user_id: row
        for row in session.execute(
            select(_IMPORTED_USERS).where(_IMPORTED_USERS.c.user_id.in_(ids))
        )
    }
    here = oauth.users_by_id(session, ids)
    owners = oauth.user_ids_by_key(session, [user.username for user in batch])
    creates: list[oauth.UserImport] = []
    new_records: list[dict[str, Any]] = []
    changed_records: list[dict[str, Any]] = []
    for user in batch:
        profile, digest = _profile(user), _digest(user.password_hash)
        record = records.get(user.id)
        mine = here.get(user.id)
        owner = owners.get(oauth.username_key(user.username))
        if mine is None:
            if record is not None:
                tally.skip(Skip(USER_GONE_HERE, f"{user.id}: {user.username}"))
                continue
            if owner is not None:
                tally.skip(
                    Skip("username taken here by another user", f"{user.id}: {user.username}")
                )
                continue
            creates.append(user)
            new_records.append(_record_row(user.id, profile, digest, now))
            tally.counts[oauth.IMPORTED] += 1
            report.user_changes.append(UserChange(user.id, user.username, oauth.IMPORTED))
            continue
        if record is None and oauth.username_key(mine.username) != oauth.username_key(
            user.username
        ):
            detail = f"{user.id}: {mine.username} here, {user.username} there"
            tally.skip(Skip("id taken here by another user", detail))
            continue
        changes = _merge_user(user, mine, record, profile, digest)
        if "username" in changes and owner not in (None, user.id):
            tally.skip(Skip("username taken here by another user", f"{user.id}: {user.username}"))
            continue
        tokens = 0
        if changes:
            tally.counts[oauth.UPDATED] += 1
            if write:
                oauth.update_user(session, user.id, changes, now=now)
                if changes.get("blocked") is True:
                    tokens = oauth.revoke_user_tokens(session, user.id)
            report.user_changes.append(
                UserChange(user.id, user.username, oauth.UPDATED, tuple(changes), tokens)
            )
        else:
            tally.counts[oauth.UNCHANGED] += 1
        if record is None:
            new_records.append(_record_row(user.id, profile, digest, now))
        elif record.password_digest != digest or json.loads(record.profile) != profile:
            changed_records.append(
                {"b_user_id": user.id, "b_digest": digest, "b_profile": _json(profile)}
            )
    if not write:
        return
    oauth.add_users(session, creates, now=now)
    if new_records:
        session.execute(insert(_IMPORTED_USERS), new_records)
    if changed_records:
        session.execute(
            update(_IMPORTED_USERS)
            .where(_IMPORTED_USERS.c.user_id == bindparam("b_user_id"))
            .values(password_digest=bindparam("b_digest"), profile=bindparam("b_profile")),
            changed_records,
        )


def _merge_user(
    user: oauth.UserImport,
    mine: oauth.UserRecord,
    record: Any,
    profile: dict[str, Any],
    digest: str,
) -> dict[str, Any]:
    """The changes to make here: each value that changed on the old site since the last
    import (all of them when there was none) and differs here; the password hash when the
    old site's changed; the last visit when the old site's is later."""
    last = {} if record is None else json.loads(record.profile)
    ours = _profile_of(mine)
    changes: dict[str, Any] = {}
    for name in USER_PROFILE:
        if (record is None or last.get(name) != profile[name]) and ours[name] != profile[name]:
            changes[name] = getattr(user, name)
    if record is None or record.password_digest != digest:
        changes["password_hash"] = user.password_hash
    if user.last_visit_at is not None and (
        mine.last_visit_at is None or user.last_visit_at > mine.last_visit_at
    ):
        changes["last_visit_at"] = user.last_visit_at
    return changes


def _users_gone(
    session: Session, ids: set[int], report: ImportReport, *, write: bool, prune: bool
) -> None:
    """Users an import brought over that the old site no longer has: kept, or removed with
    their tokens on --prune. A record whose user is gone from both sides is dropped."""
    here = oauth.users_by_id(session, ids)
    tally = report.tallies["users"]
    for user_id in sorted(ids):
        user = here.get(user_id)
        if user is None:
            continue
        if prune:
            tally.counts[oauth.REMOVED] += 1
            tokens = oauth.remove_users(session, [user_id]) if write else 0
            report.user_changes.append(
                UserChange(user_id, user.username, oauth.REMOVED, (), tokens)
            )
        else:
            report.user_changes.append(UserChange(user_id, user.username, oauth.MISSING))
    forget = sorted(ids - here.keys()) + (sorted(here) if prune else [])
    if write:
        for start in range(0, len(forget), BATCH):
            session.execute(
                delete(_IMPORTED_USERS).where(
                    _IMPORTED_USERS.c.user_id.in_(forget[start : start + BATCH])
                )
            )


def _profile(user: oauth.UserImport) -> dict[str, Any]:
    """The old site's values a record keeps, as JSON-able values."""
    return {
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "blocked": user.blocked,
        "two_factor": user.two_factor,
        "groups": list(user.groups),
        "registered_at": _iso(user.registered_at),
    }


def _profile_of(user: oauth.UserRecord) -> dict[str, Any]:
    """The same values of a user here."""
    return {
        "username": user.username,
        "name": user.name,
        "email": user.email,
        "blocked": user.blocked,
        "two_factor": user.two_factor,
        "groups": list(user.groups),
        "registered_at": _iso(user.registered_at),
    }


def _digest(password_hash: str | None) -> str:
    """What a record keeps of the old site's password hash: its SHA-256."""
    return hashlib.sha256((password_hash or "").encode("utf-8", "surrogatepass")).hexdigest()


def _record_row(user_id: int, profile: dict[str, Any], digest: str, now: datetime) -> dict:
    return {
        "user_id": user_id,
        "password_digest": digest,
        "profile": _json(profile),
        "imported_at": now,
    }


def _json(values: dict[str, Any]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(sep=" ")
