"""Host-level admin operations, shared by the CLI (emulator/manage/cli) and the admin pages.

Each change works in the caller's ORM session, records one audit event (emulator/ops/audit.py)
in the same transaction and does not commit: the command or the page view commits, or
rolls back on an error. A refused value raises ``ValueError`` (``NotFound``,
``ScopeInUse``, ``MissingSettings``, ``emulator.web.errors.ParamsError``) with a one-line
message for the admin, before anything is written. Secrets are returned to be shown once,
never recorded.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import has_app_context
from marshmallow import ValidationError
from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from emulator import oauth
from emulator.oauth import MISSING
from emulator.oauth import TokenRow
from emulator.ops import audit
from emulator.ops.audit import Actor
from emulator.ops.clock import utcnow
from emulator.storage.models import AccessToken
from emulator.storage.models import AdminUser
from emulator.storage.models import Client
from emulator.storage.models import PluginState
from emulator.storage.models import RefreshToken
from emulator.storage.models import Scope
from emulator.storage.models import UsageCount
from emulator.web import stores
from emulator.web.errors import ParamsError
from emulator.web.plugin import ClientMark
from emulator.web.plugin import Plugin
from emulator.web.registry import get_registry

__all__ = [
    "MISSING",
    "Actor",
    "ClientPage",
    "ClientRow",
    "MissingSettings",
    "NotFound",
    "ScopeInUse",
    "SecretChanged",
    "TokenRow",
]

MAX_PAGE = 1000
# How the client list may be ordered (the client id breaks ties, ascending).
CLIENT_SORTS: dict[str, ColumnElement[Any]] = {
    "client_id": Client.client_id,
    "created": Client.created_at,
    "state": Client.disabled,  # enabled first
    "type": Client.secret_hash.is_(None),  # confidential first
}
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 1024  # bounds the work of one hash
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,149}")


class NotFound(ValueError):
    """No such client, scope, plugin, site user or admin user."""


class ScopeInUse(ValueError):
    """A scope that clients' own scopes name; ``clients`` are (some of) them."""

    def __init__(self, name: str, clients: list[str]) -> None:
        self.clients = clients
        shown = ", ".join(clients[:10]) + (" and more" if len(clients) > 10 else "")
        super().__init__(
            f"Scope {name!r} is in the scope of client(s) {shown}; "
            "take it out of their scope first (clients update ID --scope ...)."
        )


class SecretChanged(ValueError):
    """A rotation asked for on a view of the secret that is out of date (a form sent twice)."""


class MissingSettings(ValueError):
    """A plugin to be enabled without params its manifest requires
    (``Plugin.required_to_enable``); ``missing`` names them."""

    def __init__(self, plugin: str, missing: list[str]) -> None:
        self.plugin = plugin
        self.missing = missing
        one = len(missing) == 1
        super().__init__(
            f"The {plugin} plugin cannot be enabled while {' and '.join(missing)} "
            f"{'is' if one else 'are'} not set: set {'it' if one else 'them'} first."
        )


# --- clients ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientRow:
    """A client as a list or a page shows it; never a secret or a hash."""

    client_id: str
    public: bool
    disabled: bool
    scope: str | None
    grant_types: str | None
    redirect_uri: str
    user_id: str | None
    created_at: datetime
    secret_grace_until: datetime | None  # the previous secret works until then
    access_tokens: int  # live ones
    refresh_tokens: int
    last_used: datetime | None  # from the usage counts, when known
    # The labels of the plugins' marks on this client (``Plugin.client_marks``).
    marks: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """JSON-able values (times as ISO 8601 UTC), for --json."""
        return {
            "client_id": self.client_id,
            "public": self.public,
            "disabled": self.disabled,
            "scope": self.scope,
            "grant_types": self.grant_types,
            "redirect_uri": self.redirect_uri,
            "user_id": self.user_id,
            "created_at": _iso(self.created_at),
            "secret_grace_until": _iso(self.secret_grace_until),
            "access_tokens": self.access_tokens,
            "refresh_tokens": self.refresh_tokens,
            "last_used": _iso(self.last_used),
        }


@dataclass(frozen=True)
class ClientPage:
    """One page of the client list."""

    rows: list[ClientRow]
    total: int
    offset: int
    limit: int


def list_clients(
    session: Session,
    *,
    search: str = "",
    offset: int = 0,
    limit: int = 50,
    sort: str = "client_id",
    descending: bool = False,
    disabled: bool | None = None,
    public: bool | None = None,
    marks: Mapping[str, bool] | None = None,
    now: datetime | None = None,
) -> ClientPage:
    """A page of clients ordered by ``sort`` (a key of CLIENT_SORTS), then client_id.

    ``search``: a substring of client_id or user_id; ``disabled``, ``public``: only clients
    in that state or of that type (None: either); ``marks``: ``{mark key: bool}``, only
    clients that a plugin's mark has (True) or has not (False), keys as ``client_marks``
    names them. Live token counts, last use and marks are read for the page's rows only
    (grouped queries on indexed columns), so a page costs the same with 10,000s of clients.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"The limit must be 1 to {MAX_PAGE}.")
    if offset < 0:
        raise ValueError("The offset must be 0 or more.")
    if sort not in CLIENT_SORTS:
        raise ValueError(f"Sort by one of: {', '.join(CLIENT_SORTS)}.")
    oauth.validate_plain_text(search, "The search")
    declared = client_marks()
    query = select(Client)
    if search:
        query = query.where(
            or_(
                Client.client_id.contains(search, autoescape=True),
                Client.user_id.contains(search, autoescape=True),
            )
        )
    if disabled is not None:
        query = query.where(Client.disabled == disabled)
    if public is not None:
        query = query.where(
            Client.secret_hash.is_(None) if public else Client.secret_hash.is_not(None)
        )
    for key, wanted in (marks or {}).items():
        if key not in declared:
            raise ValueError(f"No client mark {key!r}; known: {', '.join(declared) or 'none'}.")
        members = Client.id.in_(declared[key].members())
        query = query.where(members if wanted else ~members)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = CLIENT_SORTS[sort]
    query = query.order_by(order.desc() if descending else order.asc(), Client.client_id)
    clients = list(session.scalars(query.offset(offset).limit(limit)))
    return ClientPage(
        rows=_rows(session, clients, now or utcnow()), total=total, offset=offset, limit=limit
    )


def client_marks() -> dict[str, ClientMark]:
    """Every installed plugin's client marks, keyed ``<plugin>.<mark>``, by plugin name."""
    plugins = get_registry().plugins
    return {
        f"{name}.{mark.name}": mark
        for name in sorted(plugins)
        for mark in plugins[name].client_marks
    }


def show_client(session: Session, client_id: str, *, now: datetime | None = None) -> ClientRow:
    """One client, with its live token counts and last use; NotFound if there is none."""
    return _rows(session, [_client(session, client_id)], now or utcnow())[0]


def new_secret() -> str:
    """A new client secret: 40 random lowercase hex characters, as legacy clients expect."""
    return secrets.token_hex(20)


def create_client(session: Session, actor: Actor, spec: oauth.ClientSpec, *, now: datetime) -> None:
    """Register the client ``spec`` describes (built at the edge: the CLI's options, the
    admin form), audited. Its secret is to be shown once: only its hash is stored."""
    client = oauth.register_client(session, spec, now=now)
    public = spec.secret is None
    audit.record(
        session,
        actor=actor,
        action="client.create",
        target=spec.client_id,
        after={"public": public, "secret": None if public else "set", **_fields(client)},
        now=now,
    )


def update_client(
    session: Session,
    actor: Actor,
    client_id: str,
    *,
    scope: str | None | object = MISSING,
    grant_types: str | None | object = MISSING,
    redirect_uri: str | None | object = MISSING,
    user_id: str | None | object = MISSING,
    now: datetime,
) -> ClientRow:
    """Change a client's scope, grant types, redirect URI or user id (``MISSING``: as is;
    None or "" clears; ``grant_types=None`` allows every grant, "" none)."""
    client = _client(session, client_id)
    changed = oauth.update_client(
        client,
        scope=scope,
        grant_types=grant_types,
        redirect_uri=redirect_uri,
        user_id=user_id,
    )
    if changed:
        audit.record(
            session,
            actor=actor,
            action="client.update",
            target=client_id,
            before={field: old for field, (old, _new) in changed.items()},
            after={field: new for field, (_old, new) in changed.items()},
            now=now,
        )
        _forget_here(client_id)
    return _rows(session, [client], now)[0]


def rotate_secret(
    session: Session,
    actor: Actor,
    client_id: str,
    *,
    secret: str | None = None,
    grace: timedelta = timedelta(0),
    if_stamp: str | None = None,
    now: datetime,
) -> str:
    """Give the client a new secret (a new 40-hex one when none is given) and return it;
    the old one stops at once (grace 0) or at ``now + grace``, and works until then.

    With ``if_stamp``, only if that is still the secret's stamp (``secret_stamp``): a form
    sent again after the rotation it asked for raises SecretChanged, and changes nothing.
    """
    client = _client(session, client_id)
    if if_stamp is not None and not client.is_public:
        changed = SecretChanged(
            f"The secret of {client_id!r} has changed since this form was shown "
            "(was it sent twice?)."
        )
        if if_stamp != _secret_stamp(client):
            raise changed
        # The row must still hold the secret stamped: this no-op update finds it only if no
        # other rotation got there first, and holds it until the commit (the same form
        # posted twice at once: the second finds it changed).
        unchanged = session.execute(
            update(Client.__table__)
            .where(Client.id == client.id, Client.secret_hash == client.secret_hash)
            .values(secret_hash=Client.secret_hash)
        ).rowcount
        if unchanged != 1:
            raise changed
    if secret is None:
        secret = new_secret()
    before = client.previous_secret_until
    until = oauth.rotate_secret(client, secret, grace=grace, now=now)
    audit.record(
        session,
        actor=actor,
        action="client.rotate_secret",
        target=client_id,
        before={"secret_grace_until": before},
        after={
            "secret": "rotated",
            "grace_seconds": int(grace.total_seconds()),
            "secret_grace_until": until,
        },
        now=now,
    )
    _forget_here(client_id)
    return secret


def secret_stamp(session: Session, client_id: str) -> str:
    """A short stamp of the client's current secret, which every rotation changes (a digest
    of its salted hash: it tells nothing of the secret)."""
    return _secret_stamp(_client(session, client_id))


def _secret_stamp(client: Client) -> str:
    return hashlib.sha256((client.secret_hash or "").encode()).hexdigest()[:16]


def set_client_disabled(
    session: Session, actor: Actor, client_id: str, disabled: bool, *, now: datetime
) -> None:
    """Disable or enable a client: while disabled, its credentials and tokens are refused
    (as an unknown client's and unknown tokens) in every worker within CACHE_MAX_AGE."""
    client = _client(session, client_id)
    if oauth.set_client_disabled(client, disabled):
        audit.record(
            session,
            actor=actor,
            action="client.disable" if disabled else "client.enable",
            target=client_id,
            before={"disabled": not disabled},
            after={"disabled": disabled},
            now=now,
        )
        if disabled:
            _tokens_ended(session, client_id)
        _forget_here(client_id, tokens=True)


def delete_client(session: Session, actor: Actor, client_id: str, *, now: datetime) -> int:
    """Delete a client and its tokens (and what plugins keep about it); return the tokens
    removed."""
    client = _client(session, client_id)
    before = {"public": client.is_public, "disabled": client.disabled, **_fields(client)}
    pk = client.id
    session.expunge(client)  # deleted below with Core statements
    removed = oauth.remove_client(session, pk)
    audit.record(
        session,
        actor=actor,
        action="client.delete",
        target=client_id,
        before=before,
        after={"tokens_removed": removed},
        now=now,
    )
    _tokens_ended(session, client_id)
    _forget_here(client_id, tokens=True)
    return removed


def revoke_client_tokens(session: Session, actor: Actor, client_id: str, *, now: datetime) -> int:
    """Delete every token of the client; return how many access and refresh tokens went."""
    client = _client(session, client_id)
    removed = oauth.revoke_client_tokens(session, client.id)
    audit.record(
        session,
        actor=actor,
        action="client.revoke_tokens",
        target=client_id,
        after={"tokens_removed": removed},
        now=now,
    )
    _tokens_ended(session, client_id)
    _forget_here(client_id, tokens=True)
    return removed


def import_token(
    session: Session,
    actor: Actor,
    *,
    token_type: str,
    raw: str,
    client_id: str,
    user_id: str | None,
    scope: str | None,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Carry a live legacy token over to ``client_id`` (stored by hash), audited: what kind,
    for which client, its scope, user and expiry; never the token."""
    oauth.import_token(
        session,
        token_type=token_type,
        raw=raw,
        client_pk=_client(session, client_id).id,
        user_id=user_id,
        scope=scope,
        expires_at=expires_at,
        now=now,
    )
    audit.record(
        session,
        actor=actor,
        action="token.import",
        target=client_id,
        after={
            "token_type": token_type,
            "tokens": 1,
            "scope": scope,
            "user_id": user_id,
            "expires_at": expires_at,
        },
        now=now,
    )


def import_code(
    session: Session, actor: Actor, code: oauth.CodeImport, client_id: str, *, now: datetime
) -> None:
    """Carry a live legacy authorization code over (stored by hash), audited as a token
    import is: for which client, its scope, user, redirect URI and expiry; never the code."""
    oauth.import_code(session, code, now=now)
    audit.record(
        session,
        actor=actor,
        action="token.import",
        target=client_id,
        after={
            "token_type": "code",
            "tokens": 1,
            "scope": code.scope,
            "user_id": code.user_id,
            "redirect_uri": code.redirect_uri,
            "expires_at": code.expires_at,
        },
        now=now,
    )


def list_tokens(session: Session, client_id: str, *, limit: int = 100) -> list[TokenRow]:
    """The client's stored tokens, newest first: the start of each hash, never a token."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"The limit must be 1 to {MAX_PAGE}.")
    return oauth.client_tokens(session, _client(session, client_id).id, limit=limit)


# --- scopes ----------------------------------------------------------------------------


def add_scope(
    session: Session, actor: Actor, name: str, *, is_default: bool = False, now: datetime
) -> bool | None:
    """Add a scope, or set whether an existing one is a default one; return whether it was
    a default one before (None: it is new), so the caller can say what changed."""
    oauth.validate_plain_text(name, "The scope")
    existing = session.scalar(select(Scope).where(Scope.scope == name))
    before = None if existing is None else {"is_default": existing.is_default}
    oauth.add_scope(session, name, is_default=is_default)
    if before != {"is_default": is_default}:
        audit.record(
            session,
            actor=actor,
            action="scope.add",
            target=name,
            before=before,
            after={"is_default": is_default},
            now=now,
        )
    return None if before is None else before["is_default"]


def remove_scope(session: Session, actor: Actor, name: str, *, now: datetime) -> None:
    """Remove a scope; refused (ScopeInUse) while a client's own scope names it."""
    oauth.validate_plain_text(name, "The scope")
    existing = session.scalar(select(Scope).where(Scope.scope == name))
    if existing is None or existing.scope != name:
        raise NotFound(f"No scope {name!r}.")
    users = oauth.clients_using_scope(session, name, limit=11)
    if users:
        raise ScopeInUse(name, users)
    before = {"is_default": existing.is_default}
    oauth.remove_scope(session, name)
    audit.record(session, actor=actor, action="scope.remove", target=name, before=before, now=now)


def set_default_scopes(session: Session, actor: Actor, names: list[str], *, now: datetime) -> None:
    """Make exactly these scopes the default ones (none when empty); each must exist."""
    for name in names:
        oauth.validate_plain_text(name, "The scope")
    before = [name for name, default in oauth.scope_defaults(session).items() if default]
    oauth.set_default_scopes(session, names)
    after = [name for name, default in oauth.scope_defaults(session).items() if default]
    if before != after:
        audit.record(
            session,
            actor=actor,
            action="scope.default",
            target="scopes",
            before={"default": before},
            after={"default": after},
            now=now,
        )


def clients_using_scope(session: Session, name: str, *, limit: int = 20) -> list[str]:
    """The client ids whose own scope names ``name`` (at most ``limit``)."""
    return oauth.clients_using_scope(session, name, limit=limit)


# --- plugins ---------------------------------------------------------------------------


def set_plugin_enabled(
    session: Session, actor: Actor, name: str, enabled: bool, *, now: datetime
) -> None:
    """Enable or disable a plugin (every worker sees it within CACHE_MAX_AGE); enabling is
    refused (MissingSettings) while a param its manifest requires is not set."""
    registry = get_registry()
    status = registry.status(session, _plugin(name))
    before = status.enabled
    if enabled:
        missing = unset_required(status.plugin, status.params)
        if missing:
            raise MissingSettings(name, missing)
    registry.set_enabled(session, name, enabled, now=now)
    if before != enabled:
        audit.record(
            session,
            actor=actor,
            action="plugin.enable" if enabled else "plugin.disable",
            target=name,
            before={"enabled": before},
            after={"enabled": enabled},
            now=now,
        )


def set_plugin_params(
    session: Session, actor: Actor, name: str, updates: Mapping[str, str], *, now: datetime
) -> Mapping[str, Any]:
    """Validate and store params (ParamsError, with ``.messages`` per field, when one is bad,
    or empties a param an enabled plugin requires: nothing is stored); return the effective
    params."""
    registry = get_registry()
    status = registry.status(session, _plugin(name))
    before = status.params
    if status.enabled and status.plugin.required_to_enable:
        try:
            after = status.plugin.params().load({**status.stored, **updates})
        except ValidationError:
            pass  # set_params says why
        else:
            emptied = unset_required(status.plugin, after)
            if emptied:
                raise ParamsError(
                    name,
                    {
                        key: ["Required while the plugin is enabled: disable it first to clear it."]
                        for key in emptied
                    },
                )
    loaded = registry.set_params(session, name, updates, now=now)
    changed = [key for key in updates if before.get(key) != loaded.get(key)]
    if changed:
        audit.record(
            session,
            actor=actor,
            action="plugin.params",
            target=name,
            before={key: before.get(key) for key in changed},
            after={key: loaded[key] for key in changed},
            now=now,
        )
    return loaded


def reset_plugin(session: Session, actor: Actor, name: str, *, now: datetime) -> None:
    """Put a plugin's params back to their defaults (its enabled flag stays); refused
    (ValueError) for an enabled plugin whose required params have empty defaults."""
    registry = get_registry()
    status = registry.status(session, _plugin(name))
    if not status.stored:
        return
    if status.enabled:
        emptied = unset_required(status.plugin, status.plugin.params().load({}))
        if emptied:
            raise ValueError(
                f"The {name} plugin is enabled and needs {' and '.join(emptied)}, which the "
                "defaults leave empty: disable the plugin first to reset its options."
            )
    row = session.get(PluginState, name)
    row.params = "{}"
    row.updated_at = now
    registry.set_enabled(session, name, status.enabled, now=now)  # forgets this worker's copy
    audit.record(
        session,
        actor=actor,
        action="plugin.reset",
        target=name,
        before=dict(status.stored),
        after={},
        now=now,
    )


def unset_required(plugin: Plugin, params: Mapping[str, Any]) -> list[str]:
    """The params of ``plugin.required_to_enable`` that are empty (None, "", [], {})."""
    return [key for key in plugin.required_to_enable if _is_empty(params.get(key))]


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | tuple | dict | set | frozenset) and not value


# --- site users ------------------------------------------------------------------------


# A password shorter than this is easier to guess: taken with a warning (an old site's
# passwords such as "apipass" are carried over as they are), by the CLI and the pages alike.
SHORT_PASSWORD = 12
# What ``users show`` and the user's page say of the kind of password a user has.
PASSWORD_KINDS = {
    oauth.ARGON2ID: "argon2id",
    oauth.OTHER_FORMAT: "in another format (an import's): replaced by argon2id at the next login",
    oauth.NO_PASSWORD: "none (cannot log in)",
}


def short_password_warning(password: str) -> str | None:
    """The warning a short new password gets (it is stored all the same), or None."""
    if len(password) < SHORT_PASSWORD:
        return f"Warning: a password shorter than {SHORT_PASSWORD} characters is easier to guess."
    return None


def list_users(
    session: Session,
    *,
    search: str = "",
    blocked: bool | None = None,
    offset: int = 0,
    limit: int = 50,
) -> oauth.UserPage:
    """A page of site users by username; ``search``: part of a username, name or email;
    ``blocked``: only the blocked users (True) or the others (False)."""
    return oauth.list_users(session, search=search, blocked=blocked, offset=offset, limit=limit)


def show_user(session: Session, username: str) -> oauth.UserRecord:
    """The site user with this username (any case); NotFound if there is none."""
    return _user(session, username)


def user_by_id(session: Session, user_id: int) -> oauth.UserRecord:
    """The site user with this id; NotFound if there is none."""
    user = oauth.get_user(session, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


def user_clients(session: Session, user_id: int, *, limit: int = 50) -> tuple[int, list[str]]:
    """How many clients act as the user (their user id is its id), and the first ``limit``."""
    return oauth.user_clients(session, user_id, limit=limit)


def user_tokens(
    session: Session, user_id: int, *, now: datetime, limit: int = 50
) -> tuple[int, list[oauth.UserToken]]:
    """How many live tokens the user holds, and the newest ``limit`` (never a token)."""
    return oauth.user_tokens(session, user_id, now=now, limit=limit)


def create_user(
    session: Session, actor: Actor, spec: oauth.UserSpec, *, now: datetime
) -> oauth.UserRecord:
    """Create a site user (the password stored as an argon2id hash), audited."""
    user = oauth.create_user(session, spec, now=now)
    audit.record(
        session,
        actor=actor,
        action="user.create",
        target=user.username,
        after={
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "groups": list(user.groups),
            "password": None if spec.password is None else "set",
        },
        now=now,
    )
    return user


def set_user_password(
    session: Session, actor: Actor, username: str, password: str, *, now: datetime
) -> oauth.UserRecord:
    """Give a site user a new password (argon2id), replacing a hash of any other format."""
    user = _user(session, username)
    oauth.set_password(session, user.id, password, now=now)
    audit.record(
        session,
        actor=actor,
        action="user.password",
        target=user.username,
        after={"password": "changed"},
        now=now,
    )
    return user


def set_user_blocked(
    session: Session, actor: Actor, username: str, blocked: bool, *, now: datetime
) -> int | None:
    """Block a site user (their logins fail as with a wrong password, and their tokens are
    revoked) or unblock them. Returns the tokens revoked; None when nothing changed."""
    user = _user(session, username)
    if not oauth.set_user_blocked(session, user.id, blocked):
        return None
    removed = oauth.revoke_user_tokens(session, user.id) if blocked else 0
    audit.record(
        session,
        actor=actor,
        action="user.block" if blocked else "user.unblock",
        target=user.username,
        before={"blocked": not blocked},
        after={"blocked": blocked, **({"tokens_removed": removed} if blocked else {})},
        now=now,
    )
    if removed:
        _forget_tokens_here()
    return removed


def delete_user(session: Session, actor: Actor, username: str, *, now: datetime) -> int:
    """Delete a site user with their groups and tokens; return the tokens removed."""
    user = _user(session, username)
    removed = oauth.delete_user(session, user.id)
    audit.record(
        session,
        actor=actor,
        action="user.delete",
        target=user.username,
        before={"id": user.id, "name": user.name, "email": user.email},
        after={"tokens_removed": removed},
        now=now,
    )
    if removed:
        _forget_tokens_here()
    return removed


# --- admin users -----------------------------------------------------------------------


def create_admin_user(
    session: Session, actor: Actor, username: str, password: str, *, now: datetime
) -> None:
    """Add an admin user who may log in to the admin pages (password stored as argon2id)."""
    _validate_username(username)
    if _admin(session, username, required=False) is not None:
        raise ValueError(f"An admin user {username!r} already exists.")
    password_hash = _hash_password(password)
    session.add(
        AdminUser(
            username=username,
            password_hash=password_hash,
            created_at=now,
            password_changed_at=now,
            last_login_at=None,
        )
    )
    audit.record(
        session,
        actor=actor,
        action="admin.create",
        target=username,
        after={"password": "set"},
        now=now,
    )


def set_admin_password(
    session: Session, actor: Actor, username: str, password: str, *, now: datetime
) -> None:
    """Give an admin user a new password."""
    user = _admin(session, username)
    user.password_hash = _hash_password(password)
    user.password_changed_at = now
    audit.record(
        session,
        actor=actor,
        action="admin.password",
        target=username,
        after={"password": "changed"},
        now=now,
    )


def delete_admin_user(session: Session, actor: Actor, username: str, *, now: datetime) -> None:
    """Remove an admin user."""
    user = _admin(session, username)
    session.delete(user)
    audit.record(
        session,
        actor=actor,
        action="admin.delete",
        target=username,
        before={"created_at": user.created_at, "last_login_at": user.last_login_at},
        now=now,
    )


def end_admin_sessions(session: Session, admin_id: int, *, now: datetime) -> None:
    """End every session of the admin user (their logout): sessions begun before ``now``
    are refused from their next page, a copy of their cookie too (emulator/manage/admin/auth.py)."""
    user = session.get(AdminUser, admin_id)
    if user is not None:
        user.sessions_ended_at = now


def list_admin_users(session: Session) -> list[AdminUser]:
    """Every admin user, by username."""
    return list(session.scalars(select(AdminUser).order_by(AdminUser.username)))


def find_admin_user(session: Session, username: str) -> AdminUser | None:
    """The admin user of exactly this username, or None (a name no username can be too)."""
    if not isinstance(username, str) or oauth.has_control_characters(username):
        return None
    return _admin(session, username, required=False)


def check_admin_password(
    session: Session, username: str, password: str, *, now: datetime | None = None
) -> AdminUser | None:
    """The admin user if ``password`` is theirs, else None; an unknown user costs one hash
    too. A hash with old parameters is replaced; ``now`` sets ``last_login_at`` on success
    (in the caller's transaction)."""
    user = find_admin_user(session, username)
    valid_input = isinstance(password, str) and 0 < len(password) <= MAX_PASSWORD_LENGTH
    if user is None or not valid_input:
        oauth.check_secret(_dummy_hash(), password if valid_input else "")
        return None
    if not oauth.check_secret(user.password_hash, password):
        return None
    if oauth.needs_rehash(user.password_hash):
        user.password_hash = oauth.hash_secret(password)
    if now is not None:
        user.last_login_at = now
    return user


def admin_user_dict(user: AdminUser) -> dict[str, Any]:
    """An admin user as JSON-able values (never the hash)."""
    return {
        "username": user.username,
        "created_at": _iso(user.created_at),
        "password_changed_at": _iso(user.password_changed_at),
        "last_login_at": _iso(user.last_login_at),
    }


# --- helpers ---------------------------------------------------------------------------


def _client(session: Session, client_id: str) -> Client:
    client = oauth.find_client(session, client_id)
    if client is None:
        raise NotFound(f"No client {client_id!r}.")
    return client


def _fields(client: Client) -> dict[str, Any]:
    return {
        "scope": client.scope or None,
        "grant_types": client.grant_types,
        "redirect_uri": client.redirect_uri,
        "user_id": client.user_id,
    }


def _rows(session: Session, clients: list[Client], now: datetime) -> list[ClientRow]:
    """ClientRows for these clients: live token counts and last use, one query each."""
    pks = [client.id for client in clients]
    counts: dict[str, dict[int, int]] = {}
    for kind, model in (("access", AccessToken), ("refresh", RefreshToken)):
        counts[kind] = dict(
            session.execute(
                select(model.client_id, func.count())
                .where(model.client_id.in_(pks), model.expires_at >= now.replace(microsecond=0))
                .group_by(model.client_id)
            ).all()
        )
    last_used = dict(
        session.execute(
            select(UsageCount.client_id, func.max(UsageCount.last_seen))
            .where(UsageCount.client_id.in_(pks))
            .group_by(UsageCount.client_id)
        ).all()
    )
    marked: dict[int, list[str]] = {}
    for mark in client_marks().values() if pks else ():
        for pk in session.scalars(
            select(Client.id).where(Client.id.in_(pks), Client.id.in_(mark.members()))
        ):
            marked.setdefault(pk, []).append(mark.label)
    return [
        ClientRow(
            client_id=client.client_id,
            public=client.is_public,
            disabled=client.disabled,
            scope=client.scope or None,
            grant_types=client.grant_types,
            redirect_uri=client.redirect_uri,
            user_id=client.user_id,
            created_at=client.created_at,
            secret_grace_until=(
                client.previous_secret_until
                if client.previous_secret_hash is not None
                and client.previous_secret_until is not None
                and client.previous_secret_until > now
                else None
            ),
            access_tokens=counts["access"].get(client.id, 0),
            refresh_tokens=counts["refresh"].get(client.id, 0),
            last_used=last_used.get(client.id),
            marks=tuple(marked.get(client.id, ())),
        )
        for client in clients
    ]


def _tokens_ended(session: Session, client_id: str) -> None:
    """Tell the installed plugins that every token of this client ended here."""
    if not has_app_context():
        return
    registry = get_registry()
    for name in sorted(registry.plugins):
        hook = registry.plugins[name].client_tokens_ended
        if hook is not None:
            hook(session, client_id)


def _forget_here(client_id: str, *, tokens: bool = False) -> None:
    """Drop this worker's copies (the admin pages' worker sees the change at once; other
    workers within CACHE_MAX_AGE)."""
    if not has_app_context():
        return
    stores.clients().forget(client_id)
    if tokens:
        stores.access_tokens().clear()


def _forget_tokens_here() -> None:
    """Drop this worker's verified access tokens (others drop theirs within CACHE_MAX_AGE)."""
    if has_app_context():
        stores.access_tokens().clear()


def _user(session: Session, username: str) -> oauth.UserRecord:
    user = oauth.find_user(session, username)
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


def _plugin(name: str) -> str:
    try:
        get_registry().get(name)
    except KeyError as error:
        raise NotFound(error.args[0]) from None
    return name


def _validate_username(username: str) -> None:
    if not _USERNAME.fullmatch(username):
        raise ValueError(
            "A username is 1 to 150 letters, digits and _ . @ - (starting with a letter or digit)."
        )


def _admin(session: Session, username: str, *, required: bool = True) -> AdminUser | None:
    user = session.scalar(select(AdminUser).where(AdminUser.username == username))
    if user is not None and user.username != username:  # exact whatever the collation
        user = None
    if user is None and required:
        raise NotFound(f"No admin user {username!r}.")
    return user


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"A password must be at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"A password must be at most {MAX_PASSWORD_LENGTH} characters.")
    if "\0" in password:
        raise ValueError("A password cannot hold NUL.")
    return oauth.hash_secret(password)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches, checked for an unknown user (same cost as a known one)."""
    return oauth.hash_secret(secrets.token_hex(16))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else f"{moment:%Y-%m-%dT%H:%M:%S}Z"
