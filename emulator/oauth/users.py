"""Site users: the accounts that log in with a password (the password grant, the login page).

A user's id is the one tokens and clients name (a string on the wire); an import keeps the
old site's ids. Usernames match without regard to case, as the old site's case-insensitive
MySQL collation matched them (``username_key``). Passwords are stored as argon2id hashes,
with the parameters and the hasher of client secrets (``clients.hash_secret``). A hash in
another system's format (one an import brought) is checked by the verifiers the host hands
in, one per plugin that knows such formats (``PasswordVerifier``), and replaced by an
argon2id hash at the user's next successful login.

``authenticate_user`` is the one check of a password: a blocked user, or one with
two-factor authentication on (whose second factor is not asked for here), fails exactly as
a wrong password does, after the same work; an unknown username costs one full hash too.
Guessing is counted and locked out by a guard the host passes in (``UserGuard``).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import Protocol

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from emulator.oauth.clients import check_secret
from emulator.oauth.clients import hash_secret
from emulator.oauth.clients import needs_rehash
from emulator.oauth.errors import InvalidGrant
from emulator.oauth.memo import VerifiedSecrets
from emulator.oauth.text import has_control_characters
from emulator.oauth.text import validate_plain_text
from emulator.oauth.tokens import HASH_PREFIX
from emulator.oauth.tokens import TOKEN_TABLES
from emulator.storage.models import AccessToken
from emulator.storage.models import AuthorizationCode
from emulator.storage.models import Client
from emulator.storage.models import RefreshToken
from emulator.storage.models import SiteUser
from emulator.storage.models import SiteUserGroup
from emulator.storage.models import SiteUserSession
from emulator.storage.schema import DbHandle

_USERS = SiteUser.__table__
_GROUPS = SiteUserGroup.__table__
_SESSIONS = SiteUserSession.__table__
_CLIENTS = Client.__table__
# What was issued to a user and ends with its account: tokens, and codes not yet exchanged.
_TOKEN_TABLES = (AccessToken.__table__, RefreshToken.__table__, AuthorizationCode.__table__)

MAX_USERNAME_LENGTH = 150  # Joomla's #__users.username
MAX_KEY_LENGTH = _USERS.c.username_key.type.length
MAX_NAME_LENGTH = 400
MAX_EMAIL_LENGTH = 255
MAX_GROUP_LENGTH = _GROUPS.c.title.type.length
MAX_HASH_LENGTH = _USERS.c.password_hash.type.length
# The longest password checked: phpass refused longer ones; it bounds one check's work.
MAX_PASSWORD_LENGTH = 4096
MAX_USER_ID = 2**31 - 1  # Joomla's int(11) ids, and every backend's INTEGER
MAX_PAGE = 1000
# What a username made here may not hold (Joomla refuses them: a username made here stays
# one the old site would take). Imported usernames are taken as the old site has them.
_FORBIDDEN_IN_USERNAME = frozenset('<>"%;()&\\')
# Rows per statement where a list of ids goes into IN (...) (SQLite's bound-parameter limit).
CHUNK = 1000

# A plugin's check of a password against a hash in a format it knows:
# (password_hash, password) -> True or False, or None for a hash not of its formats.
PasswordVerifier = Callable[[str, str], "bool | None"]

# What ``UserRecord.password_format`` says of the stored hash.
NO_PASSWORD = "none"
ARGON2ID = "argon2id"  # ours, with today's parameters
OTHER_FORMAT = "other"  # another format or other parameters: replaced at the next login


class UserLocked(InvalidGrant):
    """invalid_grant, before any check: too many failed logins for this username and source.

    ``retry_after`` is the number of seconds until attempts are taken again (RFC 6749
    §10.10: the server must keep passwords from being guessed).
    """

    def __init__(self, description: str, *, retry_after: int) -> None:
        super().__init__(description, reason="locked", retry_after=retry_after)
        self.retry_after = retry_after


class UserGuard(Protocol):
    """The host's guard against guessing, bound to one request's source address."""

    def ensure_allowed(self, username: str) -> None:
        """Raise UserLocked while this username (its ``username_key``) may not try, before any
        password is checked."""

    def failed(self, username: str, account: str | None) -> None:
        """Count a failed login of this username (its ``username_key``); ``account`` is the
        username of the user it found, None when there is none (the typed text may be a
        password typed in the wrong box: it is never shown)."""


@dataclass(frozen=True)
class UserRecord:
    """A site user as the engine hands it out: never the password hash."""

    id: int
    username: str
    name: str
    email: str
    blocked: bool
    two_factor: bool
    groups: tuple[str, ...]
    registered_at: datetime | None
    last_visit_at: datetime | None
    password_changed_at: datetime | None
    password_format: str  # NO_PASSWORD, ARGON2ID or OTHER_FORMAT

    @property
    def user_id(self) -> str:
        """The id as tokens carry it (``user_id`` travels as a string on the wire)."""
        return str(self.id)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able values (times as ISO 8601 UTC), for --json; never the hash."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "email": self.email,
            "blocked": self.blocked,
            "two_factor": self.two_factor,
            "groups": list(self.groups),
            "registered_at": _iso(self.registered_at),
            "last_visit_at": _iso(self.last_visit_at),
            "password_changed_at": _iso(self.password_changed_at),
            "password": self.password_format,
        }


@dataclass(frozen=True)
class UserSpec:
    """A user to create here; ``password`` in plain text (None: the user has none yet),
    ``id`` None: the next free one."""

    username: str
    password: str | None = None
    id: int | None = None
    name: str | None = None  # None: the username
    email: str = ""
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserImport:
    """A user as another system keeps it, carried over with its password hash as stored
    there (checked at login by a plugin's verifier; None: no password)."""

    id: int
    username: str
    name: str = ""
    email: str = ""
    password_hash: str | None = None
    blocked: bool = False
    two_factor: bool = False
    groups: tuple[str, ...] = ()
    registered_at: datetime | None = None
    last_visit_at: datetime | None = None


@dataclass(frozen=True)
class UserToken:
    """A live token issued to a user, as an admin sees it: never the token."""

    kind: str  # "access" or "refresh"
    client_id: str
    hash_prefix: str
    scope: str | None
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class UserPage:
    """One page of the user list."""

    rows: list[UserRecord]
    total: int
    offset: int
    limit: int


# --- names and passwords ----------------------------------------------------------------


def username_key(username: str) -> str:
    """The form a username is matched in: lower case, trailing spaces dropped (a MySQL
    ``_ci`` collation ignored case and padded with spaces; it also ignored accents, which
    this key does not: a username is typed with its accents)."""
    return username.rstrip(" ").lower()


def check_username(username: str, *, imported: bool = False) -> str:
    """Return the username, or raise ValueError saying why it cannot be one.

    1 to 150 characters, no control character, no spaces around it, a key of at most 255
    characters; one made here (not ``imported``) also without ``< > " % ; ( ) & \\`` as
    Joomla refuses them.
    """
    if not isinstance(username, str) or not username:
        raise ValueError("A username is 1 to 150 characters.")
    validate_plain_text(username, "The username")
    if len(username) > MAX_USERNAME_LENGTH or len(username_key(username)) > MAX_KEY_LENGTH:
        raise ValueError("A username is 1 to 150 characters.")
    if username != username.strip():
        raise ValueError("A username has no spaces at its start or end.")
    if not imported and _FORBIDDEN_IN_USERNAME & set(username):
        raise ValueError('A username may not hold < > " % ; ( ) & or \\.')
    return username


def hash_password(password: str) -> str:
    """Return the argon2id hash stored for a password (the client secrets' hasher)."""
    return hash_secret(password)


def check_new_password(password: str) -> str:
    """Return the password, or raise ValueError: 1 to 4096 characters, no NUL."""
    if not isinstance(password, str) or not password:
        raise ValueError("A password cannot be empty.")
    if len(password.encode("utf-8", "surrogatepass")) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"A password must be at most {MAX_PASSWORD_LENGTH} bytes.")
    if "\0" in password:
        raise ValueError("A password cannot hold NUL.")
    return password


def check_password(
    password_hash: str, password: str, verifiers: Sequence[PasswordVerifier] = ()
) -> bool:
    """Whether ``password`` matches the stored hash: an argon2id hash here, any other format
    by the first verifier that knows it (none: no match)."""
    if password_hash.startswith("$argon2id$"):
        return check_secret(password_hash, password)
    for verify in verifiers:
        verdict = verify(password_hash, password)
        if verdict is not None:
            return verdict is True
    return False


def password_format(password_hash: str | None) -> str:
    """NO_PASSWORD, ARGON2ID (today's parameters) or OTHER_FORMAT (replaced at the next login)."""
    if password_hash is None:
        return NO_PASSWORD
    return OTHER_FORMAT if needs_rehash(password_hash) else ARGON2ID


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, checked where there is no user, so that an unknown
    username costs what a wrong password does. Made on first use (it costs a full hash)."""
    return hash_password(secrets.token_hex(16))


# --- authentication ----------------------------------------------------------------------


def authenticate_user(
    db: DbHandle,
    username: object,
    password: object,
    *,
    verifiers: Sequence[PasswordVerifier] = (),
    guard: UserGuard | None = None,
    verified: VerifiedSecrets | None = None,
    now: datetime,
) -> UserRecord | None:
    """Return the user whose username and password these are, or None.

    Every failure is the same None after the same work: an unknown username (one full
    argon2id hash, against a dummy), a wrong password, a user without a password, a blocked
    user and a user with two-factor authentication on (their password is checked first,
    as any other). A password checked in another format is followed by a dummy argon2id
    check when it fails, so that no format answers faster than an unknown username.
    ``guard`` refuses (UserLocked) before anything is checked, and counts each failure:
    call this before the request writes anything (the count is written apart, and on
    SQLite a writer does not wait for itself). On success the user's last visit becomes
    ``now`` and a hash of another format (or other parameters) is replaced by an argon2id
    one, in the caller's transaction. A password that matched the stored hash before is
    known to ``verified`` (this worker's memo: ``emulator.oauth.memo``) and not hashed
    again; a wrong one always is.
    """
    name = username if isinstance(username, str) else ""
    valid = (
        isinstance(password, str)
        and 0 < len(password)
        and len(password.encode("utf-8", "surrogatepass")) <= MAX_PASSWORD_LENGTH
    )
    # Counted by the name as it matches (any case, trailing spaces): "Alice" and "ALICE " are
    # one username to guess, and one to lock.
    counted = username_key(name)
    if guard is not None:
        guard.ensure_allowed(counted)
    row = _find_row(db, name)
    memo = digest = None
    if row is None or row.password_hash is None or not valid:
        check_secret(_dummy_hash(), password if valid else "")
        matched = False
    else:
        # Only a user who can log in is answered from the memo: a blocked or two-factor
        # user's right password costs the full hash, as a wrong one does.
        if verified is not None and not row.blocked and not row.two_factor:
            memo, digest = verified, verified.digest(password)
        stored = row.password_hash

        def full_check() -> bool:
            return check_password(stored, password, verifiers)

        matched = memo.check((row.id, stored), digest, full_check) if memo else full_check()
        if not matched and not stored.startswith("$argon2id$"):
            check_secret(_dummy_hash(), password)
    if not matched or row.blocked or row.two_factor:
        if guard is not None:
            guard.failed(counted, None if row is None else row.username)
        return None
    values: dict[str, Any] = {"last_visit_at": now}
    if needs_rehash(row.password_hash):
        values["password_hash"] = hash_password(password)
    db.execute(
        update(_USERS)
        .where(_USERS.c.id == row.id, _USERS.c.password_hash == row.password_hash)
        .values(**values)
    )
    if memo is not None and "password_hash" in values:  # remembered under the new hash
        memo.remember((row.id, values["password_hash"]), digest)
    return _record(row, _groups_of(db, [row.id]).get(row.id, ()), **values)


# --- reading -----------------------------------------------------------------------------

_COLUMNS = (
    _USERS.c.id,
    _USERS.c.username,
    _USERS.c.name,
    _USERS.c.email,
    _USERS.c.password_hash,
    _USERS.c.password_changed_at,
    _USERS.c.blocked,
    _USERS.c.two_factor,
    _USERS.c.registered_at,
    _USERS.c.last_visit_at,
)


def _find_row(db: DbHandle, username: str) -> Any:
    """The row of the user with this username (any case), or None (a name no username can
    be: nothing is asked of the database)."""
    if not username or len(username) > MAX_PASSWORD_LENGTH or has_control_characters(username):
        return None
    key = username_key(username)
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    return db.execute(select(*_COLUMNS).where(_USERS.c.username_key == key)).first()


def _record(row: Any, groups: Sequence[str], **changed: Any) -> UserRecord:
    values = {column.name: getattr(row, column.name) for column in _COLUMNS} | changed
    return UserRecord(
        id=values["id"],
        username=values["username"],
        name=values["name"],
        email=values["email"],
        blocked=bool(values["blocked"]),
        two_factor=bool(values["two_factor"]),
        groups=tuple(groups),
        registered_at=values["registered_at"],
        last_visit_at=values["last_visit_at"],
        password_changed_at=values["password_changed_at"],
        password_format=password_format(values["password_hash"]),
    )


def _groups_of(db: DbHandle, ids: Sequence[int]) -> dict[int, tuple[str, ...]]:
    """The group titles of these users, in their order."""
    found: dict[int, list[str]] = {}
    for start in range(0, len(ids), CHUNK):
        rows = db.execute(
            select(_GROUPS.c.user_id, _GROUPS.c.title)
            .where(_GROUPS.c.user_id.in_(ids[start : start + CHUNK]))
            .order_by(_GROUPS.c.user_id, _GROUPS.c.position, _GROUPS.c.title)
        )
        for user_id, title in rows:
            found.setdefault(user_id, []).append(title)
    return {user_id: tuple(titles) for user_id, titles in found.items()}


def _records(db: DbHandle, rows: Sequence[Any]) -> list[UserRecord]:
    groups = _groups_of(db, [row.id for row in rows])
    return [_record(row, groups.get(row.id, ())) for row in rows]


def find_user(db: DbHandle, username: str) -> UserRecord | None:
    """The user with this username, in any case (``username_key``), or None."""
    row = _find_row(db, username) if isinstance(username, str) else None
    return None if row is None else _records(db, [row])[0]


def get_user(db: DbHandle, user_id: int) -> UserRecord | None:
    """The user with this id, or None."""
    if isinstance(user_id, bool) or not isinstance(user_id, int):
        return None
    if not 0 < user_id <= MAX_USER_ID:
        return None
    row = db.execute(select(*_COLUMNS).where(_USERS.c.id == user_id)).first()
    return None if row is None else _records(db, [row])[0]


def users_by_id(db: DbHandle, ids: Collection[int]) -> dict[int, UserRecord]:
    """The users with these ids that exist, by id (for bulk work: an import)."""
    wanted = sorted(ids)
    rows: list[Any] = []
    for start in range(0, len(wanted), CHUNK):
        rows += db.execute(
            select(*_COLUMNS).where(_USERS.c.id.in_(wanted[start : start + CHUNK]))
        ).all()
    return {record.id: record for record in _records(db, rows)}


def user_ids_by_key(db: DbHandle, usernames: Collection[str]) -> dict[str, int]:
    """The ids of the users holding these usernames (any case), by ``username_key``."""
    keys = sorted({username_key(name) for name in usernames})
    found: dict[str, int] = {}
    for start in range(0, len(keys), CHUNK):
        rows = db.execute(
            select(_USERS.c.username_key, _USERS.c.id).where(
                _USERS.c.username_key.in_(keys[start : start + CHUNK])
            )
        )
        found.update({key: user_id for key, user_id in rows})
    return found


def list_users(
    db: DbHandle,
    *,
    search: str = "",
    blocked: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> UserPage:
    """A page of users by username (any case); ``search``: part of a username, name or email;
    ``blocked``: only the blocked (True) or the others (False)."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"The limit must be 1 to {MAX_PAGE}.")
    if offset < 0:
        raise ValueError("The offset must be 0 or more.")
    validate_plain_text(search, "The search")
    query = select(*_COLUMNS)
    if search:
        query = query.where(
            or_(
                _USERS.c.username_key.contains(search.lower(), autoescape=True),
                _USERS.c.name.icontains(search, autoescape=True),
                _USERS.c.email.icontains(search, autoescape=True),
            )
        )
    if blocked is not None:
        query = query.where(_USERS.c.blocked == blocked)
    total = db.execute(select(func.count()).select_from(query.subquery())).scalar() or 0
    rows = db.execute(
        query.order_by(_USERS.c.username_key, _USERS.c.id).offset(offset).limit(limit)
    ).all()
    return UserPage(rows=_records(db, rows), total=total, offset=offset, limit=limit)


def user_clients(db: DbHandle, user_id: int, *, limit: int = 50) -> tuple[int, list[str]]:
    """How many clients act as the user (their ``user_id`` is its id), and the first
    ``limit`` of their client ids."""
    where = _CLIENTS.c.user_id == str(user_id)
    total = db.execute(select(func.count()).where(where)).scalar() or 0
    ids = db.execute(
        select(_CLIENTS.c.client_id).where(where).order_by(_CLIENTS.c.client_id).limit(limit)
    ).scalars()
    return total, list(ids)


def user_tokens(
    db: DbHandle, user_id: int, *, now: datetime, limit: int = 50
) -> tuple[int, list[UserToken]]:
    """How many live (unexpired) access and refresh tokens were issued to the user, and the
    newest ``limit`` of them: the start of each hash and its client, never a token."""
    total = 0
    found: list[UserToken] = []
    for kind, table in TOKEN_TABLES.items():
        live = (table.c.user_id == str(user_id)) & (table.c.expires_at > now)
        total += db.execute(select(func.count()).select_from(table).where(live)).scalar() or 0
        rows = db.execute(
            select(
                table.c.token_hash,
                _CLIENTS.c.client_id,
                table.c.scope,
                table.c.issued_at,
                table.c.expires_at,
            )
            .join(_CLIENTS, _CLIENTS.c.id == table.c.client_id)
            .where(live)
            .order_by(table.c.issued_at.desc(), table.c.token_hash.desc())
            .limit(limit)
        )
        found += [
            UserToken(
                kind=kind,
                client_id=row.client_id,
                hash_prefix=row.token_hash[:HASH_PREFIX],
                scope=row.scope,
                issued_at=row.issued_at,
                expires_at=row.expires_at,
            )
            for row in rows
        ]
    found.sort(key=lambda token: (token.issued_at, token.hash_prefix), reverse=True)
    return total, found[:limit]


# --- admin writes ------------------------------------------------------------------------


def _check_profile(name: str, email: str, groups: Sequence[str]) -> tuple[str, ...]:
    """Check a name, an email and group titles; return the titles without repeats."""
    validate_plain_text(name, "The name")
    validate_plain_text(email, "The email")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"A name must be at most {MAX_NAME_LENGTH} characters.")
    if len(email) > MAX_EMAIL_LENGTH:
        raise ValueError(f"An email must be at most {MAX_EMAIL_LENGTH} characters.")
    titles: list[str] = []
    for title in groups:
        validate_plain_text(title, "The group")
        if not title.strip() or len(title) > MAX_GROUP_LENGTH:
            raise ValueError(f"A group title is 1 to {MAX_GROUP_LENGTH} characters.")
        if title not in titles:
            titles.append(title)
    return tuple(titles)


def create_user(db: DbHandle, spec: UserSpec, *, now: datetime) -> UserRecord:
    """Create the user ``spec`` describes; raise ValueError (nothing written) on a refused
    value, a username taken (in any case) or an id taken. The password is hashed here."""
    username = check_username(spec.username)
    name = spec.username if spec.name is None else spec.name
    groups = _check_profile(name, spec.email, spec.groups)
    password = None if spec.password is None else check_new_password(spec.password)
    taken = _find_row(db, username)
    if taken is not None:
        raise ValueError(f"A user {taken.username!r} already exists (usernames ignore case).")
    if spec.id is None:
        user_id = (db.execute(select(func.max(_USERS.c.id))).scalar() or 0) + 1
    else:
        user_id = spec.id
        if isinstance(user_id, bool) or not 0 < user_id <= MAX_USER_ID:
            raise ValueError(f"A user id is 1 to {MAX_USER_ID}.")
        holder = db.execute(select(_USERS.c.username).where(_USERS.c.id == user_id)).scalar()
        if holder is not None:
            raise ValueError(f"The user id {user_id} is taken (by {holder!r}).")
    if user_id > MAX_USER_ID:
        raise ValueError(f"No user id is free below {MAX_USER_ID}; give one with --id.")
    _insert(
        db,
        [
            UserImport(
                id=user_id,
                username=username,
                name=name,
                email=spec.email,
                password_hash=None if password is None else hash_password(password),
                groups=groups,
                registered_at=now,
            )
        ],
        now=now,
        password_changed=password is not None,
    )
    found = get_user(db, user_id)
    assert found is not None
    return found


def set_password(db: DbHandle, user_id: int, password: str, *, now: datetime) -> None:
    """Give the user a new password (hashed argon2id); ValueError on a refused one."""
    new_hash = hash_password(check_new_password(password))
    db.execute(
        update(_USERS)
        .where(_USERS.c.id == user_id)
        .values(password_hash=new_hash, password_changed_at=now)
    )


def set_user_blocked(db: DbHandle, user_id: int, blocked: bool) -> bool:
    """Block or unblock the user; return whether that changed anything. A block does not
    end the user's tokens by itself (``revoke_user_tokens`` does)."""
    return (
        db.execute(
            update(_USERS)
            .where(_USERS.c.id == user_id, _USERS.c.blocked == (not blocked))
            .values(blocked=blocked)
        ).rowcount
        > 0
    )


def revoke_user_tokens(db: DbHandle, user_id: int) -> int:
    """Delete every access and refresh token and authorization code issued to the user;
    return how many went.

    Other workers' caches drop the access tokens within their max age. The user's browser
    sessions (the login pages') end too; they are not counted.
    """
    db.execute(delete(_SESSIONS).where(_SESSIONS.c.user_id == user_id))
    removed = 0
    for table in _TOKEN_TABLES:
        removed += db.execute(delete(table).where(table.c.user_id == str(user_id))).rowcount
    return removed


def delete_user(db: DbHandle, user_id: int) -> int:
    """Delete the user, its groups and every token issued to it; return the tokens removed."""
    return remove_users(db, [user_id])


def remove_users(db: DbHandle, ids: Sequence[int]) -> int:
    """Delete these users with their groups and tokens; return the tokens removed."""
    removed = 0
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        names = [str(user_id) for user_id in chunk]  # tokens name a user as a string
        for table in _TOKEN_TABLES:
            removed += db.execute(delete(table).where(table.c.user_id.in_(names))).rowcount
        db.execute(delete(_SESSIONS).where(_SESSIONS.c.user_id.in_(chunk)))
        db.execute(delete(_GROUPS).where(_GROUPS.c.user_id.in_(chunk)))
        db.execute(delete(_USERS).where(_USERS.c.id.in_(chunk)))
    return removed


# --- bulk writes (an import) --------------------------------------------------------------


def check_user_import(user: UserImport) -> UserImport:
    """Return the user as it would be stored, or raise ValueError saying what is wrong."""
    if isinstance(user.id, bool) or not isinstance(user.id, int) or not 0 < user.id <= MAX_USER_ID:
        raise ValueError(f"A user id is 1 to {MAX_USER_ID}.")
    check_username(user.username, imported=True)
    groups = _check_profile(user.name, user.email, user.groups)
    if user.password_hash is not None:
        validate_plain_text(user.password_hash, "The password hash")
        if len(user.password_hash) > MAX_HASH_LENGTH:
            raise ValueError(f"A password hash must be at most {MAX_HASH_LENGTH} characters.")
    return UserImport(
        id=user.id,
        username=user.username,
        name=user.name,
        email=user.email,
        password_hash=user.password_hash or None,
        blocked=user.blocked,
        two_factor=user.two_factor,
        groups=groups,
        registered_at=user.registered_at,
        last_visit_at=user.last_visit_at,
    )


def add_users(db: DbHandle, users: Sequence[UserImport], *, now: datetime) -> None:
    """Insert these users (checked with ``check_user_import``; their ids and usernames free)
    with their hashes as given: one executemany for the users, one for their groups."""
    _insert(db, users, now=now, password_changed=False)


def _insert(
    db: DbHandle, users: Sequence[UserImport], *, now: datetime, password_changed: bool
) -> None:
    if not users:
        return
    db.execute(
        insert(_USERS),
        [
            {
                "id": user.id,
                "username": user.username,
                "username_key": username_key(user.username),
                "name": user.name,
                "email": user.email,
                "password_hash": user.password_hash,
                "password_changed_at": now if password_changed else None,
                "blocked": user.blocked,
                "two_factor": user.two_factor,
                "registered_at": user.registered_at,
                "last_visit_at": user.last_visit_at,
            }
            for user in users
        ],
    )
    groups = [
        {"user_id": user.id, "title": title, "position": position}
        for user in users
        for position, title in enumerate(user.groups)
    ]
    if groups:
        db.execute(insert(_GROUPS), groups)


# The fields ``update_user`` changes.
USER_FIELDS = (
    "username",
    "name",
    "email",
    "password_hash",
    "blocked",
    "two_factor",
    "groups",
    "registered_at",
    "last_visit_at",
)


def update_user(db: DbHandle, user_id: int, changes: Mapping[str, Any], *, now: datetime) -> None:
    """Set these fields of the user (keys of USER_FIELDS; values as ``check_user_import``
    checks them). A new ``password_hash`` is taken as given (another system's format is
    checked by a verifier at login) and dates the password change ``now``."""
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise ValueError(f"Not a user field: {', '.join(sorted(unknown))}.")
    values = {key: value for key, value in changes.items() if key != "groups"}
    if "username" in values:
        values["username_key"] = username_key(values["username"])
    if "password_hash" in values:
        values["password_changed_at"] = now
    if values:
        db.execute(update(_USERS).where(_USERS.c.id == user_id).values(**values))
    if "groups" in changes:
        db.execute(delete(_GROUPS).where(_GROUPS.c.user_id == user_id))
        rows = [
            {"user_id": user_id, "title": title, "position": position}
            for position, title in enumerate(changes["groups"])
        ]
        if rows:
            db.execute(insert(_GROUPS), rows)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%S}Z"
