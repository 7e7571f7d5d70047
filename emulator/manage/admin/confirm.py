"""The confirmation pages of the actions that break clients: what breaks, said before it does.

Disabling a client, revoking its tokens, deleting it, disabling a plugin, resetting a
plugin's options, blocking a site user and deleting one each take two posts: the first
(the button on the page) answers with a page that names what stops working, the second
(its Confirm button, which adds ``confirm=1``) does it. Both carry the CSRF token; the
page needs no JavaScript.

What a plugin serves is read from its manifest (its operations, routes and hooks), so the
words are the host's and fit every plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import timedelta

from flask import request
from flask import url_for
from markupsafe import Markup
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from emulator.manage import actions
from emulator.manage.admin.auditlog import shorten
from emulator.manage.admin.params import as_text
from emulator.manage.admin.params import default_of
from emulator.oauth import UserRecord
from emulator.storage.models import Client
from emulator.storage.models import UsageCount
from emulator.web.plugin import Plugin
from emulator.web.registry import PluginStatus
from emulator.web.registry import get_registry

# The form field the Confirm button adds; a post without it only shows the page.
CONFIRM = "confirm"
# How far back "clients that use it" looks, and how many of them are named.
USE_DAYS = 30
NAMED_CLIENTS = 10


@dataclass(frozen=True)
class Confirmation:
    """One confirmation page: what breaks, and the post that does it."""

    title: str
    consequences: Sequence[str]  # text or Markup, one paragraph each; the first says it all
    action: str  # the URL the Confirm button posts to
    button: str
    cancel: str  # where Cancel goes back to
    fields: Mapping[str, str] = field(default_factory=dict)  # posted again with the confirm
    crumbs: Sequence[tuple[str, str]] = ()  # (label, URL) above the title
    details: Sequence[str] = ()  # a list under the consequences (text or Markup)


def is_confirmed() -> bool:
    """Whether this post came from a confirmation page's Confirm button."""
    return request.form.get(CONFIRM) == "1"


def _tokens(row: actions.ClientRow) -> str:
    """ "its 3 live access tokens and 1 refresh token" (or "it has no live token")."""
    if not row.access_tokens and not row.refresh_tokens:
        return "it has no live token"
    access = _count(row.access_tokens, "live access token")
    refresh = _count(row.refresh_tokens, "refresh token")
    return f"its {access} and {refresh}"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _client_crumbs(row: actions.ClientRow) -> list[tuple[str, str]]:
    return [
        ("Clients", url_for("admin.clients")),
        (row.client_id, url_for("admin.client", client_id=row.client_id)),
    ]


def disable_client(row: actions.ClientRow) -> Confirmation:
    """Disabling a client: its tokens stop working and it gets no new ones, until enabled."""
    tokens = _tokens(row)
    lead = (
        f"Disabling client {row.client_id}: {tokens}; they stop working and it can get no new "
        "ones. Its credentials are refused as an unknown client's, in every worker within a "
        "second."
        if row.access_tokens or row.refresh_tokens
        else f"Disabling client {row.client_id}: it can get no tokens any more. Its "
        "credentials are refused as an unknown client's, in every worker within a second."
    )
    return Confirmation(
        title=f"Disable client {row.client_id}?",
        consequences=[
            lead,
            _last_used(row),
            "Enable it again to undo: its unexpired tokens work again.",
        ],
        action=url_for("admin.client_state", client_id=row.client_id),
        fields={"disabled": "1"},
        button="Disable the client",
        cancel=url_for("admin.client", client_id=row.client_id),
        crumbs=_client_crumbs(row),
    )


def revoke_tokens(row: actions.ClientRow) -> Confirmation:
    """Revoking every token of a client: whoever holds one must ask for a new one."""
    tokens = _tokens(row)
    lead = (
        f"Revoking every token of client {row.client_id}: {tokens}; they are deleted and stop "
        "working at once, in every worker within a second. Whoever holds one must ask for a "
        "new one."
    )
    return Confirmation(
        title=f"Revoke every token of {row.client_id}?",
        consequences=[
            lead,
            "The client's credentials keep working: it can get new tokens.",
            "This cannot be undone.",
        ],
        action=url_for("admin.client_revoke", client_id=row.client_id),
        button="Revoke every token",
        cancel=url_for("admin.client", client_id=row.client_id),
        crumbs=_client_crumbs(row),
    )


def delete_client(row: actions.ClientRow) -> Confirmation:
    """Deleting a client: its credentials and tokens go, and what plugins keep about it."""
    tokens = _tokens(row)
    lead = (
        f"Deleting client {row.client_id}: its credentials stop working and {tokens}; they "
        "are removed, in every worker within a second."
        if row.access_tokens or row.refresh_tokens
        else f"Deleting client {row.client_id}: its credentials stop working, in every worker "
        "within a second."
    )
    return Confirmation(
        title=f"Delete client {row.client_id}?",
        consequences=[
            lead,
            _last_used(row),
            "What the plugins keep about it (their panels' settings) goes with it. "
            "This cannot be undone.",
        ],
        action=url_for("admin.client_delete", client_id=row.client_id),
        button="Delete the client",
        cancel=url_for("admin.client", client_id=row.client_id),
        crumbs=_client_crumbs(row),
    )


def _last_used(row: actions.ClientRow) -> str:
    if row.last_used is None:
        return "No use of it has been counted."
    return f"It was last used at {row.last_used:%Y-%m-%d %H:%M:%S} UTC."


def disable_plugin(session: Session, status: PluginStatus, *, today: date) -> Confirmation:
    """Disabling a plugin: its URLs answer as the original did with that API off."""
    plugin = status.plugin
    breaks = _served(plugin)
    lead = Markup("Disabling the {} plugin ({}): ").format(plugin.name, plugin.title)
    lead += Markup("; ").join(breaks) + "."
    consequences: list[str] = [lead]
    taker = _fallback_elsewhere(session, plugin)
    if taker is not None and (plugin.operations or plugin.routes):
        consequences.append(
            f"The enabled {taker} plugin answers what no enabled plugin answers: those "
            f"requests go to it instead."
        )
    if plugin.operations or plugin.routes:
        consequences.append(_users(session, plugin.name, today=today))
    shown = [
        words
        for words, hook in (
            ("its panel", plugin.client_panel),
            ("its token commands", plugin.token_examples),
        )
        if hook is not None
    ]
    if shown:
        consequences.append(
            f"{' and '.join(shown).capitalize()} "
            f"{'leaves' if shown == ['its panel'] else 'leave'} the client pages until it is "
            "enabled again."
        )
    consequences.append("Enable it again to undo: its options are kept.")
    return Confirmation(
        title=f"Disable the {plugin.name} plugin?",
        consequences=consequences,
        action=url_for("admin.plugin_enabled", name=plugin.name),
        fields={"enabled": "0"},
        button="Disable the plugin",
        cancel=url_for("admin.plugins"),
        crumbs=[("Plugins", url_for("admin.plugins"))],
    )


def _served(plugin: Plugin) -> list[Markup]:
    """What stops answering, one phrase per kind of thing the manifest declares."""
    phrases = []
    if plugin.operations:
        first, *others = plugin.operations
        phrase = Markup("every <code>index.php?option={}&amp;api={}</code> request").format(
            first, plugin.name
        )
        if others:
            phrase += Markup(" (and option={})").format(", ".join(others))
        phrases.append(phrase + " will be answered as the original did with the API off")
    for route in plugin.routes:
        if route.rule.startswith("/<") and route.rule.count("/") == 1:  # a catch-all
            phrases.append(
                Markup(
                    "the paths it serves (any path no other route claims) will answer as "
                    "unknown paths"
                )
            )
        else:
            phrases.append(
                Markup("<code>{}</code> will answer as an unknown path").format(route.rule)
            )
    if plugin.fallback is not None:
        phrases.append(
            Markup(
                "requests no enabled plugin answers stop going to it and get the host's own "
                "answer (an unknown API or path)"
            )
        )
    if plugin.observe is not None:
        phrases.append(Markup("it stops watching the requests other plugins answer"))
    return phrases or [Markup("nothing it serves is answered any more")]


def _fallback_elsewhere(session: Session, plugin: Plugin) -> str | None:
    """The first other enabled plugin that takes what no plugin answers, if any."""
    registry = get_registry()
    for name in sorted(registry.plugins):
        other = registry.plugins[name]
        if name != plugin.name and other.fallback is not None:
            if registry.status(session, name).enabled:
                return name
    return None


def _users(session: Session, plugin: str, *, today: date) -> str:
    """How many clients used the plugin in the last USE_DAYS days, naming a few."""
    total, named = recent_clients(session, plugin, since=today - timedelta(days=USE_DAYS - 1))
    if not total:
        return f"No client used it in the last {USE_DAYS} days (as far as the usage counts tell)."
    shown = ", ".join(named) + (f" and {total - len(named):,} more" if total > len(named) else "")
    return f"{_count(total, 'client')} used it in the last {USE_DAYS} days: {shown}."


def recent_clients(
    session: Session, plugin: str, *, since: date, limit: int = NAMED_CLIENTS
) -> tuple[int, list[str]]:
    """How many clients the usage counts saw using ``plugin`` since ``since``, and the
    first ``limit`` of their ids (the counts are indexed by day: a bounded read)."""
    users = (
        select(UsageCount.client_id)
        .where(UsageCount.plugin == plugin, UsageCount.day >= since)
        .distinct()
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(users)) or 0
    named = session.scalars(
        select(Client.client_id)
        .where(Client.id.in_(select(users.c.client_id)))
        .order_by(Client.client_id)
        .limit(limit)
    )
    return total, list(named)


def reset_plugin(status: PluginStatus) -> Confirmation:
    """Resetting a plugin's options: each option an admin set goes back to its default."""
    plugin = status.plugin
    fields = plugin.params().fields
    lines = [
        Markup("<code>{}</code>: {} -&gt; {}").format(
            key,
            shorten(as_text(status.params[key])),
            shorten(as_text(default_of(fields[key]))),
        )
        for key in sorted(status.stored)
        if key in fields
    ]
    served = "it serves with the defaults" if status.enabled else "they apply once it is enabled"
    return Confirmation(
        title=f"Reset the options of {plugin.name}?",
        consequences=[
            f"Resetting the options of the {plugin.name} plugin: every option an admin set "
            f"goes back to its default; {served}, in every worker within a second.",
            "This cannot be undone: the values set now are not kept (the audit log has them).",
        ],
        details=lines,
        action=url_for("admin.plugin_reset", name=plugin.name),
        button="Reset to defaults",
        cancel=url_for("admin.plugin", name=plugin.name),
        crumbs=[
            ("Plugins", url_for("admin.plugins")),
            (plugin.name, url_for("admin.plugin", name=plugin.name)),
        ],
    )


# --- site users ------------------------------------------------------------------------


def _user_crumbs(user: UserRecord) -> list[tuple[str, str]]:
    return [
        ("Users", url_for("admin.users")),
        (user.username, url_for("admin.user", user_id=user.id)),
    ]


def _user_tokens(live_tokens: int) -> str:
    if not live_tokens:
        return "the user holds no live token"
    return f"the user's {_count(live_tokens, 'live token')} {'is' if live_tokens == 1 else 'are'}"


def _acting_clients(clients: int) -> list[str]:
    if not clients:
        return []
    return [
        f"{_count(clients, 'client')} {'acts' if clients == 1 else 'act'} as this user "
        "(their user id is its id): "
        f"{'it keeps' if clients == 1 else 'they keep'} working with their own credentials."
    ]


def block_user(user: UserRecord, *, live_tokens: int, clients: int) -> Confirmation:
    """Blocking a site user: logins refused, every token issued to the user revoked."""
    revoked = (
        f"{_user_tokens(live_tokens)} revoked (deleted: whoever holds one must log in again, "
        "which is refused)"
        if live_tokens
        else "the user holds no live token"
    )
    return Confirmation(
        title=f"Block user {user.username}?",
        consequences=[
            f"Blocking user {user.username}: their logins are refused (as with a wrong "
            f"password), on every way of logging in; {revoked}, in every worker within a second.",
            *_acting_clients(clients),
            "Unblock to undo: the user can log in again, but revoked tokens stay revoked.",
        ],
        action=url_for("admin.user_blocked", user_id=user.id),
        fields={"blocked": "1"},
        button="Block the user",
        cancel=url_for("admin.user", user_id=user.id),
        crumbs=_user_crumbs(user),
    )


def delete_user(user: UserRecord, *, live_tokens: int, clients: int) -> Confirmation:
    """Deleting a site user: the account, its groups and every token issued to it go."""
    tokens = (
        f"; {_user_tokens(live_tokens)} removed" if live_tokens else " (it holds no live token)"
    )
    return Confirmation(
        title=f"Delete user {user.username}?",
        consequences=[
            f"Deleting user {user.username} (id {user.id}): their logins stop working, their "
            f"groups go{tokens}, in every worker within a second.",
            *_acting_clients(clients),
            "This cannot be undone: block the user instead to keep the account.",
        ],
        action=url_for("admin.user_delete", user_id=user.id),
        button="Delete the user",
        cancel=url_for("admin.user", user_id=user.id),
        crumbs=_user_crumbs(user),
    )
