"""The admin pages' forms (Flask-WTF: each carries the session's CSRF token).

Only the shape of a value is checked here, beside its field; what a value means (a known
scope, a free client id) is emulator/manage/actions.py's to refuse, with one line for the admin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import BooleanField
from wtforms import HiddenField
from wtforms import IntegerField
from wtforms import PasswordField
from wtforms import StringField
from wtforms.validators import DataRequired
from wtforms.validators import EqualTo
from wtforms.validators import InputRequired
from wtforms.validators import Length
from wtforms.validators import Optional
from wtforms.validators import ValidationError

from emulator.oauth import has_control_characters
from emulator.oauth.users import MAX_EMAIL_LENGTH
from emulator.oauth.users import MAX_NAME_LENGTH
from emulator.oauth.users import MAX_PASSWORD_LENGTH
from emulator.oauth.users import MAX_USERNAME_LENGTH


class AdminForm(FlaskForm):
    """A form of the admin pages: its fields read the posted text fields only.

    Flask-WTF also hands a multipart post's files to the fields, and a text field's
    validators cannot take a file (a 500): a file is no field's value here.
    """

    class Meta(FlaskForm.Meta):
        """Flask-WTF's meta, minus the files."""

        def wrap_formdata(self, form: FlaskForm, formdata: Any) -> Any:
            """The request's text fields (Flask-WTF's choice, without request.files)."""
            data = super().wrap_formdata(form, formdata)
            return request.form if isinstance(data, CombinedMultiDict) else data


def plain_text(_form: FlaskForm, field: StringField) -> None:
    """No control characters (NUL, line breaks): no id, scope or URI holds one."""
    if field.data and has_control_characters(field.data):
        raise ValidationError("No control characters (such as a line break), please.")


def within(low: int, high: int) -> Callable[[FlaskForm, IntegerField], None]:
    """A whole number from ``low`` to ``high``, compared as integers (WTForms' NumberRange
    turns the number into a float first, which a number of hundreds of digits overflows)."""

    def check(_form: FlaskForm, field: IntegerField) -> None:
        if field.data is not None and not low <= field.data <= high:
            raise ValidationError(f"Number must be between {low} and {high}.")

    return check


class LoginForm(AdminForm):
    """Username and password."""

    username = StringField("Username", validators=[DataRequired(), Length(max=150)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class ActionForm(AdminForm):
    """A button that changes something (enable, disable, delete, log out): the token only."""


class ClientFields(AdminForm):
    """What an admin may set of a client, on creation and later."""

    scope = StringField(
        "Scope",
        validators=[Optional(), Length(max=4000), plain_text],
        description="Space-separated scopes the client may ask for; empty: none of its own.",
    )
    grant_types = StringField(
        "Grant types",
        validators=[Optional(), Length(max=80), plain_text],
        description="Space-separated, e.g. client_credentials refresh_token; "
        "tick “every grant” to allow all.",
    )
    all_grants = BooleanField("Every grant", default=True)
    redirect_uri = StringField(
        "Redirect URI",
        validators=[Optional(), Length(max=2000), plain_text],
        description="Kept for legacy clients.",
    )
    user_id = StringField(
        "User id",
        validators=[Optional(), Length(max=80), plain_text],
        description="The user the client acts as (option=resource returns it).",
    )


class ClientCreateForm(ClientFields):
    """A new client; its secret is made here and shown once."""

    client_id = StringField("Client id", validators=[DataRequired(), Length(max=80), plain_text])
    public = BooleanField("Public client (no secret)")


class RotateForm(AdminForm):
    """A new secret; the old one works for the grace period the admin picks."""

    grace_minutes = IntegerField(
        "Old secret keeps working for (minutes)",
        default=0,
        validators=[within(0, 30 * 24 * 60)],
        description="0: it stops at once. At most 30 days (43200 minutes).",
    )
    # The stamp of the secret the page showed (manage.secret_stamp): a copy of the form
    # sent after the rotation it asked for names the old one, and is refused.
    secret_stamp = HiddenField(
        validators=[
            DataRequired("This form is out of date: open the client's page again."),
            Length(max=64),
        ]
    )


class ScopeForm(AdminForm):
    """A new scope."""

    name = StringField("Scope", validators=[DataRequired(), Length(max=255), plain_text])
    is_default = BooleanField("Default (given to clients without a scope of their own)")


class PanelForm(AdminForm):
    """A plugin's client panel: its fields are the plugin's, read from the request."""


class PasswordFields(AdminForm):
    """A new password, asked twice; its length is the engine's to check (a short one is
    taken with the CLI's warning)."""

    password = PasswordField(
        "New password",
        validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "new-password"},
    )
    password_again = PasswordField(
        "The password again",
        validators=[InputRequired(), EqualTo("password", "The two passwords differ.")],
        render_kw={"autocomplete": "new-password"},
    )


class UserCreateForm(PasswordFields):
    """A new site user, as ``flask users create`` makes one."""

    username = StringField(
        "Username",
        validators=[DataRequired(), Length(max=MAX_USERNAME_LENGTH), plain_text],
        description='Usernames ignore case; not < > " % ; ( ) & or \\.',
    )
    name = StringField(
        "Name",
        validators=[Optional(), Length(max=MAX_NAME_LENGTH), plain_text],
        description="Empty: the username.",
    )
    email = StringField("Email", validators=[Optional(), Length(max=MAX_EMAIL_LENGTH), plain_text])
    groups = StringField(
        "Groups",
        validators=[Optional(), Length(max=2000), plain_text],
        description="Group titles, separated by commas (e.g. Registered, Editor).",
    )
