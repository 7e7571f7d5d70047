"""The admin pages: login, plugins, clients, scopes, activity and the audit log (the site
users' pages are in user_pages.py, on the same blueprint).

Views are thin: a form is checked for its shape, one actions.py function makes the change
(and writes its audit event) in the request's ORM session, the view commits; a refused value
(ValueError) rolls back and is shown beside its field or atop its form, nothing saved.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from typing import TypeVar
from urllib.parse import quote
from urllib.parse import unquote

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import flash
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from flask_login import current_user
from flask_login import login_required
from flask_login import logout_user
from flask_wtf.csrf import CSRFError
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.routing import PathConverter

from emulator import oauth
from emulator.manage import actions
from emulator.manage.admin import activity
from emulator.manage.admin import auditlog
from emulator.manage.admin import confirm
from emulator.manage.admin import lists
from emulator.manage.admin import params as params_form
from emulator.manage.admin import reveal
from emulator.manage.admin.auth import Admin
from emulator.manage.admin.auth import csrf
from emulator.manage.admin.auth import login_throttle
from emulator.manage.admin.auth import session_expired
from emulator.manage.admin.auth import start_session
from emulator.manage.admin.forms import ActionForm
from emulator.manage.admin.forms import ClientCreateForm
from emulator.manage.admin.forms import ClientFields
from emulator.manage.admin.forms import LoginForm
from emulator.manage.admin.forms import PanelForm
from emulator.manage.admin.forms import RotateForm
from emulator.manage.admin.forms import ScopeForm
from emulator.ops import audit
from emulator.ops import usage
from emulator.ops.clock import utcnow
from emulator.ops.throttle import source_key
from emulator.storage.database import db
from emulator.storage.models import Client
from emulator.storage.models import Scope
from emulator.web.errors import ParamsError
from emulator.web.plugin import Plugin
from emulator.web.plugin import TokenExample
from emulator.web.registry import get_registry

T = TypeVar("T")

bp = Blueprint(
    "admin",
    __name__,
    url_prefix="/admin",
    template_folder="templates",
    static_folder="static",
)


class ClientIdConverter(PathConverter):
    """A client id in an admin URL: any stored id, encoded whole (``/`` as ``%2F``).

    Werkzeug's path converter leaves ``/`` as it is, so the link of a stored id such as
    ``a/../b`` was ``/admin/clients/a/../b/edit``, which a browser resolves to client b's
    page (issue 20). Encoded, it is one segment; the server decodes it back.
    """

    regex = ".+?"  # an id may begin with "/" (new ones may not hold one: check_new_client_id)
    part_isolating = False  # it spans "/" (Werkzeug would infer True from this regex)

    def to_url(self, value: Any) -> str:
        """The id percent-encoded, ``/`` included."""
        return quote(str(value), safe="!$&'()*+,:;=@")


bp.record_once(lambda state: state.app.url_map.converters.setdefault("client", ClientIdConverter))

PAGE_SIZE = 50
AUDIT_PAGE_SIZE = 50
# The highest page number asked for that is taken as given (a larger one shows this page,
# empty): page * size stays far inside a database's 64-bit offset.
MAX_PAGE_NUMBER = 1_000_000
# The pages that need no session.
OPEN_ENDPOINTS = frozenset({"admin.login", "admin.static"})
# What the audit log and the log name for a failed login whose username is no admin's: not
# the typed text, which may be a password typed in the wrong box (no username has spaces).
UNKNOWN_USERNAME = "(unknown username)"


# --- every page ------------------------------------------------------------------------


@bp.before_request
def guard() -> Response | None:
    """CSRF on every post; an expired session ends here and goes back to the login."""
    if request.method == "POST":
        csrf.protect()
    if request.endpoint not in OPEN_ENDPOINTS and session_expired():
        logout_user()
        session.clear()
        flash("Your session has expired; log in again.", "error")
        return redirect(url_for("admin.login", next=request.path))
    return None


@bp.errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> tuple[str, int]:
    """A post without (or with a stale) CSRF token: refused, nothing done."""
    return render_template(
        "admin/error.html", title="Form expired", message=f"{error.description} Nothing was saved."
    ), 400


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[str, int]:
    """Werkzeug's errors inside the admin pages, as a page (not the legacy JSON shape)."""
    return render_template(
        "admin/error.html", title=error.name, message=error.description
    ), error.code or 500


@bp.errorhandler(Exception)
def unexpected_error(error: Exception) -> tuple[str, int]:
    """A bug or an outage: logged with its traceback, answered without one."""
    current_app.logger.exception("admin page failed: %s %s", request.method, request.path)
    db.session.rollback()
    return render_template(
        "admin/error.html", title="Something went wrong", message="Nothing was saved."
    ), 500


@bp.context_processor
def page_context() -> dict[str, Any]:
    """What the base template needs: the logout form (never filled from the request: an
    error page, such as a body's 413, must not read the body it refused)."""
    return {"logout_form": ActionForm(formdata=None)}


def actor() -> audit.Actor:
    """The logged-in admin, from this request's address."""
    return current_user.actor


def change(apply: Callable[[], T]) -> T:
    """Run one actions.py change and commit it; a ValueError rolls it back and propagates."""
    try:
        result = apply()
    except ValueError:
        db.session.rollback()
        raise
    db.session.commit()
    return result


@bp.route("/<path:_rest>", methods=["GET", "POST"])
def not_found(_rest: str) -> Response:
    """An /admin path no page has (never a plugin's catch-all route)."""
    abort(404)


@bp.route("/")
@login_required
def index() -> Response:
    """The clients page is the start page."""
    return redirect(url_for("admin.clients"))


# --- login -----------------------------------------------------------------------------


def _next_page(target: str | None) -> str:
    """Where to go after the login: ``target`` when it is a path under /admin of this site,
    else the start page (no open redirect, no header break: issue 20)."""
    return target if target and is_admin_path(target) else url_for("admin.clients")


def is_admin_path(target: str) -> bool:
    """Whether ``target`` is a path (and query) under /admin of this site for every reader.

    Refused: a control character (a CR or LF would break the Location header), a
    backslash, a scheme or host, an empty segment (``//``) and a dot segment (``..``,
    ``%2e%2e``, which a browser resolves out of /admin), in the path as sent and decoded.
    """
    path = target.split("?", 1)[0].split("#", 1)[0]
    decoded = unquote(path)
    forms = (target, decoded)
    return (
        path.startswith("/admin/")
        and not any(oauth.has_control_characters(text) or "\\" in text for text in forms)
        and "//" not in decoded
        and not any(segment in (".", "..") for segment in decoded.split("/"))
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int, dict[str, str]] | str:
    """Username and password; failures are counted and, past the limit, refused (429)."""
    form = LoginForm()
    if request.method == "GET" and current_user.is_authenticated and not session_expired():
        return redirect(_next_page(request.args.get("next")))
    if not form.validate_on_submit():
        return (
            render_template("admin/login.html", form=form, error=None),
            (400 if request.method == "POST" else 200),
            {},
        )
    username = form.username.data or ""
    address = request.remote_addr or "unknown"
    source = source_key(address)
    throttle = login_throttle()
    now = utcnow()
    wait = throttle.locked_for(username, source) if throttle is not None else None
    if wait is not None:
        minutes = math.ceil(wait / 60)
        error = (
            f"Too many failed logins from your address; try again in {minutes} "
            f"minute{'s' if minutes != 1 else ''}."
        )
        return (
            render_template("admin/login.html", form=form, error=error),
            429,
            {"Retry-After": str(wait)},
        )
    user = actions.check_admin_password(db.session, username, form.password.data or "", now=now)
    if user is None:
        account = actions.find_admin_user(db.session, username)
        shown = UNKNOWN_USERNAME if account is None else account.username
        # Counted first, on the throttle's own connection, before this session writes:
        # on SQLite a writer does not wait for itself (emulator/ops/throttle.py). A lockout is
        # audited by the throttle.
        if throttle is not None:
            throttle.failed(username, source, shown=shown)
        audit.record(
            db.session,
            actor=audit.Actor(name=audit.SYSTEM, address=address),
            action="admin.login_failed",
            target=shown,
            now=now,
        )
        db.session.commit()
        return (
            render_template("admin/login.html", form=form, error="Wrong username or password."),
            200,
            {},
        )
    admin = Admin.of(user)
    audit.record(
        db.session, actor=admin.actor, action="admin.login", target=admin.username, now=now
    )
    db.session.commit()
    start_session(admin)
    return redirect(_next_page(request.args.get("next")))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """End the session (a post with the CSRF token: no other site can log an admin out).

    The admin's sessions end in the database too: a copy of this signed cookie is refused.
    """
    now = utcnow()
    actions.end_admin_sessions(db.session, current_user.pk, now=now)
    audit.record(
        db.session, actor=actor(), action="admin.logout", target=current_user.username, now=now
    )
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("admin.login"))


# --- plugins ---------------------------------------------------------------------------


@bp.route("/plugins")
@login_required
def plugins() -> str:
    """Every plugin found: name, title, version, enabled; enable or disable it."""
    return _plugins_page()


def _plugins_page(problem: str | None = None) -> str:
    registry = get_registry()
    statuses = [registry.status(db.session, name) for name in sorted(registry.plugins)]
    return render_template(
        "admin/plugins.html", statuses=statuses, form=ActionForm(), problem=problem
    )


@bp.route("/plugins/<name>/enabled", methods=["POST"])
@login_required
def plugin_enabled(name: str) -> tuple[str, int] | Response | str:
    """Enable (``enabled=1``) or disable (``enabled=0``) a plugin; disabling an enabled
    one asks first (its URLs stop answering). Enabling without a param the plugin requires
    is refused, with a link to its settings."""
    plugin = _plugin(name)
    enabled = request.form.get("enabled") == "1"
    status = get_registry().status(db.session, name)
    if not enabled and status.enabled and not confirm.is_confirmed():
        return confirm_page(confirm.disable_plugin(db.session, status, today=utcnow().date()))
    try:
        change(
            lambda: actions.set_plugin_enabled(
                db.session, actor(), plugin.name, enabled, now=utcnow()
            )
        )
    except actions.MissingSettings as error:
        links = Markup(", ").join(
            Markup('<a href="{}">set {}</a>').format(
                url_for("admin.plugin", name=name, _anchor=f"param-{key}"), key
            )
            for key in error.missing
        )
        problem = Markup("{} Nothing was changed: {} in the plugin's settings.").format(
            str(error), links
        )
        return _plugins_page(problem), 400
    flash(f"Plugin {plugin.name} {'enabled' if enabled else 'disabled'}.", "info")
    if enabled and plugin.advise is not None:
        for advice in plugin.advise(get_registry().status(db.session, name).params):
            settings = url_for("admin.plugin", name=name)
            flash(Markup('{} <a href="{}">Its settings</a>').format(advice, settings), "warning")
    return redirect(url_for("admin.plugins"))


@bp.route("/plugins/<name>", methods=["GET", "POST"])
@login_required
def plugin(name: str) -> tuple[str, int] | Response:
    """A plugin's options, built from its params schema; a bad value is shown beside its
    field and nothing is saved."""
    plugin = _plugin(name)
    registry = get_registry()
    status = registry.status(db.session, name)
    submitted = None
    errors: dict[str, Any] = {}
    problem = None
    code = 200
    if request.method == "POST":
        submitted = {key: value for key, value in request.form.items() if key != "csrf_token"}
        updates = params_form.changed_values(status, submitted)
        if not updates:
            flash("Nothing changed.", "info")
            return redirect(url_for("admin.plugin", name=name))
        try:
            change(
                lambda: actions.set_plugin_params(db.session, actor(), name, updates, now=utcnow())
            )
        except ParamsError as error:
            errors = dict(error.messages)
            problem = "Nothing was saved: fix the fields marked below."
            code = 400
        except ValueError as error:
            problem = f"{error} Nothing was saved."
            code = 400
        else:
            flash(f"Saved {', '.join(sorted(updates))} for {name}.", "info")
            return redirect(url_for("admin.plugin", name=name))
    fields = params_form.form_fields(
        plugin.params, status, submitted if code != 200 else None, errors
    )
    advice = plugin.advise(status.params) if plugin.advise is not None else []
    return render_template(
        "admin/plugin.html",
        status=status,
        facts=plugin.facts(db.session) if plugin.facts is not None else [],
        fields=fields,
        problem=problem,
        advice=advice,
        required=set(plugin.required_to_enable),
        missing=actions.unset_required(plugin, status.params),
        form=ActionForm(),
    ), code


@bp.route("/plugins/<name>/reset", methods=["POST"])
@login_required
def plugin_reset(name: str) -> Response | str:
    """Every option of a plugin back to its default, after a page that lists them."""
    plugin = _plugin(name)
    status = get_registry().status(db.session, name)
    if status.stored and not confirm.is_confirmed():
        return confirm_page(confirm.reset_plugin(status))
    try:
        change(lambda: actions.reset_plugin(db.session, actor(), plugin.name, now=utcnow()))
    except ValueError as error:
        flash(f"{error} Nothing was changed.", "error")
    else:
        flash(f"Every option of {name} is back to its default.", "info")
    return redirect(url_for("admin.plugin", name=name))


def confirm_page(confirmation: confirm.Confirmation) -> str:
    """The page that names what an action breaks, with its Confirm button and Cancel."""
    return render_template("admin/confirm.html", confirmation=confirmation, form=ActionForm())


def _plugin(name: str) -> Plugin:
    try:
        return get_registry().get(name)
    except KeyError:
        abort(404)


# --- clients ---------------------------------------------------------------------------


@bp.route("/clients")
@login_required
def clients() -> tuple[str, int]:
    """The clients with search (id or user id), filters (state, type, the plugins' marks),
    a sort by column and paging; every choice kept in the query string."""
    marks = actions.client_marks()
    query, problems = lists.parse_query(request.args, marks)
    page_number = requested_page()
    if query.refused_search:
        page = actions.ClientPage(rows=[], total=0, offset=0, limit=PAGE_SIZE)
    else:
        page = actions.list_clients(
            db.session,
            offset=(page_number - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            **query.list_arguments(),
        )
    pages = max(1, math.ceil(page.total / PAGE_SIZE))
    return render_template(
        "admin/clients.html",
        page=page,
        query=query,
        marks=marks,
        mark_titles=_mark_titles(),
        sorts=lists.SORTS,
        states=lists.STATES,
        kinds=lists.TYPES,
        page_number=page_number,
        pages=pages,
        problem=" ".join(problems) or None,
    ), (400 if problems else 200)


def _mark_titles() -> dict[str, str]:
    """What each plugin's mark means, by its label (the badges' titles)."""
    return {mark.label: mark.description for mark in actions.client_marks().values()}


def requested_page() -> int:
    """The ``page`` asked for: 1 when absent or not a number, at most MAX_PAGE_NUMBER."""
    return min(MAX_PAGE_NUMBER, max(1, request.args.get("page", 1, type=int) or 1))


def _grant_types(form: ClientFields) -> str | None:
    return None if form.all_grants.data else " ".join((form.grant_types.data or "").split())


def _optional(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


@bp.route("/clients/new", methods=["GET", "POST"])
@login_required
def client_new() -> tuple[str, int] | str:
    """Register a client; its secret is shown once, with the token commands filled in."""
    form = ClientCreateForm()
    problem = None
    if form.validate_on_submit():
        client_id = form.client_id.data or ""
        try:
            spec = oauth.ClientSpec(
                client_id=client_id,
                secret=None if form.public.data else actions.new_secret(),
                scope=_optional(form.scope.data),
                grant_types=_grant_types(form),
                redirect_uri=(form.redirect_uri.data or "").strip(),
                user_id=_optional(form.user_id.data),
            )
            change(lambda: actions.create_client(db.session, actor(), spec, now=utcnow()))
            secret = spec.secret
        except ValueError as error:
            problem = f"{error} Nothing was saved."
        else:
            return _secret_page(client_id, secret, created=True), 201
    elif request.method == "POST":
        problem = "Nothing was saved: fix the fields marked below."
    return render_template("admin/client_new.html", form=form, problem=problem), (
        400 if problem else 200
    )


def _secret_page(client_id: str, secret: str | None, *, created: bool, grace: str = "") -> str:
    return render_template(
        "admin/secret.html",
        client_id=client_id,
        secret=secret,
        created=created,
        grace=grace,
        examples=token_examples(client_id, secret),
    )


def token_examples(client_id: str, secret: str | None) -> list[TokenExample]:
    """The enabled plugins' commands that get a token with these credentials (a disabled
    plugin's URL answers as unknown: its command would not work)."""
    registry = get_registry()
    base_url = request.host_url.rstrip("/")
    shown = []
    for name in sorted(registry.plugins):
        plugin = registry.plugins[name]
        if plugin.token_examples is None:
            continue
        status = registry.status(db.session, name)
        if status.enabled:
            shown.extend(plugin.token_examples(base_url, client_id, secret, status.params))
    return shown


@bp.route("/clients/<client:client_id>/edit", methods=["GET", "POST"])
@login_required
def client(client_id: str) -> tuple[str, int] | Response:
    """A client: its settings (scope, grant types, redirect URI, user id), its secret,
    its state, each plugin's panel, its live tokens."""
    row = _client_row(client_id)
    form = ClientFields() if request.method == "POST" else _edit_form(row)
    problem = None
    if form.validate_on_submit():
        try:
            change(
                lambda: actions.update_client(
                    db.session,
                    actor(),
                    client_id,
                    scope=_optional(form.scope.data),
                    grant_types=_grant_types(form),
                    redirect_uri=(form.redirect_uri.data or "").strip(),
                    user_id=_optional(form.user_id.data),
                    now=utcnow(),
                )
            )
        except ValueError as error:
            problem = f"{error} Nothing was saved."
        else:
            flash(f"Client {client_id} saved.", "info")
            return redirect(url_for("admin.client", client_id=client_id))
    elif request.method == "POST":
        problem = "Nothing was saved: fix the fields marked below."
    return _client_page(row, form, problem=problem), 400 if problem else 200


def _edit_form(row: actions.ClientRow) -> ClientFields:
    """The edit form filled in with the client's settings (not with the request's)."""
    return ClientFields(
        formdata=None,
        data={
            "scope": row.scope or "",
            "grant_types": row.grant_types or "",
            "all_grants": row.grant_types is None,
            "redirect_uri": row.redirect_uri,
            "user_id": row.user_id or "",
        },
    )


def _client_page(
    row: actions.ClientRow,
    form: ClientFields,
    *,
    problem: str | None = None,
    panel_problems: dict[str, str] | None = None,
    panel_values: dict[str, dict[str, str]] | None = None,
) -> str:
    pk = db.session.scalar(select(Client.id).where(Client.client_id == row.client_id))
    registry = get_registry()
    panels = []
    for name in sorted(registry.plugins):
        panel = registry.plugins[name].client_panel
        if panel is None or pk is None or not registry.status(db.session, name).enabled:
            continue  # a disabled plugin's settings of a client have no effect: not shown
        fields = list(panel.fields(db.session, pk, row.client_id))
        sent = (panel_values or {}).get(name)
        if sent is not None:
            fields = [
                type(field)(**{**field.__dict__, "value": sent.get(field.name, field.value)})
                for field in fields
            ]
        panels.append((name, panel.title, fields, (panel_problems or {}).get(name)))
    rotate_form = RotateForm()
    if not row.public:
        # The secret as this page shows it: a rotation sent from a copy older than the last
        # rotation (the browser sending the form again) is refused.
        rotate_form.secret_stamp.data = actions.secret_stamp(db.session, row.client_id)
    return render_template(
        "admin/client.html",
        row=row,
        form=form,
        problem=problem,
        panels=panels,
        tokens=actions.list_tokens(db.session, row.client_id, limit=20),
        mark_titles=_mark_titles(),
        rotate_form=rotate_form,
        action_form=ActionForm(),
        panel_form=PanelForm(),
    )


def _client_row(client_id: str) -> actions.ClientRow:
    try:
        return actions.show_client(db.session, client_id)
    except actions.NotFound:
        abort(404)


@bp.route("/clients/<client:client_id>/rotate", methods=["POST"])
@login_required
def client_rotate(client_id: str) -> tuple[str, int] | Response:
    """A new secret; the old one works on for the grace period given. The answer sends the
    browser to the page that shows the secret once (POST/redirect/GET: a reload of that page
    rotates nothing), and the same form sent again is refused: its stamp is of the secret
    the first one replaced."""
    row = _client_row(client_id)
    form = RotateForm()
    if not form.validate():
        errors = [*form.grace_minutes.errors, *form.secret_stamp.errors]
        problem = "Nothing was changed: " + " ".join(map(str, errors))
        return _client_page(row, _edit_form(row), problem=problem), 400
    minutes = int(form.grace_minutes.data or 0)

    def rotate() -> None:
        now = utcnow()
        secret = actions.rotate_secret(
            db.session,
            actor(),
            client_id,
            grace=timedelta(minutes=minutes),
            if_stamp=form.secret_stamp.data or "",
            now=now,
        )
        reveal.keep(db.session, client_id, secret, grace_minutes=minutes, now=now)

    try:
        change(rotate)
    except actions.SecretChanged as error:
        problem = f"{error} Nothing was changed; rotate again here if a new secret is needed."
        return _client_page(row, _edit_form(row), problem=problem), 409
    except ValueError as error:
        return _client_page(row, _edit_form(row), problem=f"{error} Nothing was changed."), 400
    return redirect(url_for("admin.client_secret", client_id=client_id), code=303)


@bp.route("/clients/<client:client_id>/secret")
@login_required
def client_secret(client_id: str) -> str:
    """The secret the rotation just made, once; asked again (a reload), the page says it
    was shown and how to get another, and rotates nothing."""
    _client_row(client_id)
    kept = reveal.take(db.session, client_id, now=utcnow())
    db.session.commit()
    if kept is None:
        minutes = int(reveal.SHOW_WITHIN.total_seconds() // 60)
        return render_template("admin/secret_shown.html", client_id=client_id, minutes=minutes)
    minutes = kept.grace_minutes
    grace = (
        "The old secret stopped working."
        if minutes == 0
        else f"The old secret keeps working for {minutes} minute{'s' if minutes != 1 else ''}."
    )
    return _secret_page(client_id, kept.secret, created=False, grace=grace)


@bp.route("/clients/<client:client_id>/state", methods=["POST"])
@login_required
def client_state(client_id: str) -> Response | str:
    """Disable (``disabled=1``, after a page that says what stops working) or enable
    (``disabled=0``) a client."""
    row = _client_row(client_id)
    disabled = request.form.get("disabled") == "1"
    if disabled and not row.disabled and not confirm.is_confirmed():
        return confirm_page(confirm.disable_client(row))
    change(
        lambda: actions.set_client_disabled(db.session, actor(), client_id, disabled, now=utcnow())
    )
    state = "disabled: its credentials and tokens are refused" if disabled else "enabled"
    flash(f"Client {client_id} {state}.", "info")
    return redirect(url_for("admin.client", client_id=client_id))


@bp.route("/clients/<client:client_id>/revoke", methods=["POST"])
@login_required
def client_revoke(client_id: str) -> Response | str:
    """End every token of a client, after a page that counts them."""
    row = _client_row(client_id)
    if not confirm.is_confirmed():
        return confirm_page(confirm.revoke_tokens(row))
    removed = change(
        lambda: actions.revoke_client_tokens(db.session, actor(), client_id, now=utcnow())
    )
    flash(f"{removed} token{'s' if removed != 1 else ''} of {client_id} revoked.", "info")
    return redirect(url_for("admin.client", client_id=client_id))


@bp.route("/clients/<client:client_id>/delete", methods=["GET", "POST"])
@login_required
def client_delete(client_id: str) -> Response | str:
    """Delete a client and its tokens, after a confirmation page (a GET, or a post
    without the confirmation, shows it)."""
    row = _client_row(client_id)
    if request.method == "GET" or not confirm.is_confirmed():
        return confirm_page(confirm.delete_client(row))
    removed = change(lambda: actions.delete_client(db.session, actor(), client_id, now=utcnow()))
    flash(f"Client {client_id} deleted, with {removed} token{'s' if removed != 1 else ''}.", "info")
    return redirect(url_for("admin.clients"))


@bp.route("/clients/<client:client_id>/panel/<name>", methods=["POST"])
@login_required
def client_panel(client_id: str, name: str) -> tuple[str, int] | Response:
    """Save a plugin's panel of a client (the plugin's fields, its save function)."""
    row = _client_row(client_id)
    panel = _plugin(name).client_panel
    pk = db.session.scalar(select(Client.id).where(Client.client_id == client_id))
    if panel is None or pk is None:
        abort(404)
    if not get_registry().status(db.session, name).enabled:
        problem = f"The {name} plugin is disabled: enable it on the plugins page first."
        return _client_page(row, _edit_form(row), problem=f"{problem} Nothing was saved."), 409
    values = {
        field.name: request.form.get(field.name, "")
        for field in panel.fields(db.session, pk, client_id)
        if not field.readonly
    }
    try:
        changes = panel.save(db.session, pk, client_id, values)
        audit.record_plugin_fields(
            db.session,
            actor=actor(),
            plugin=name,
            client_id=client_id,
            changes=changes,
            now=utcnow(),
        )
        db.session.commit()
    except ValueError as error:
        db.session.rollback()
        return _client_page(
            row,
            _edit_form(row),
            panel_problems={name: f"{error} Nothing was saved."},
            panel_values={name: values},
        ), 400
    flash(f"{panel.title} of {client_id} saved." if changes else "Nothing changed.", "info")
    return redirect(url_for("admin.client", client_id=client_id))


# --- scopes ----------------------------------------------------------------------------


@bp.route("/scopes", methods=["GET", "POST"])
@login_required
def scopes() -> tuple[str, int]:
    """The known scopes: add one, remove one (refused while a client uses it), defaults."""
    form = ScopeForm()
    problem = None
    if form.validate_on_submit():
        name = (form.name.data or "").strip()
        try:
            change(
                lambda: actions.add_scope(
                    db.session, actor(), name, is_default=bool(form.is_default.data), now=utcnow()
                )
            )
        except ValueError as error:
            problem = f"{error} Nothing was saved."
        else:
            flash(f"Scope {name} added.", "info")
            form = ScopeForm(formdata=None)
    elif request.method == "POST":
        problem = "Nothing was saved: fix the field marked below."
    return _scopes_page(form, problem), 400 if problem else 200


def _scope_in_use(name: str, error: actions.ScopeInUse) -> Markup:
    """Which clients hold the scope, each a link to the page where it is taken out."""
    shown = error.clients[:10]
    links = Markup(", ").join(
        Markup('<a href="{}">{}</a>').format(url_for("admin.client", client_id=c), c) for c in shown
    )
    more = " and more" if len(error.clients) > len(shown) else ""
    return Markup(
        "Scope “{}” is in the scope of client(s) {}{}: take it out of their scope on their "
        "pages first. Nothing was removed."
    ).format(name, links, more)


def _scopes_page(form: ScopeForm, problem: str | None = None) -> str:
    rows = db.session.scalars(select(Scope).order_by(Scope.scope)).all()
    return render_template(
        "admin/scopes.html", rows=rows, form=form, problem=problem, action_form=ActionForm()
    )


@bp.route("/scopes/remove", methods=["POST"])
@login_required
def scope_remove() -> tuple[str, int] | Response:
    """Remove a scope; refused, naming the clients, while any client uses it."""
    name = request.form.get("name", "")
    try:
        change(lambda: actions.remove_scope(db.session, actor(), name, now=utcnow()))
    except actions.ScopeInUse as error:
        return _scopes_page(ScopeForm(formdata=None), _scope_in_use(name, error)), 400
    except ValueError as error:
        return _scopes_page(ScopeForm(formdata=None), f"{error} Nothing was removed."), 400
    flash(f"Scope {name} removed.", "info")
    return redirect(url_for("admin.scopes"))


@bp.route("/scopes/defaults", methods=["POST"])
@login_required
def scope_defaults() -> tuple[str, int] | Response:
    """Exactly the ticked scopes are default."""
    names = request.form.getlist("default")
    try:
        change(lambda: actions.set_default_scopes(db.session, actor(), names, now=utcnow()))
    except ValueError as error:
        return _scopes_page(ScopeForm(formdata=None), f"{error} Nothing was saved."), 400
    flash("Default scopes saved: " + (", ".join(names) or "none") + ".", "info")
    return redirect(url_for("admin.scopes"))


# --- activity and audit ----------------------------------------------------------------


@bp.route("/activity")
@login_required
def activity_page() -> str:
    """Tokens issued per client over the last days, last use per client, the usage report."""
    now = utcnow()
    issued = activity.tokens_issued(db.session, get_registry().plugins.values(), now=now)
    since = now - timedelta(days=activity.DAYS)
    report = usage.report(db.session, since=since)
    return render_template(
        "admin/activity.html",
        issued=issued,
        issued_rows=list(issued.per_client.items())[: activity.PAGE_ROWS],
        issued_more=max(0, len(issued.per_client) - activity.PAGE_ROWS),
        chart=activity.chart(issued),
        last_use=activity.last_use(db.session),
        report=report[: activity.PAGE_ROWS],
        report_more=max(0, len(report) - activity.PAGE_ROWS),
        since=since,
    )


@bp.route("/audit")
@login_required
def audit_log() -> tuple[str, int]:
    """The audit log, newest first, a page at a time; filtered by actor, action (its
    start), object and UTC days, with the number of events found."""
    filters, problems = auditlog.parse_filters(request.args)
    page_number = requested_page()
    total = audit.count_events(db.session, **filters.query())
    rows = audit.events(
        db.session,
        limit=AUDIT_PAGE_SIZE,
        offset=(page_number - 1) * AUDIT_PAGE_SIZE,
        **filters.query(),
    )
    return render_template(
        "admin/audit.html",
        rows=[(event, auditlog.changes(event)) for event in rows],
        total=total,
        pages=max(1, math.ceil(total / AUDIT_PAGE_SIZE)),
        page_number=page_number,
        filters=filters,
        problem=" ".join(problems) or None,
    ), (400 if problems else 200)
