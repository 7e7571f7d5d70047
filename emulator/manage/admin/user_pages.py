"""The site users' admin pages: the list, a user's page, and what the CLI's `flask users` does.

Each change is the CLI's own action (emulator/manage/actions.py), so it is checked the same
way and writes the same audit event, with the admin as the actor. A user's pages are
addressed by the user's id (the one tokens and clients name); an id that is no user's, or
no number, is the admin's 404 page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

from flask import Response
from flask import abort
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from flask_login import login_required

from emulator import oauth
from emulator.manage import actions
from emulator.manage.admin import confirm
from emulator.manage.admin import lists
from emulator.manage.admin.forms import ActionForm
from emulator.manage.admin.forms import PasswordFields
from emulator.manage.admin.forms import UserCreateForm
from emulator.manage.admin.views import PAGE_SIZE
from emulator.manage.admin.views import actor
from emulator.manage.admin.views import bp
from emulator.manage.admin.views import change
from emulator.manage.admin.views import confirm_page
from emulator.manage.admin.views import requested_page
from emulator.ops.clock import utcnow
from emulator.storage.database import db

T = TypeVar("T")

# How many of a user's clients and live tokens the page lists (the counts are whole).
SHOWN = 50


@bp.route("/users")
@login_required
def users() -> tuple[str, int]:
    """The site users by username, 50 a page, with a search (username, name or email) and a
    blocked filter kept in the query string."""
    query, problems = lists.parse_user_query(request.args)
    number = requested_page()
    if query.refused_search:
        page = oauth.UserPage(rows=[], total=0, offset=0, limit=PAGE_SIZE)
    else:
        page = actions.list_users(
            db.session, offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE, **query.list_arguments()
        )
    return render_template(
        "admin/users.html",
        page=page,
        query=query,
        choices=lists.BLOCKED,
        page_number=number,
        pages=max(1, math.ceil(page.total / PAGE_SIZE)),
        problem=" ".join(problems) or None,
    ), (400 if problems else 200)


@bp.route("/users/new", methods=["GET", "POST"])
@login_required
def user_new() -> tuple[str, int] | Response:
    """Add a site user as `flask users create` does (the password asked twice)."""
    form = UserCreateForm()
    problem = None
    if form.validate_on_submit():
        password = form.password.data or ""
        spec = oauth.UserSpec(
            username=form.username.data or "",
            password=password,
            name=(form.name.data or "").strip() or None,
            email=(form.email.data or "").strip(),
            groups=tuple(
                title.strip() for title in (form.groups.data or "").split(",") if title.strip()
            ),
        )
        try:
            user = change(lambda: actions.create_user(db.session, actor(), spec, now=utcnow()))
        except ValueError as error:
            problem = f"{error} Nothing was saved."
        else:
            flash(f"User {user.username} created (id {user.id}).", "info")
            _warn_if_short(password)
            return redirect(url_for("admin.user", user_id=user.id), code=303)
    elif request.method == "POST":
        problem = "Nothing was saved: fix the fields marked below."
    return render_template("admin/user_new.html", form=form, problem=problem), (
        400 if problem else 200
    )


@bp.route("/users/<int:user_id>")
@login_required
def user(user_id: int) -> str:
    """A user: profile, groups, password kind, the clients acting as the user, live tokens,
    and the forms that block, unblock, set the password and delete."""
    return _user_page(_user(user_id))


def _user_page(
    record: oauth.UserRecord, form: PasswordFields | None = None, problem: str | None = None
) -> str:
    clients_total, clients = actions.user_clients(db.session, record.id, limit=SHOWN)
    tokens_total, tokens = actions.user_tokens(db.session, record.id, now=utcnow(), limit=SHOWN)
    return render_template(
        "admin/user.html",
        user=record,
        password_kind=actions.PASSWORD_KINDS[record.password_format],
        clients=clients,
        clients_total=clients_total,
        tokens=tokens,
        tokens_total=tokens_total,
        password_form=form or PasswordFields(formdata=None),
        action_form=ActionForm(),
        problem=problem,
    )


def _change_user(apply: Callable[[], T]) -> T:
    """``change`` for a user that may have gone since the page was read (another admin, the
    CLI): then the admin's 404, nothing done."""
    try:
        return change(apply)
    except actions.NotFound as error:
        abort(404, f"{error} Nothing was changed.")


def _user(user_id: int) -> oauth.UserRecord:
    try:
        return actions.user_by_id(db.session, user_id)
    except actions.NotFound:
        abort(404, f"No site user has the id {user_id}.")


def _counts(record: oauth.UserRecord) -> dict[str, int]:
    """What a confirmation names: the user's live tokens, the clients acting as the user."""
    return {
        "live_tokens": actions.user_tokens(db.session, record.id, now=utcnow(), limit=1)[0],
        "clients": actions.user_clients(db.session, record.id, limit=1)[0],
    }


@bp.route("/users/<int:user_id>/blocked", methods=["POST"])
@login_required
def user_blocked(user_id: int) -> Response | str:
    """Block (``blocked=1``, after a page that says what breaks) or unblock (``blocked=0``)."""
    record = _user(user_id)
    blocked = request.form.get("blocked") == "1"
    if blocked and not record.blocked and not confirm.is_confirmed():
        return confirm_page(confirm.block_user(record, **_counts(record)))
    removed = _change_user(
        lambda: actions.set_user_blocked(
            db.session, actor(), record.username, blocked, now=utcnow()
        )
    )
    name = record.username
    if removed is None:
        flash(
            f"User {name} was {'already' if blocked else 'not'} blocked; nothing changed.", "info"
        )
    elif blocked:
        flash(f"User {name} blocked; {_tokens(removed)} revoked.", "info")
    else:
        flash(f"User {name} unblocked.", "info")
    return redirect(url_for("admin.user", user_id=user_id), code=303)


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@login_required
def user_password(user_id: int) -> tuple[str, int] | Response:
    """Give the user a new password (asked twice), as `flask users set-password` does."""
    record = _user(user_id)
    form = PasswordFields()
    if not form.validate():
        return _user_page(record, form, "Nothing was changed: fix the fields marked below."), 400
    password = form.password.data or ""
    try:
        _change_user(
            lambda: actions.set_user_password(
                db.session, actor(), record.username, password, now=utcnow()
            )
        )
    except ValueError as error:
        return _user_page(record, problem=f"{error} Nothing was changed."), 400
    flash(f"Password of {record.username} changed.", "info")
    _warn_if_short(password)
    return redirect(url_for("admin.user", user_id=user_id), code=303)


@bp.route("/users/<int:user_id>/delete", methods=["GET", "POST"])
@login_required
def user_delete(user_id: int) -> Response | str:
    """Delete a user with their groups and tokens, after a confirmation page (a GET, or a
    post without the confirmation, shows it): `flask users delete --yes`."""
    record = _user(user_id)
    if request.method == "GET" or not confirm.is_confirmed():
        return confirm_page(confirm.delete_user(record, **_counts(record)))
    removed = _change_user(
        lambda: actions.delete_user(db.session, actor(), record.username, now=utcnow())
    )
    flash(f"User {record.username} deleted; {_tokens(removed)} revoked.", "info")
    return redirect(url_for("admin.users"), code=303)


def _warn_if_short(password: str) -> None:
    warning = actions.short_password_warning(password)
    if warning:
        flash(warning, "warning")


def _tokens(count: int) -> str:
    return "1 token" if count == 1 else f"{count:,} tokens"
