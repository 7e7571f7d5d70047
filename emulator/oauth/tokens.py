"""Access and refresh tokens: generate, hash, issue, verify, revoke, introspect, import, purge.

Imports come one by one (``import_token``, the CLI) or in batches by hash (``sync_tokens``).

A token is 40 lowercase hex characters (redCORE's shape; clients and legacy databases size
their columns for it) and is stored only as its SHA-256: tokens are random, so a fast hash
is enough, and a stolen database holds no usable token.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import BindParameter
from sqlalchemy import Executable
from sqlalchemy import Row
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import false
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from emulator.oauth.clients import ClientRecord
from emulator.oauth.errors import ExpiredToken
from emulator.oauth.errors import InsufficientScope
from emulator.oauth.errors import InvalidToken
from emulator.oauth.scopes import check_scope
from emulator.oauth.scopes import check_scope_any
from emulator.oauth.scopes import validate_scope
from emulator.oauth.text import validate_plain_text
from emulator.storage.cache import WorkerCache
from emulator.storage.models import AccessToken
from emulator.storage.models import AuthorizationCode
from emulator.storage.models import Client
from emulator.storage.models import RefreshToken
from emulator.storage.models import UsedRefreshToken
from emulator.storage.prepared import Prepared
from emulator.storage.prepared import PreparedWrites
from emulator.storage.purge import PurgePacing
from emulator.storage.purge import delete_in_batches
from emulator.storage.schema import DbHandle

TOKEN_TYPE = "Bearer"

_ACCESS = AccessToken.__table__
_REFRESH = RefreshToken.__table__
_CODES = AuthorizationCode.__table__
_CLIENTS = Client.__table__
# What a token request may use up, by name: the table and the column its hash is in.
_CONSUMED = {"refresh": (_REFRESH, _REFRESH.c.token_hash), "code": (_CODES, _CODES.c.code_hash)}


# The request path's statements, each compiled once per dialect (storage.prepared.Prepared).
_VERIFY_ACCESS = Prepared(
    select(
        _ACCESS.c.client_id,
        _CLIENTS.c.client_id.label("client_key"),
        _ACCESS.c.user_id,
        _ACCESS.c.scope,
        _ACCESS.c.issued_at,
        _ACCESS.c.expires_at,
    )
    .join(_CLIENTS, _CLIENTS.c.id == _ACCESS.c.client_id)
    # A disabled client's tokens are unknown tokens (they work again once it is enabled).
    .where(_ACCESS.c.token_hash == bindparam("token_hash"), _CLIENTS.c.disabled == false())
)
_DELETE_REFRESH = Prepared(delete(_REFRESH).where(_REFRESH.c.token_hash == bindparam("token_hash")))
_DELETE_ACCESS = delete(_ACCESS).where(_ACCESS.c.token_hash == bindparam("token_hash"))
# What revocation and introspection need of a token, in either table.
_FIND_OWN = {
    table: select(
        table.c.client_id,
        table.c.user_id,
        table.c.scope,
        table.c.issued_at,
        table.c.expires_at,
    ).where(table.c.token_hash == bindparam("token_hash"))
    for table in (_ACCESS, _REFRESH)
}

# Access tokens this worker verified recently, by hash: a client checks the same token at a
# resource again and again, and the cache spares those checks a query. Expiry is still
# checked exactly on every use. A token revoked through this worker leaves it at once;
# other workers notice within the cache's max_age (RFC 7009 §2.1 allows such a delay).
AccessTokenCache = WorkerCache[str, Row]
_FIND_REFRESH = Prepared(
    select(
        _REFRESH.c.token_hash,
        _REFRESH.c.client_id,
        _REFRESH.c.user_id,
        _REFRESH.c.scope,
        _REFRESH.c.expires_at,
        _REFRESH.c.family_hash,
    ).where(_REFRESH.c.token_hash == bindparam("token_hash"))
)
_USED = UsedRefreshToken.__table__
_FIND_USED = select(_USED.c.client_id, _USED.c.family_hash).where(
    _USED.c.token_hash == bindparam("token_hash")
)


def generate_token() -> str:
    """Return a new random token: 160 bits as 40 lowercase hex characters."""
    return secrets.token_hex(20)


def hash_token(raw: str) -> str:
    """Return the key a token is stored under."""
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def is_expired(expires_at: datetime, now: datetime) -> bool:
    """Return whether a token is past its expiry (valid through its last second, as in PHP)."""
    return now.replace(microsecond=0) > expires_at


@dataclass(frozen=True)
class IssuedToken:
    """What a grant hands out; the dialect renders it."""

    access_token: str
    token_type: str
    expires_in: int
    scope: str | None
    refresh_token: str | None
    issued_at: datetime
    expires_at: datetime
    client_id: str
    client_pk: int  # the client's row, for a dialect that keeps more about the client
    user_id: str | None


@dataclass(frozen=True)
class TokenInfo:
    """What a verified access token says about its holder."""

    client_pk: int  # Client.id; the resource path does not need the client row
    client_id: str  # the client's public id, for a dialect that tells a backend who called
    user_id: str | None
    scope: str | None
    issued_at: datetime
    expires_at: datetime


# A token request's writes, by what it writes: (uses up a refresh token, remembers it as
# used, issues a refresh token). Each value is a parameter of the request's one mapping.
_TOKEN_VALUES = {"client_id": "client_id", "user_id": "user_id", "scope": "scope"}
_ACCESS_VALUES = {
    **_TOKEN_VALUES,
    "token_hash": "access_hash",
    "issued_at": "issued_at",
    "expires_at": "access_expires_at",
    "refresh_token_hash": "linked_hash",
}
_REFRESH_VALUES = {
    **_TOKEN_VALUES,
    "token_hash": "refresh_hash",
    "issued_at": "issued_at",
    "expires_at": "refresh_expires_at",
    "family_hash": "family_hash",
}
_USED_VALUES = {
    "token_hash": "used_hash",
    "client_id": "used_client_id",
    "family_hash": "used_family_hash",
    "expires_at": "used_expires_at",
}


def _bound(table: Table, values: dict[str, str]) -> dict[str, BindParameter]:
    """Each column's parameter, typed as the column (a CTE's SELECT list needs the type)."""
    return {column: bindparam(name, type_=table.c[column].type) for column, name in values.items()}


@functools.cache
def _token_writes(*, consume: str | None, remember: bool, refresh: bool) -> PreparedWrites:
    """The statements that store a token request's tokens, in the order that keeps the
    exactly-once rule: the used refresh token's or code's DELETE (``consume``: which table)
    first, and nothing else when it found nothing (another request used it). On
    PostgreSQL they are one statement, the DELETE's RETURNING feeding the INSERTs (none
    of them write when it found nothing)."""
    tables = [(_ACCESS, _ACCESS_VALUES)]
    if refresh:
        tables.insert(0, (_REFRESH, _REFRESH_VALUES))
    if remember:
        tables.insert(0, (_USED, _USED_VALUES))
    statements: list[Executable] = [insert(t).values(_bound(t, v)) for t, v in tables]
    if consume is not None:
        table, key = _CONSUMED[consume]
        used = key == bindparam("used_hash", type_=key.type)
        statements.insert(0, delete(table).where(used))
        # WITH used AS (DELETE ... RETURNING), kept AS (INSERT ... SELECT ... FROM used), ...
        # INSERT INTO oauth_access_tokens SELECT ... FROM used
        gone = delete(table).where(used).returning(key).cte("used")
        inserts = [
            insert(t).from_select(list(v), select(*_bound(t, v).values()).select_from(gone))
            for t, v in tables
        ]
    elif refresh:
        # WITH issued AS (INSERT INTO oauth_refresh_tokens ...) INSERT INTO oauth_access_tokens ...
        inserts = statements[:]
    else:
        return PreparedWrites(*statements)
    combined = inserts[-1]
    for number, cte in enumerate(inserts[:-1]):
        combined = combined.add_cte(cte.cte(f"written_{number}"))
    if consume is not None:
        combined = combined.add_cte(gone)
    return PreparedWrites(*statements, combined=combined)


def issue_tokens(
    db: DbHandle,
    client: ClientRecord,
    *,
    user_id: str | None,
    scope: str | None,
    access_lifetime: int,
    refresh_lifetime: int | None,
    linked_refresh_hash: str | None = None,
    family_hash: str | None = None,
    consume: str | None = None,
    consume_code: str | None = None,
    remember: UsedToken | None = None,
    access_token_factory: Callable[[], str] = generate_token,
    refresh_token_factory: Callable[[], str] = generate_token,
    now: datetime,
) -> IssuedToken | None:
    """Store a new access token (and a refresh token when ``refresh_lifetime`` is given).

    ``family_hash`` is the chain a new refresh token continues (None: it starts one).

    ``consume``: the hash of a refresh token to use up in the same write (``consume_code``:
    of an authorization code). Its DELETE's row count is the lock: of N concurrent uses,
    exactly one deletes the row and issues; the others get None and write nothing. With
    ``remember``, the used refresh token is kept in the used table until it would have
    expired, so that a later reuse is recognised.

    ``now`` keeps its microseconds: a dialect may print the issue time in milliseconds.
    """
    access_raw = access_token_factory()
    refresh_raw = refresh_token_factory() if refresh_lifetime is not None else None
    expires_at = now + timedelta(seconds=access_lifetime)
    params = {
        "client_id": client.id,
        "user_id": user_id,
        "scope": scope,
        "issued_at": now,
        "access_hash": hash_token(access_raw),
        "access_expires_at": expires_at,
    }
    if refresh_raw is not None:
        linked_refresh_hash = params["refresh_hash"] = hash_token(refresh_raw)
        params["refresh_expires_at"] = now + timedelta(seconds=refresh_lifetime)
        params["family_hash"] = family_hash
    params["linked_hash"] = linked_refresh_hash
    if consume is not None and consume_code is not None:
        raise ValueError("One request uses up a refresh token or a code, not both.")
    consumed = "refresh" if consume is not None else "code" if consume_code is not None else None
    if consumed is not None:
        params["used_hash"] = consume if consume is not None else consume_code
    if remember is not None:
        if consume is None:
            raise ValueError("Only a refresh token used up (consume) is remembered.")
        params["used_client_id"] = remember.client_pk
        params["used_family_hash"] = remember.family_hash
        params["used_expires_at"] = remember.expires_at
    writes = _token_writes(
        consume=consumed, remember=remember is not None, refresh=refresh_raw is not None
    )
    # Core statements, not the ORM: its unit of work costs more than the inserts themselves.
    if writes.rowcount(db, params) == 0:
        return None
    return IssuedToken(
        access_token=access_raw,
        token_type=TOKEN_TYPE,
        expires_in=access_lifetime,
        scope=scope,
        refresh_token=refresh_raw,
        issued_at=now,
        expires_at=expires_at,
        client_id=client.client_id,
        client_pk=client.id,
        user_id=user_id,
    )


def verify_access_token(
    db: DbHandle | Callable[[], DbHandle],
    raw: str,
    *,
    required_scope: str | None = None,
    any_scope: bool = False,
    now: datetime,
    cache: AccessTokenCache | None = None,
) -> TokenInfo:
    """Return what a valid access token grants, or raise (RFC 6750 §3.1, bshaffer's order).

    ``required_scope``: every listed scope must be held (``any_scope``: at least one of
    them, for dialects that check any-of); a token without scope holds none.
    ``db`` may be a function that gives the handle: it is called only when ``cache``
    cannot answer, so a request the cache answers takes no connection from the pool.
    """
    token_hash = hash_token(raw)
    row = cache.get(token_hash) if cache is not None else None
    if row is None:
        handle = db if hasattr(db, "execute") else db()  # a handle, or what gives one
        row = _VERIFY_ACCESS.first(handle, {"token_hash": token_hash})
        if row is not None and cache is not None:
            cache.put(token_hash, row)
    if row is None:
        raise InvalidToken(reason="unknown")
    if is_expired(row.expires_at, now):
        raise ExpiredToken(reason="expired")
    holds = check_scope_any if any_scope else check_scope
    if required_scope and not (row.scope and holds(required_scope, row.scope)):
        raise InsufficientScope(reason="scope_not_held", scope=required_scope)
    return TokenInfo(
        client_pk=row.client_id,
        client_id=row.client_key,
        user_id=row.user_id,
        scope=row.scope,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
    )


def find_refresh_token(db: DbHandle, raw: str) -> Row | None:
    """Return the stored refresh token's row (hash, client, user, scope, expiry), or None."""
    return _FIND_REFRESH.first(db, {"token_hash": hash_token(raw)})


@dataclass(frozen=True)
class UsedToken:
    """What is remembered of a used-up refresh token (for reuse detection)."""

    client_pk: int
    family_hash: str
    expires_at: datetime


def find_used_refresh_token(db: DbHandle, raw: str) -> Row | None:
    """The used-up refresh token with this value (client, family), or None."""
    return db.execute(_FIND_USED, {"token_hash": hash_token(raw)}).first()


def revoke_family(
    db: DbHandle, client: ClientRecord, family_hash: str, *, cache: AccessTokenCache | None
) -> int:
    """End every token of a refresh-token chain of this client (RFC 6819 §5.2.2.3).

    The chain's live and used refresh tokens go, and every access token issued with or
    obtained by any of them. Returns how many access tokens ended.
    """
    live = select(_REFRESH.c.token_hash).where(
        _REFRESH.c.client_id == client.id,
        (_REFRESH.c.family_hash == family_hash) | (_REFRESH.c.token_hash == family_hash),
    )
    used = select(_USED.c.token_hash).where(
        _USED.c.client_id == client.id, _USED.c.family_hash == family_hash
    )
    hashes = set(db.scalars(live)) | set(db.scalars(used))
    if not hashes:
        return 0
    ended = _delete_linked_access(db, client, hashes, cache)
    db.execute(delete(_REFRESH).where(_REFRESH.c.token_hash.in_(hashes)))
    db.execute(delete(_USED).where(_USED.c.token_hash.in_(hashes)))
    return ended


def _delete_linked_access(
    db: DbHandle, client: ClientRecord, refresh_hashes: set[str], cache: AccessTokenCache | None
) -> int:
    """Delete the client's access tokens linked to these refresh tokens; forget them here."""
    linked = db.scalars(
        select(_ACCESS.c.token_hash).where(
            _ACCESS.c.client_id == client.id, _ACCESS.c.refresh_token_hash.in_(refresh_hashes)
        )
    ).all()
    if linked:
        db.execute(delete(_ACCESS).where(_ACCESS.c.token_hash.in_(linked)))
        if cache is not None:
            for token_hash in linked:
                cache.forget(token_hash)
    return len(linked)


def _find_own(
    db: DbHandle, client: ClientRecord, token_hash: str, hint: str | None
) -> tuple[bool, Row] | None:
    """Find a token of this client by hash: (is it an access token, its row), or None.

    The hint only decides which table is tried first.
    """
    tables = [_ACCESS, _REFRESH]
    if hint == "refresh_token":
        tables.reverse()
    for table in tables:
        row = db.execute(_FIND_OWN[table], {"token_hash": token_hash}).first()
        if row is not None:
            # Another client's token is, for this client, an unknown token (RFC 7662 §4).
            return (table is _ACCESS, row) if row.client_id == client.id else None
    return None


def revoke_token(
    db: DbHandle,
    client: ClientRecord,
    raw: str,
    hint: str | None,
    *,
    cache: AccessTokenCache | None = None,
) -> None:
    """Revoke one of the client's tokens (RFC 7009); unknown tokens are ignored.

    Revoking a refresh token also ends the access tokens issued with it or obtained with
    it (RFC 7009 §2.1), even when the refresh token itself is gone because it was used:
    a client library keeps the refresh token it last saw and revokes that one at logout.
    """
    token_hash = hash_token(raw)
    found = _find_own(db, client, token_hash, hint)
    if found is not None and found[0]:
        db.execute(_DELETE_ACCESS, {"token_hash": token_hash})
        if cache is not None:
            cache.forget(token_hash)
        return
    # The access tokens of a refresh token are found by it, and only those are forgotten
    # by this worker's cache (other clients' cached tokens stay).
    _delete_linked_access(db, client, {token_hash}, cache)
    if found is not None:
        _DELETE_REFRESH.rowcount(db, {"token_hash": token_hash})


def introspect_token(
    db: DbHandle, client: ClientRecord, raw: str, hint: str | None, *, now: datetime
) -> dict[str, object] | None:
    """Return RFC 7662 claims of an active token of this client, or None when inactive."""
    found = _find_own(db, client, hash_token(raw), hint)
    if found is None or is_expired(found[1].expires_at, now):
        return None
    is_access, row = found
    claims: dict[str, object] = {"active": True}
    if row.scope:
        claims["scope"] = row.scope
    claims["client_id"] = client.client_id
    claims["token_type"] = TOKEN_TYPE if is_access else "refresh_token"
    claims["exp"] = _epoch(row.expires_at)
    claims["iat"] = _epoch(row.issued_at)
    if row.user_id is not None:
        claims["sub"] = row.user_id
    return claims


def import_token(
    session: Session,
    *,
    token_type: str,
    raw: str,
    client_pk: int,
    user_id: str | None,
    scope: str | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Carry a live legacy token over (by hash); raises ValueError if it is known or malformed."""
    token = TokenImport(
        raw=raw, client_pk=client_pk, user_id=user_id, scope=scope, expires_at=expires_at
    )
    check_token_import(token)
    model = {"access": AccessToken, "refresh": RefreshToken}[token_type]
    token_hash = hash_token(raw)
    if session.get(model, token_hash) is not None:
        raise ValueError(f"This {token_type} token is already imported.")
    session.add(
        model(
            token_hash=token_hash,
            client_id=client_pk,
            user_id=user_id,
            scope=scope or None,
            issued_at=now,
            expires_at=expires_at,
        )
    )


@dataclass(frozen=True)
class TokenImport:
    """A token carried over from another server: its plain value (stored only by hash).

    ``client_pk`` is None for a client a dry run has not created (nothing is written then).
    """

    raw: str
    client_pk: int | None
    user_id: str | None
    scope: str | None
    expires_at: datetime


def check_token_import(token: TokenImport) -> None:
    """Raise ValueError unless the token can be stored: no control characters, a valid
    scope (single spaces between RFC 6749 scope tokens), a user id of at most 255."""
    for what, text in (
        ("The token", token.raw),
        ("The scope", token.scope),
        ("user_id", token.user_id),
    ):
        if text is not None:
            validate_plain_text(text, what)
    if not token.raw:
        raise ValueError("The token is empty.")
    if token.scope:
        validate_scope(token.scope)
    if token.user_id is not None and len(token.user_id) > 255:
        raise ValueError("user_id must be at most 255 characters.")


TOKEN_TABLES = {"access": _ACCESS, "refresh": _REFRESH}
IMPORTED = "imported"
UPDATED = "updated"
UNCHANGED = "unchanged"
GONE = "gone"


def sync_tokens(
    session: Session,
    token_type: str,
    tokens: Sequence[TokenImport],
    *,
    write: bool = True,
    now: datetime,
    not_again: AbstractSet[str] = frozenset(),
) -> list[str]:
    """Carry a batch of tokens over by hash; return, per token, what was (or would be) done.

    ``imported``: new; ``updated``: a token with this hash is stored but its client, user,
    scope or expiry differs (its issue time and links stay); ``unchanged``; ``gone``: its
    hash is in ``not_again`` (the caller carried it over before) and it is no longer
    stored, so it was used up, revoked or deleted here and is not stored again. Each token
    must pass ``check_token_import``. One SELECT and at most one executemany INSERT and one
    UPDATE per batch: give batches of about a thousand. ``write=False`` only compares.
    """
    table = TOKEN_TABLES[token_type]
    for token in tokens:
        check_token_import(token)
    hashes = [hash_token(token.raw) for token in tokens]
    stored = {
        row.token_hash: row
        for row in session.execute(
            select(
                table.c.token_hash,
                table.c.client_id,
                table.c.user_id,
                table.c.scope,
                table.c.expires_at,
            ).where(table.c.token_hash.in_(set(hashes)))
        )
    }
    outcomes: list[str] = []
    inserts: list[dict] = []
    updates: list[dict] = []
    seen: set[str] = set()
    for token, token_hash in zip(tokens, hashes, strict=True):
        if token_hash in seen:
            raise ValueError("The same token twice in one batch.")
        seen.add(token_hash)
        values = {
            "client_id": token.client_pk,
            "user_id": token.user_id,
            "scope": token.scope or None,
            "expires_at": token.expires_at,
        }
        row = stored.get(token_hash)
        if row is None and token_hash in not_again:
            outcomes.append(GONE)
        elif row is None:
            outcomes.append(IMPORTED)
            inserts.append({"token_hash": token_hash, "issued_at": now, **values})
        elif any(getattr(row, key) != value for key, value in values.items()):
            outcomes.append(UPDATED)
            updates.append({"b_hash": token_hash, **{f"b_{k}": v for k, v in values.items()}})
        else:
            outcomes.append(UNCHANGED)
    if write:
        if any(token.client_pk is None for token in tokens):
            raise ValueError("A token to write needs its client's primary key.")
        if inserts:
            session.execute(insert(table), inserts)
        if updates:
            session.execute(
                update(table)
                .where(table.c.token_hash == bindparam("b_hash"))
                .values(
                    {
                        key: bindparam(f"b_{key}")
                        for key in ("client_id", "user_id", "scope", "expires_at")
                    }
                ),
                updates,
            )
    return outcomes


def stored_token_hashes(db: DbHandle, kind: str, hashes: Collection[str]) -> set[str]:
    """Of these hashes, the ones of a token stored here (``kind``: "access" or "refresh").
    One indexed SELECT; give batches of about a thousand."""
    if not hashes:
        return set()
    table = TOKEN_TABLES[kind]
    return set(db.scalars(select(table.c.token_hash).where(table.c.token_hash.in_(set(hashes)))))


def used_refresh_hashes(session: Session, hashes: Collection[str]) -> set[str]:
    """Of these refresh token hashes, the ones known to have been used here: remembered as
    used up (while reuse detection is on), or the start of a chain that goes on here (its
    ``family_hash``). Three indexed SELECTs; give batches of about a thousand."""
    if not hashes:
        return set()
    wanted = set(hashes)
    found = set(session.scalars(select(_USED.c.token_hash).where(_USED.c.token_hash.in_(wanted))))
    for column in (_USED.c.family_hash, _REFRESH.c.family_hash):
        found.update(session.scalars(select(column).distinct().where(column.in_(wanted))))
    return found


def purge_expired(
    session: Session,
    *,
    before: datetime,
    pacing: PurgePacing,
    on_batch: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Delete tokens (and used refresh tokens, and authorization codes) that expired before
    ``before``, in committed batches paced as ``storage.purge.delete_in_batches`` paces
    them; ``on_batch(table, total so far)`` follows each batch. Returns the number of rows
    removed per table."""
    removed: dict[str, int] = {}
    for table in (_ACCESS, _REFRESH, _USED, _CODES):
        removed[table.name] = delete_in_batches(
            session,
            table,
            table.c.expires_at < before,
            pacing,
            on_batch=None if on_batch is None else functools.partial(on_batch, table.name),
        )
    return removed


def _epoch(moment: datetime) -> int:
    """Seconds since the epoch of a naive UTC datetime."""
    return int((moment - datetime(1970, 1, 1)).total_seconds())


# --- a client's tokens, for admins -------------------------------------------------------

# How much of a stored hash a listing shows: enough to tell tokens apart, never the token.
HASH_PREFIX = 12


@dataclass(frozen=True)
class TokenRow:
    """A stored token as an admin sees it: the start of its hash, never the token."""

    kind: str  # "access" or "refresh"
    hash_prefix: str
    scope: str | None
    user_id: str | None
    issued_at: datetime
    expires_at: datetime


def newest_tokens(table: Table, client_pk: int, limit: int) -> Select:
    """A client's newest ``limit`` rows of a token table, in its ``(client_id, issued_at,
    token_hash)`` index's order (a test checks each database reads them so)."""
    return (
        select(
            table.c.token_hash,
            table.c.scope,
            table.c.user_id,
            table.c.issued_at,
            table.c.expires_at,
        )
        .where(table.c.client_id == client_pk)
        .order_by(table.c.issued_at.desc(), table.c.token_hash.desc())
        .limit(limit)
    )


def client_tokens(db: DbHandle, client_pk: int, *, limit: int = 100) -> list[TokenRow]:
    """The client's stored access and refresh tokens, newest first, at most ``limit``:
    as quick for a client with a million tokens as for one with ten (``newest_tokens``)."""
    rows: list[TokenRow] = []
    for kind, table in TOKEN_TABLES.items():
        found = db.execute(newest_tokens(table, client_pk, limit))
        rows += [
            TokenRow(
                kind=kind,
                hash_prefix=row.token_hash[:HASH_PREFIX],
                scope=row.scope,
                user_id=row.user_id,
                issued_at=row.issued_at,
                expires_at=row.expires_at,
            )
            for row in found
        ]
    rows.sort(key=lambda row: row.issued_at, reverse=True)
    return rows[:limit]


def revoke_client_tokens(db: DbHandle, client_pk: int) -> int:
    """Delete every token of a client (used-up refresh tokens and unused authorization codes
    too); return how many access and refresh tokens went. Other workers' caches drop them
    within their max age."""
    removed = 0
    for table in (_ACCESS, _REFRESH):
        removed += db.execute(delete(table).where(table.c.client_id == client_pk)).rowcount
    for table in (_USED, _CODES):
        db.execute(delete(table).where(table.c.client_id == client_pk))
    return removed
