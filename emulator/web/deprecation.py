"""Deprecation and Sunset notices per plugin and per request form (RFC 9745, RFC 8594).

A plugin's params schema declares ``deprecations = Deprecations()`` (one definition, here,
that every dialect shares); an admin sets it with
``flask --app app plugins set NAME 'deprecations={...}'``: a JSON object mapping a form to
a notice, e.g.::

    {"query": {"deprecation": "2026-01-01", "sunset": "2026-07-01",
               "link": "https://example.com/move-your-secret-out-of-the-url"}}

Forms are the engine's neutral words for where a request carried its credentials or its
token (``oauth.CredentialSource``, ``oauth.TokenSource``): ``basic``, ``body``, ``json``,
``query``, ``header``; ``*`` is every request. A date is ``YYYY-MM-DD`` (midnight UTC) or a
date and time (``YYYY-MM-DDTHH:MM:SS``, UTC unless it carries an offset). A notice needs a
deprecation date, a sunset date or both; a sunset may not come before its deprecation.

An answer the usage counts see (``emulator.ops.usage.finish``) gets the notice of its
credentials' form, else of its token's form, else ``*``: ``Deprecation: @<epoch seconds>``
(RFC 9745 §2.1), ``Sunset: <HTTP-date>`` (RFC 8594 §3) and, with a link,
``Link: <url>; rel="deprecation"`` and/or ``<url>; rel="sunset"`` (RFC 9745 §3, RFC 8594 §6).
Empty by default: then no answer changes by one byte. The headers are built once, when the
params are loaded (at most once per ``CACHE_MAX_AGE`` per worker), never per request.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from email.utils import format_datetime
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields

EVERY = "*"
FORMS = ("basic", "body", "json", "query", "header", EVERY)
KEYS = ("deprecation", "sunset", "link")
# An http(s) URL as a header carries it: printable ASCII without space, '"', '<' or '>'.
_URL = re.compile(r"https?://[!#-;=?-~]+")
_EXAMPLE = (
    '{"query": {"deprecation": "2026-01-01", "sunset": "2026-07-01", '
    '"link": "https://example.com/migrate"}}'
)
_FIRST_YEAR = 1970

Headers = tuple[tuple[str, str], ...]


class DeprecationNotices(dict):
    """The loaded ``deprecations`` param: form -> notice (plain JSON, as stored), with each
    form's headers built once, when the params are loaded."""

    def __init__(self, notices: Mapping[str, Mapping[str, str]] | None = None) -> None:
        super().__init__(notices or {})
        self._headers = {form: notice_headers(notice) for form, notice in self.items()}

    def headers_for(self, credentials: str | None, token: str | None) -> Headers:
        """The headers of the credentials' form, else of the token's form, else of ``*``."""
        headers = self._headers
        for form in (credentials, token, EVERY):
            if form is not None and form in headers:
                return headers[form]
        return ()


def notice_headers(notice: Mapping[str, str]) -> Headers:
    """The Deprecation, Sunset and Link headers of one (validated, normalised) notice."""
    headers = []
    rels = []
    if "deprecation" in notice:
        headers.append(("Deprecation", f"@{int(_moment(notice['deprecation']).timestamp())}"))
        rels.append("deprecation")
    if "sunset" in notice:
        headers.append(("Sunset", format_datetime(_moment(notice["sunset"]), usegmt=True)))
        rels.append("sunset")
    if "link" in notice:
        link = notice["link"]
        headers.append(("Link", ", ".join(f'<{link}>; rel="{rel}"' for rel in rels)))
    return tuple(headers)


class Deprecations(fields.Field):
    """The ``deprecations`` param: a JSON object (or its text, from the CLI) of form -> notice.

    Loads into ``DeprecationNotices`` with every date normalised to ``YYYY-MM-DDTHH:MM:SSZ``
    (stored so, and loaded again the same); anything else is refused with what to fix.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", DeprecationNotices)
        super().__init__(**kwargs)

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> DeprecationNotices:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValidationError(f"Give a JSON object, e.g. {_EXAMPLE}.") from None
        if not isinstance(value, dict):
            raise ValidationError(f"Give a JSON object, e.g. {_EXAMPLE}.")
        errors = []
        notices = {}
        for form, notice in value.items():
            try:
                notices[form] = _notice(form, notice)
            except ValueError as error:
                errors.append(f"{form!r}: {error}")
        if errors:
            raise ValidationError(errors)
        return DeprecationNotices(notices)


def _notice(form: str, notice: Any) -> dict[str, str]:
    """One form's notice, validated and normalised; ValueError says what is wrong."""
    if form not in FORMS:
        raise ValueError(f"not a form; use one of {', '.join(FORMS)}.")
    if not isinstance(notice, dict):
        raise ValueError(f'give an object such as {{"deprecation": "2026-01-01"}}, not {notice!r}.')
    unknown = sorted(set(notice) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown keys {unknown}; a notice has {', '.join(KEYS)}.")
    if "deprecation" not in notice and "sunset" not in notice:
        raise ValueError("give a deprecation date, a sunset date or both.")
    normal: dict[str, str] = {}
    moments: dict[str, datetime] = {}
    for key in ("deprecation", "sunset"):
        if key in notice:
            moments[key] = _parse_moment(key, notice[key])
            normal[key] = moments[key].replace(tzinfo=None).isoformat() + "Z"
    if len(moments) == 2 and moments["sunset"] < moments["deprecation"]:
        raise ValueError(
            f"sunset {normal['sunset']} is before deprecation {normal['deprecation']}."
        )
    if "link" in notice:
        link = notice["link"]
        if not isinstance(link, str) or not _URL.fullmatch(link):
            raise ValueError(
                f"link {link!r} is not an http(s) URL of printable ASCII without spaces, "
                "quotes or angle brackets."
            )
        normal["link"] = link
    return normal


def _parse_moment(key: str, value: Any) -> datetime:
    """A date (midnight UTC) or a date and time (UTC unless it has an offset), in whole seconds."""
    try:
        if not isinstance(value, str):
            raise ValueError
        moment = datetime.fromisoformat(value.strip())
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC).replace(microsecond=0)
    except (ValueError, OverflowError):
        raise ValueError(
            f"{key} {value!r} is not a date (YYYY-MM-DD) or a date and time "
            "(YYYY-MM-DDTHH:MM:SS, UTC unless it has an offset such as +01:00)."
        ) from None
    if moment.year < _FIRST_YEAR:
        raise ValueError(f"{key} {value!r} is before {_FIRST_YEAR}.")
    return moment


def _moment(normal: str) -> datetime:
    """A normalised date (``YYYY-MM-DDTHH:MM:SSZ``) as an aware UTC datetime."""
    return datetime.fromisoformat(normal)
