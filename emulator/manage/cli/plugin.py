"""What a plugin's own commands use of the CLI (re-exported by ``emulator.host``): its
state, audited changes as this CLI user, the shared argument type, commit and purge pacing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from emulator.manage import actions
from emulator.manage.cli.common import TEXT
from emulator.manage.cli.common import cli_actor
from emulator.manage.cli.common import commit_change
from emulator.manage.cli.common import purge_pacing
from emulator.ops import audit
from emulator.ops.clock import utcnow
from emulator.storage.database import db
from emulator.web.registry import get_registry

__all__ = [
    "TEXT",
    "commit_change",
    "plugin_state",
    "purge_pacing",
    "record_change",
    "record_client_fields",
    "set_plugin_state",
]


def plugin_state(name: str) -> tuple[bool, Mapping[str, Any]]:
    """A plugin's enabled flag and effective params, for a plugin's own admin commands."""
    status = get_registry().status(db.session, name)
    return status.enabled, status.params


def set_plugin_state(
    name: str,
    *,
    enabled: bool | None = None,
    params: Mapping[str, Any] | None = None,
    now: datetime,
) -> None:
    """Set a plugin's enabled flag and params (``emulator.manage.actions``: audited as this CLI
    user), in the caller's transaction (not committed). Params are validated; a refused
    one raises ParamsError."""
    if params:
        actions.set_plugin_params(db.session, cli_actor(), name, params, now=now)
    if enabled is not None:
        actions.set_plugin_enabled(db.session, cli_actor(), name, enabled, now=now)


def record_change(
    action: str,
    target: str,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Audit a plugin command's change as this CLI user, in the command's transaction
    (``commit_change`` commits the two together). ``action`` is the plugin's own, e.g.
    ``<plugin>.<thing>.add``; never a secret in ``before``/``after`` (``audit.record``)."""
    audit.record(
        db.session,
        actor=cli_actor(),
        action=action,
        target=target,
        before=before,
        after=after,
        now=utcnow(),
    )


def record_client_fields(
    plugin: str, client_id: str, changes: Mapping[str, tuple[Any, Any]]
) -> None:
    """Audit a plugin command's change of its fields of a client as the admin pages'
    panel does (``audit.record_plugin_fields``), as this CLI user."""
    audit.record_plugin_fields(
        db.session,
        actor=cli_actor(),
        plugin=plugin,
        client_id=client_id,
        changes=changes,
        now=utcnow(),
    )
