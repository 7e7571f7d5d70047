"""The declaration API plugins use: Plugin, Operation, Route (validated on construction).

A plugin is a package under ``plugins/`` exposing ``plugin = Plugin(...)``: who it is,
its admin options (a marshmallow schema), the ``option=`` operations it answers under its
``api`` name, the path routes it answers, its CLI group, and how its errors sound.

Hooks: the engine knows OAuth2 only. Where it needs something only a dialect knows, the
plugin supplies one small neutral function here, and the host hands every installed
plugin's function to the engine (whether the plugin is enabled or not: the data it reads
belongs to the clients, and a client may be served in several dialects):

- ``client_scope(db, client_pk) -> str | None``: the scope a client without a scope of its
  own may ask for (a dialect whose own records grant clients scopes supplies them here).
  The first hook that returns a non-empty scope wins. It runs when a worker reads the
  client, so its answer is kept as long as the client record (``CACHE_MAX_AGE``).
- ``password_verifier(password_hash, password) -> bool | None``: checks a site user's
  password against a hash in a format the plugin knows (one its import brought from the
  old site), in constant time where the format allows; None for a hash not of its formats.
  The engine checks its own argon2id hashes itself and asks the verifiers, in plugin-name
  order, about any other; the first answer that is not None decides. After a successful
  check the engine replaces the hash with an argon2id one.

Admin hooks (the admin pages, emulator/manage/admin, call them; a plugin declares what only it
knows about a client, and the host shows it without knowing its words):

- ``token_examples(base_url, client_id, secret, params) -> [TokenExample]``: shell
  commands that get a token from this plugin's URLs with these credentials (shown once,
  when a client is made or its secret rotated).
- ``client_panel``: a ``ClientPanel``, the plugin's own settings of one client (fields
  with their current values, and a save function that raises ValueError on a bad value
  and writes nothing then); shown on the client's page, saved in the page's transaction.
- ``issuing_operations``: the operation names under which the plugin counts a token it
  issued in the usage counts (emulator/ops/usage.py), for the activity page's chart.
- ``client_marks``: ``ClientMark``s, each a set of clients the plugin knows something of
  (e.g. the ones an import brought over), shown as a badge on the clients list and a
  client's page, and offered as a filter of the list. The host knows only the label.
- ``facts(session) -> [(label, text)]``: what the plugin's page shows of the plugin's own
  state besides its params (e.g. the oauth2 plugin's legacy link and its backlog), as
  plain text; never a secret.
- ``required_to_enable``: names of params that must be set (not empty) before the plugin
  is enabled, and stay set while it is; enabling without them is refused
  (emulator/manage/actions.py).

Change hooks (the admin actions call them, for every installed plugin, enabled or not):

- ``client_tokens_ended(db, client_id) -> None``: every token of this client ended here
  (the client was disabled or deleted, or an admin revoked its tokens), in the change's
  transaction (not committed), before it commits. For a plugin that keeps copies of
  tokens elsewhere (the oauth2 plugin's legacy link): they must end too. It must not
  raise on an outage of its own (it queues what it could not do).

Request hooks (the dispatcher calls them, only those of enabled plugins):

- ``fallback(params) -> Response``: answers what no enabled plugin answers (an unknown or
  disabled ``api``, none at all, an ``option`` the plugin does not have, a path no route
  claims: the host errors marked ``unanswered``). The first enabled plugin with one takes
  the request (by plugin name); without one the error is rendered as it always was. Its
  answer is sent as it is: the host adds no header to it (it is another site's answer),
  and its errors are rendered by its own ``render_error``.
- ``pages``: ``Page``s, legacy URLs a browser opens that carry no ``api`` (e.g. Joomla's
  ``index.php?option=com_users&view=login``), each named by the query values that select
  it. A request without ``api`` whose query holds a page's values (any case) is that
  page's; the first enabled plugin (by name) declaring it answers, before any fallback.
  A page's handler returns a Response; its errors are rendered by ``render_error`` with
  the page's name as the operation. ``observe`` hooks are not told of pages. The names
  of the cookies its pages set go in ``cookies``: no forwarded answer may set them
  (``emulator.web.isolation``), so an old site cannot log a user out or fix a session.
- ``observe(exchange, params) -> None``: told of every request a plugin answered (not
  those a fallback took, nor its pages), after the answer was made and before it is
  sent, with an immutable snapshot (``Exchange``). It must return at once (hand the work
  to a thread of its own) and must not keep or log the snapshot's credentials; an
  observer that raises is logged and never changes the answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import click
from flask import Response
from marshmallow import Schema
from sqlalchemy import Select

from emulator.oauth import ClientScopeHook
from emulator.oauth import PasswordVerifier
from emulator.web.errors import PluginDeclarationError

NAME = re.compile(r"[a-z][a-z0-9_]*")
# Every method an operation or a route may take; a legacy URL that took any method takes these.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
POST = frozenset({"POST"})
# The legacy entry points (``?api=NAME&option=OP``) and the host's own paths: no plugin
# route, and no path a plugin resolves at run time, may claim them.
LEGACY_PATHS = ("/", "/index.php")
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"  # the host's while METRICS_ENABLED is off too (emulator/ops/metrics.py)
HOST_PATHS = (*LEGACY_PATHS, HEALTH_PATH, METRICS_PATH)
MAX_MARK_LABEL = 24


@dataclass(slots=True)
class Answer:
    """A handler's answer to an identified client, which the dispatcher finishes.

    The dispatcher, in one place for every plugin: commits what the handler wrote
    (``wrote``, or a token ``issued``), counts the token issued (metrics, by grant type),
    counts the use (usage telemetry: the client, the operation and where the request
    carried its credentials and token) and adds the plugin's deprecation notices.
    A handler that answers nobody in particular (an error, metadata) returns a Response.
    """

    response: Response
    client_pk: int  # the engine's client key of who is answered
    credentials: str | None = None  # where the client's credentials came (engine's words)
    token: str | None = None  # where the bearer token or the token acted on came
    issued: str | None = None  # the grant type, when an access token was issued
    wrote: bool = False  # the handler wrote (besides an issue): commit before answering
    operation: str | None = None  # the usage operation; None: the resolved option


# A handler gets the plugin's effective (validated, defaulted) params.
Handler = Callable[[Mapping[str, Any]], "Response | Answer"]
# The longest request body an Exchange carries; a longer (or chunked, unread) one is None.
OBSERVED_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Exchange:
    """One answered request and its answer, as ``observe`` hooks see them (a snapshot)."""

    plugin: str  # the plugin that answered
    method: str
    path: str  # decoded, as matched
    raw_path: str | None  # as sent, where the server keeps it
    query_string: bytes
    headers: tuple[tuple[str, str], ...]  # as received, credentials included: never keep them
    body: bytes | None  # None: longer than OBSERVED_BODY_LIMIT, or not read
    client: str  # the address the app trusts (TRUSTED_PROXIES)
    host: str
    scheme: str
    status: int
    response_headers: tuple[tuple[str, str], ...]
    response_body: bytes | None  # None: streamed


Observer = Callable[[Exchange, Mapping[str, Any]], None]


@dataclass(frozen=True)
class TokenExample:
    """A shell command that gets a token from a plugin's URL (the admin pages show it)."""

    title: str
    command: str


# token_examples(base_url, client_id, secret, params): base_url ends without "/"; secret is
# None for a public client.
TokenExamples = Callable[[str, str, "str | None", Mapping[str, Any]], Sequence[TokenExample]]


@dataclass(frozen=True)
class PanelField:
    """One field of a plugin's client panel: its current value as text and what it means."""

    name: str
    label: str
    value: str = ""
    description: str = ""
    multiline: bool = False  # one item per line (a textarea)
    readonly: bool = False  # shown, never sent


@dataclass(frozen=True)
class ClientPanel:
    """A plugin's own settings of one client, on the client's admin page.

    ``fields(session, client_pk, client_id)`` gives the current values; ``save(session,
    client_pk, client_id, values)`` writes the submitted text values (not committed) and
    returns the changes as ``{field: (before, after)}`` (JSON-able, no secret) for the audit
    log, or raises ValueError with a line for the admin and writes nothing.
    """

    title: str
    fields: Callable[[Any, int, str], Sequence[PanelField]]
    save: Callable[[Any, int, str, Mapping[str, str]], Mapping[str, tuple[Any, Any]]]


@dataclass(frozen=True)
class ClientMark:
    """Some clients a plugin marks, with a word for the admin pages (e.g. "imported").

    ``members()`` returns a SELECT of one column, the primary keys (``oauth_clients.id``)
    of the clients marked. The host uses it as a subquery, never loads it whole: a page's
    badges cost one query bounded by the page, and the list's filter one semi-join,
    however many clients the plugin marks.
    """

    name: str  # [a-z][a-z0-9_]*: "<plugin>.<name>" is the clients list's filter key
    label: str  # the badge and the filter's label, a word or two
    members: Callable[[], Select[Any]]
    description: str = ""  # what the mark means (the badge's title)

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise PluginDeclarationError(
                f"Client mark {self.name!r} must match {NAME.pattern}; it names a filter."
            )
        if not self.label or len(self.label) > MAX_MARK_LABEL or not self.label.isprintable():
            raise PluginDeclarationError(
                f"Client mark {self.name!r}: the label is 1 to {MAX_MARK_LABEL} printable "
                "characters."
            )
        if not callable(self.members):
            raise PluginDeclarationError(f"Client mark {self.name!r}: members must be callable.")


# render_error(error, operation, params): operation is the option name (None for a path
# route); params are the effective params (None when they could not be loaded).
ErrorRenderer = Callable[[Exception, "str | None", "Mapping[str, Any] | None"], Response]


@dataclass(frozen=True)
class Operation:
    """One ``option=`` value of a plugin's ``api``."""

    handler: Handler
    methods: frozenset[str] = frozenset({"GET", "POST"})

    def __post_init__(self) -> None:
        unknown = self.methods - HTTP_METHODS
        if unknown:
            raise PluginDeclarationError(
                f"Operation methods {sorted(unknown)} are not HTTP methods."
            )


@dataclass(frozen=True)
class Route:
    """A path route a plugin answers besides the legacy query URLs (e.g. /oauth/accesstoken)."""

    rule: str
    endpoint: str
    handler: Handler
    methods: frozenset[str] = frozenset({"GET"})

    def __post_init__(self) -> None:
        if not self.rule.startswith("/"):
            raise PluginDeclarationError(f"Route rule {self.rule!r} must start with '/'.")
        if self.rule in HOST_PATHS:
            raise PluginDeclarationError(f"Route rule {self.rule!r} is the host's own path.")
        unknown = self.methods - HTTP_METHODS
        if unknown:
            raise PluginDeclarationError(f"Route methods {sorted(unknown)} are not HTTP methods.")


@dataclass(frozen=True)
class Page:
    """A legacy URL without ``api`` that a plugin answers: selected by query values.

    ``query`` maps parameter names to the values (compared in any case) that select the
    page, ``option`` among them: ``{"option": "com_users", "view": "login"}``.
    """

    name: str  # [a-z][a-z0-9_]*: the operation name errors and metrics see
    query: Mapping[str, str]
    handler: Handler
    methods: frozenset[str] = frozenset({"GET", "POST"})

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise PluginDeclarationError(f"Page {self.name!r} must match {NAME.pattern}.")
        if "option" not in self.query or "api" in self.query:
            raise PluginDeclarationError(
                f"Page {self.name!r}: its query names an option and no api "
                "(a URL with ?api= is an operation's)."
            )
        if not all(isinstance(value, str) and value for value in self.query.values()):
            raise PluginDeclarationError(f"Page {self.name!r}: query values are non-empty text.")
        unknown = self.methods - HTTP_METHODS
        if unknown:
            raise PluginDeclarationError(f"Page methods {sorted(unknown)} are not HTTP methods.")

    def matches(self, query: Mapping[str, Any]) -> bool:
        """Whether a request's query (PHP's reading of it) selects this page."""
        for key, wanted in self.query.items():
            value = query.get(key)
            if not isinstance(value, str) or value.lower() != wanted.lower():
                return False
        return True


@dataclass(frozen=True)
class Plugin:
    """A plugin's manifest: who it is, its admin options and what it answers."""

    name: str  # the ?api= value
    title: str
    version: str
    params: type[Schema]
    operations: Mapping[str, Operation] = field(default_factory=dict)
    routes: Sequence[Route] = ()
    pages: Sequence[Page] = ()  # see "Request hooks" above
    cookies: tuple[str, ...] = ()  # names of the cookies its pages set (see "pages")
    cli: click.Group | None = None  # mounted as `flask <name> ...`
    # Commands for moving off the legacy site, mounted under `flask legacy ...` beside the
    # host's own (e.g. an importer of the legacy database, a report of the plugin's).
    legacy_cli: Sequence[click.Command] = ()

    enabled_on_install: bool = False
    render_error: ErrorRenderer | None = None  # None: the host's JSON errors
    client_scope: ClientScopeHook | None = None  # see "Hooks" above
    password_verifier: PasswordVerifier | None = None  # see "Hooks" above
    fallback: Handler | None = None  # see "Request hooks" above
    observe: Observer | None = None  # see "Request hooks" above
    # Warnings about a configuration that works but is risky, shown by `plugins show`.
    advise: Callable[[Mapping[str, Any]], Sequence[str]] | None = None
    token_examples: TokenExamples | None = None  # see "Admin hooks" above
    client_panel: ClientPanel | None = None  # see "Admin hooks" above
    issuing_operations: frozenset[str] = frozenset()  # see "Admin hooks" above
    client_marks: Sequence[ClientMark] = ()  # see "Admin hooks" above
    # Params that must be set (not empty) to enable the plugin, and while it is enabled.
    required_to_enable: tuple[str, ...] = ()
    client_tokens_ended: Callable[[Any, str], None] | None = None  # see "Change hooks" above
    facts: Callable[[Any], Sequence[tuple[str, str]]] | None = None  # see "Admin hooks" above

    def page(self, name: str) -> Page:
        """The declared page of this name (KeyError when there is none)."""
        for page in self.pages:
            if page.name == name:
                return page
        raise KeyError(name)

    def __post_init__(self) -> None:
        if not NAME.fullmatch(self.name):
            raise PluginDeclarationError(
                f"Plugin name {self.name!r} must match {NAME.pattern}; it is the ?api= value."
            )
        for option in self.operations:
            if not NAME.fullmatch(option):
                raise PluginDeclarationError(
                    f"Plugin {self.name!r}: operation {option!r} must match {NAME.pattern}; "
                    "it is the lower-cased ?option= value."
                )
        if not (isinstance(self.params, type) and issubclass(self.params, Schema)):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: params must be a marshmallow Schema class."
            )
        pages = [page.name for page in self.pages if isinstance(page, Page)]
        if len(pages) != len(self.pages) or len(set(pages)) != len(pages):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: pages must be Pages with distinct names."
            )
        clash = set(pages) & set(self.operations)
        if clash:
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: pages and operations share names {sorted(clash)}."
            )
        marks = [mark.name for mark in self.client_marks if isinstance(mark, ClientMark)]
        if len(marks) != len(self.client_marks) or len(set(marks)) != len(marks):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: client_marks must be ClientMarks with distinct names."
            )
        if isinstance(self.required_to_enable, str):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: required_to_enable is a tuple of param names."
            )
        if self.password_verifier is not None and not callable(self.password_verifier):
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: password_verifier must be callable "
                "(password_hash, password) -> bool | None."
            )
        unknown = [key for key in self.required_to_enable if key not in self.params().fields]
        if unknown:
            raise PluginDeclarationError(
                f"Plugin {self.name!r}: required_to_enable names params its schema does not "
                f"have: {unknown}."
            )
