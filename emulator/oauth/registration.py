"""Admin writes to the client registry (the CLI's and an import's): register, sync, remove.

Request paths never write here; they read clients through ``clients.ClientStore``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from emulator.oauth.clients import check_secrets
from emulator.oauth.clients import find_client
from emulator.oauth.clients import hash_secret
from emulator.oauth.clients import hash_secrets
from emulator.oauth.grants import GRANTS
from emulator.oauth.scopes import validate_scope
from emulator.oauth.text import validate_plain_text
from emulator.oauth.tokens import IMPORTED
from emulator.oauth.tokens import UNCHANGED
from emulator.oauth.tokens import UPDATED
from emulator.storage.models import AccessToken
from emulator.storage.models import Client
from emulator.storage.models import RefreshToken
from emulator.storage.models import UsedRefreshToken

_CLIENTS = Client.__table__
_TOKEN_TABLES = (AccessToken.__table__, RefreshToken.__table__, UsedRefreshToken.__table__)
# A grant type name as RFC 6749 §4.5 allows it: a name or an absolute URI, no spaces.
_GRANT_NAME = re.compile(r"[!#-\[\]-~]+")
# Rows per statement where a list of ids goes into IN (...) (SQLite's bound-parameter limit).
CHUNK = 1000

# What a sync did to a client (IMPORTED, UPDATED, UNCHANGED: as for tokens), and:
MISSING = "missing"  # registered here, not among the wanted clients: kept
REMOVED = "removed"  # registered here, not among the wanted clients: removed


@dataclass(frozen=True)
class ClientSpec:
    """A client as it should be registered; ``secret`` in plain text, None for a public client.

    ``grant_types``: None allows every grant, "" none (bshaffer's rule), else space-separated.
    """

    client_id: str
    secret: str | None
    scope: str | None = None
    grant_types: str | None = None
    redirect_uri: str = ""
    user_id: str | None = None


def check_client_spec(spec: ClientSpec, *, other_grant_types: bool = False) -> ClientSpec:
    """Return the spec as stored (normalized), or raise ValueError saying what is wrong.

    ``other_grant_types``: keep grant type names no grant here serves (a client carried over
    from a server that had more grants), instead of refusing them; they allow nothing here.
    """
    for what, text in (
        ("client_id", spec.client_id),
        ("The secret", spec.secret),
        ("The scope", spec.scope),
        ("The grant types", spec.grant_types),
        ("user_id", spec.user_id),
        ("redirect_uri", spec.redirect_uri),
    ):
        if text is not None:
            validate_plain_text(text, what)
    client_id = spec.client_id
    if not client_id or len(client_id) > 80 or client_id != client_id.strip():
        raise ValueError("client_id must be 1 to 80 characters without leading or trailing spaces.")
    if spec.secret is not None and spec.secret == "":
        raise ValueError("An empty secret is not a secret; use --public for a public client.")
    if spec.scope is not None:
        validate_scope(spec.scope)
    if spec.user_id is not None and len(spec.user_id) > 80:
        raise ValueError("user_id must be at most 80 characters.")
    if len(spec.redirect_uri) > 2000:
        raise ValueError("redirect_uri must be at most 2000 characters.")
    grant_types = spec.grant_types
    if grant_types is not None:
        grant_types = normalize_grant_types(grant_types, other_grant_types=other_grant_types)
    return replace(spec, scope=spec.scope or None, grant_types=grant_types)


def check_new_client_id(client_id: str) -> None:
    """Raise ValueError when ``client_id`` may not be given to a new client: one holding a
    ``/`` or ``\\``, or that is ``.`` or ``..``.

    An id is a path segment of the admin pages' URLs: ``../../admin/clients/good`` made a
    link that a browser resolves to another client's page (issue 20). Clients stored
    before keep their ids (``update_client`` does not ask).
    """
    if "/" in client_id or "\\" in client_id or client_id in (".", ".."):
        raise ValueError(
            f"client_id {client_id!r} may not hold '/' or '\\', nor be '.' or '..' "
            "(it is part of the admin pages' addresses)."
        )


def register_client(session: Session, spec: ClientSpec, *, now: datetime) -> Client:
    """Register a client as ``spec`` says (``secret=None``: a public client). Raises
    ValueError on bad input or an id that is taken."""
    spec = check_client_spec(spec)
    check_new_client_id(spec.client_id)
    if find_client(session, spec.client_id) is not None:
        raise ValueError(f"A client {spec.client_id!r} already exists.")
    client = Client(
        client_id=spec.client_id,
        secret_hash=None if spec.secret is None else hash_secret(spec.secret),
        scope=spec.scope,
        grant_types=spec.grant_types,
        redirect_uri=spec.redirect_uri,
        user_id=spec.user_id,
        created_at=now,
    )
    session.add(client)
    return client


def normalize_grant_types(grant_types: str, *, other_grant_types: bool = False) -> str:
    """Grant types as stored: known names, single spaces ("" = none). Raises ValueError.

    ``other_grant_types`` keeps well-formed names of grants not served here.
    """
    names = grant_types.split()
    if other_grant_types:
        unknown = [name for name in names if not _GRANT_NAME.fullmatch(name)]
        if unknown:
            raise ValueError(f"Malformed grant type(s): {' '.join(map(repr, unknown))}.")
    else:
        unknown = [name for name in names if name not in GRANTS]
        if unknown:
            raise ValueError(
                f"Unknown grant type(s): {' '.join(unknown)}. Known: {' '.join(GRANTS)}."
            )
    normalized = " ".join(names)
    if len(normalized) > 80:
        raise ValueError("The grant types must be at most 80 characters.")
    return normalized


# --- syncing the registry with a list of wanted clients (an import) ------------------------


@dataclass(frozen=True)
class ClientChange:
    """What a sync does (or would do) to one client: ``action`` and the fields that differ.

    ``fields`` names columns (``secret``, ``scope``, ``grant_types``, ``redirect_uri``,
    ``user_id``); ``tokens`` counts the tokens that go with a removed client.
    """

    client_id: str
    action: str
    fields: tuple[str, ...] = ()
    tokens: int = 0


@dataclass(frozen=True)
class ClientSync:
    """The outcome of ``sync_clients``: one change per client, and the cost of the secrets."""

    changes: tuple[ClientChange, ...]
    # client_id -> primary key of every wanted client that exists after the sync (in a dry
    # run: those that existed before it).
    pks: dict[str, int]
    secrets_checked: int
    check_seconds: float
    secrets_hashed: int
    hash_seconds: float


def sync_clients(
    session: Session,
    specs: Sequence[ClientSpec],
    *,
    keep: Collection[str] = (),
    remove_missing: bool = False,
    write: bool = True,
    threads: int = 1,
    now: datetime,
) -> ClientSync:
    """Make the registry hold ``specs`` (already checked with ``check_client_spec``).

    A client that is not registered is created; one that differs is updated. Whether a
    stored secret is still the wanted one is verified against its hash (a full argon2
    check each, on ``threads`` threads), and a changed secret is hashed anew; an unchanged
    secret keeps its hash. Registered clients that no spec names and ``keep`` does not
    list are reported ``missing``, or removed with their tokens when ``remove_missing``.
    With ``write=False`` nothing is written (and nothing hashed): the changes say what a
    sync would do. The slow work (verifying, hashing) is done before the first write, so
    a writer lock is not held meanwhile.
    """
    wanted = {spec.client_id: spec for spec in specs}
    if len(wanted) != len(specs):
        raise ValueError("Two specs name the same client_id.")
    stored = {
        row.client_id: row
        for row in session.execute(
            select(
                _CLIENTS.c.id,
                _CLIENTS.c.client_id,
                _CLIENTS.c.secret_hash,
                _CLIENTS.c.scope,
                _CLIENTS.c.grant_types,
                _CLIENTS.c.redirect_uri,
                _CLIENTS.c.user_id,
            )
        )
    }
    # Secrets: verify each stored hash against the wanted secret, all at once, in threads.
    to_check = [
        client_id
        for client_id, spec in wanted.items()
        if client_id in stored and spec.secret is not None and stored[client_id].secret_hash
    ]
    started = time.perf_counter()
    matches = check_secrets(
        [(stored[c].secret_hash, wanted[c].secret) for c in to_check], threads=threads
    )
    check_seconds = time.perf_counter() - started
    secret_same = dict(zip(to_check, matches, strict=True))

    changes: list[ClientChange] = []
    creates: list[ClientSpec] = []
    updates: list[tuple[int, ClientSpec, bool]] = []  # (pk, spec, secret changed)
    for client_id, spec in wanted.items():
        row = stored.get(client_id)
        if row is None:
            creates.append(spec)
            changes.append(ClientChange(client_id, IMPORTED))
            continue
        differs = []
        if spec.secret is None:
            if row.secret_hash is not None:
                differs.append("secret")
        elif not secret_same.get(client_id, False):
            differs.append("secret")
        for column in ("scope", "grant_types", "redirect_uri", "user_id"):
            ours = getattr(row, column)
            if column == "scope":
                ours = ours or None
            if ours != getattr(spec, column):
                differs.append(column)
        if differs:
            updates.append((row.id, spec, "secret" in differs))
            changes.append(ClientChange(client_id, UPDATED, tuple(differs)))
        else:
            changes.append(ClientChange(client_id, UNCHANGED))
    kept = set(keep) | wanted.keys()
    gone = [row for client_id, row in stored.items() if client_id not in kept]
    gone_tokens = _count_tokens(session, [row.id for row in gone])
    for row in sorted(gone, key=lambda r: r.client_id):
        changes.append(
            ClientChange(
                row.client_id, REMOVED if remove_missing else MISSING, tokens=gone_tokens[row.id]
            )
        )

    pks = {client_id: stored[client_id].id for client_id in wanted if client_id in stored}
    to_hash = [spec for spec in creates if spec.secret is not None]
    to_hash += [spec for _pk, spec, secret_changed in updates if secret_changed and spec.secret]
    hash_seconds = 0.0
    if write:
        started = time.perf_counter()
        hashes = dict(
            zip(
                [spec.client_id for spec in to_hash],
                hash_secrets([spec.secret for spec in to_hash], threads=threads),
                strict=True,
            )
        )
        hash_seconds = time.perf_counter() - started
        _write(session, creates, updates, stored, hashes, now)
        if remove_missing and gone:
            _remove(session, [row.id for row in gone])
        pks.update(_pks(session, [spec.client_id for spec in creates]))
    return ClientSync(
        changes=tuple(changes),
        pks=pks,
        secrets_checked=len(to_check),
        check_seconds=check_seconds,
        secrets_hashed=len(to_hash) if write else 0,
        hash_seconds=hash_seconds,
    )


def _write(
    session: Session,
    creates: Sequence[ClientSpec],
    updates: Sequence[tuple[int, ClientSpec, bool]],
    stored: dict,
    hashes: dict[str, str],
    now: datetime,
) -> None:
    """Insert and update clients with one executemany each."""
    if creates:
        session.execute(
            insert(_CLIENTS),
            [
                {
                    "client_id": spec.client_id,
                    "secret_hash": hashes.get(spec.client_id),
                    "scope": spec.scope,
                    "grant_types": spec.grant_types,
                    "redirect_uri": spec.redirect_uri,
                    "user_id": spec.user_id,
                    "created_at": now,
                }
                for spec in creates
            ],
        )
    if updates:
        session.execute(
            update(_CLIENTS)
            .where(_CLIENTS.c.id == bindparam("pk"))
            .values(
                secret_hash=bindparam("new_secret_hash"),
                scope=bindparam("new_scope"),
                grant_types=bindparam("new_grant_types"),
                redirect_uri=bindparam("new_redirect_uri"),
                user_id=bindparam("new_user_id"),
            ),
            [
                {
                    "pk": pk,
                    "new_secret_hash": (
                        None
                        if spec.secret is None
                        else hashes[spec.client_id]
                        if secret_changed
                        else stored[spec.client_id].secret_hash
                    ),
                    "new_scope": spec.scope,
                    "new_grant_types": spec.grant_types,
                    "new_redirect_uri": spec.redirect_uri,
                    "new_user_id": spec.user_id,
                }
                for pk, spec, secret_changed in updates
            ],
        )


def _count_tokens(session: Session, pks: Sequence[int]) -> dict[int, int]:
    """How many access and refresh tokens each of these clients holds."""
    counts = dict.fromkeys(pks, 0)
    for table in _TOKEN_TABLES[:2]:
        for start in range(0, len(pks), CHUNK):
            rows = session.execute(
                select(table.c.client_id, func.count())
                .where(table.c.client_id.in_(pks[start : start + CHUNK]))
                .group_by(table.c.client_id)
            )
            for client_pk, count in rows:
                counts[client_pk] += count
    return counts


def _remove(session: Session, pks: Sequence[int]) -> None:
    """Delete clients and every token of theirs (rows of plugins go by their foreign keys)."""
    for start in range(0, len(pks), CHUNK):
        chunk = pks[start : start + CHUNK]
        for table in _TOKEN_TABLES:
            session.execute(delete(table).where(table.c.client_id.in_(chunk)))
        session.execute(delete(_CLIENTS).where(_CLIENTS.c.id.in_(chunk)))


def registered_clients(session: Session) -> dict[str, int]:
    """Every registered client's primary key, by client id."""
    return {cid: pk for cid, pk in session.execute(select(_CLIENTS.c.client_id, _CLIENTS.c.id))}


def _pks(session: Session, client_ids: Sequence[str]) -> dict[str, int]:
    """The primary keys of these clients."""
    found: dict[str, int] = {}
    for start in range(0, len(client_ids), CHUNK):
        rows = session.execute(
            select(_CLIENTS.c.client_id, _CLIENTS.c.id).where(
                _CLIENTS.c.client_id.in_(client_ids[start : start + CHUNK])
            )
        )
        found.update({client_id: pk for client_id, pk in rows})
    return found


# --- admin changes to one client (emulator/manage/actions.py audits them) ----------------

# The longest grace a rotated-out secret may get: a rotation is for a leak, not a second secret.
MAX_SECRET_GRACE = timedelta(days=30)


def update_client(
    client: Client,
    *,
    scope: str | None | object = MISSING,
    grant_types: str | None | object = MISSING,
    redirect_uri: str | None | object = MISSING,
    user_id: str | None | object = MISSING,
) -> dict[str, tuple[object, object]]:
    """Change a client's fields; ``MISSING`` (this module's, by identity) leaves one as is.

    ``None`` or "" clears: no scope, no user id, no redirect URI; ``grant_types=None``
    allows every grant again and "" none (bshaffer's rule). Every value is checked first
    (``check_client_spec``), so a refused one raises ValueError with nothing changed.
    Returns ``{field: (before, after)}`` of the fields that changed.
    """
    wanted = {
        "scope": client.scope if scope is MISSING else (scope or None),
        "grant_types": client.grant_types if grant_types is MISSING else grant_types,
        "redirect_uri": client.redirect_uri if redirect_uri is MISSING else (redirect_uri or ""),
        "user_id": client.user_id if user_id is MISSING else (user_id or None),
    }
    spec = check_client_spec(ClientSpec(client_id=client.client_id, secret=None, **wanted))
    changed = {}
    for field in wanted:
        before, after = getattr(client, field), getattr(spec, field)
        if field == "scope":
            before = before or None
        if before != after:
            changed[field] = (before, after)
            setattr(client, field, after)
    return changed


def rotate_secret(
    client: Client, secret: str, *, grace: timedelta, now: datetime
) -> datetime | None:
    """Give a confidential client a new secret; the old one works until ``now + grace``.

    With ``grace`` 0 the old secret stops at once; a previous secret still in its grace
    stops too (only the last one is kept). Returns when the old one stops (None: now).
    The new secret is hashed before anything is written. Raises ValueError on bad input.
    """
    if client.is_public:
        raise ValueError(f"Client {client.client_id!r} is public: it has no secret to rotate.")
    validate_plain_text(secret, "The secret")
    if not secret:
        raise ValueError("An empty secret is not a secret.")
    if grace < timedelta(0) or grace > MAX_SECRET_GRACE:
        raise ValueError(f"The grace period must be 0 to {MAX_SECRET_GRACE.days} days.")
    new_hash = hash_secret(secret)
    until = now + grace if grace else None
    client.previous_secret_hash = client.secret_hash if until is not None else None
    client.previous_secret_until = until
    client.secret_hash = new_hash
    return until


def set_client_disabled(client: Client, disabled: bool) -> bool:
    """Disable or enable a client; return whether that changed anything.

    A disabled client is an unknown one on the wire: its credentials and its tokens are
    refused (every worker within its caches' max age); its tokens work again once enabled.
    """
    if client.disabled == disabled:
        return False
    client.disabled = disabled
    return True


def remove_client(session: Session, client_pk: int) -> int:
    """Delete a client with every token of its; return how many access and refresh tokens went.

    A plugin's rows about the client go by their foreign keys (ON DELETE CASCADE).
    """
    tokens = _count_tokens(session, [client_pk])[client_pk]
    _remove(session, [client_pk])
    return tokens
