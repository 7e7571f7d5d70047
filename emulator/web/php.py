"""Reading a request the way the legacy PHP stack did, and encoding JSON the way it wrote it.

Three views of the parameters, as PHP and bshaffer's ``Request::createFromGlobals`` had them:
- ``query``: PHP's ``$_GET``;
- ``post``: PHP's ``$_POST`` (POST with a form or multipart body only), which Joomla's
  ``$_REQUEST`` lets win over ``$_GET``;
- ``body``: the library's request parameters: ``$_POST``, or a JSON body (Content-Type
  starting with ``application/json``; POST, PUT, DELETE), or a form body of PUT/DELETE
  (``parse_str``).
Repeated keys: the last wins. Names are PHP's (``php_register_variable_ex``): cut at a NUL,
leading spaces dropped, `` `` and ``.`` become ``_``, ``k[]``/``k[x]`` make arrays (dicts
here, keyed as PHP keys them: canonical integers as ints), and a ``[`` that is never closed
becomes ``_`` (``k[x`` is ``k_x``). Percent-decoded bytes that are not UTF-8 become U+FFFD,
so they can match nothing and still be echoed as valid JSON.

PHP's limits (compat/redcore.md, "Input limits"; php.ini defaults, configurable here as
``PHP_MAX_INPUT_VARS`` and ``PHP_MAX_INPUT_NESTING_LEVEL``), per input, query and body apart:
- ``max_input_vars`` (1,000): what comes after is dropped, counted as PHP's two parsers
  count. The query string and ``parse_str`` (``php_default_treat_data``) skip empty
  ``&&`` pieces and keep the first 1,000; a POST form body (``php_std_post_handler``)
  counts every piece, empty ones too, and stops after registering the 1,001st; a
  multipart body keeps its first 1,000 fields (files do not count);
- ``max_input_nesting_level`` (64): a name with more ``[..]`` levels removes its whole
  variable, values registered under that name before included;
- ``json_decode``'s depth (512): a JSON body nested deeper decodes to nothing;
- the body itself: a body over ``MAX_CONTENT_LENGTH`` is not read; like PHP past
  ``post_max_size``, the input then carries no body parameters, and says so
  (``body_too_large``) for the dispatcher to answer 413.
Each input is read once, in time linear in its size.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any
from typing import AnyStr
from urllib.parse import unquote_to_bytes

from flask import Request
from werkzeug.formparser import MultiPartParser

from emulator.web.body import read_body
from emulator.web.context import app_object as _app
from emulator.web.context import g_object as _g
from emulator.web.context import request_object as _request
from emulator.web.errors import BodyTooLarge
from emulator.web.http import nothing_to_decode

# php.ini defaults (PHP 8.2); the app's PHP_MAX_INPUT_VARS and PHP_MAX_INPUT_NESTING_LEVEL.
MAX_INPUT_VARS = 1000
MAX_INPUT_NESTING_LEVEL = 64
# json_decode's default $depth: arrays and objects nested at most this deep.
JSON_MAX_DEPTH = 512

_LONG_MAX = 2**63 - 1
# Keys PHP stores as integers (ZEND_HANDLE_NUMERIC_STR): canonical decimal, in range.
_INTEGER_KEY = re.compile(r"-?[1-9][0-9]*|0")
_INTEGER_START = frozenset("-0123456789")
_C_SPACE = " \t\n\v\f\r"  # C's isspace()
_NAME_TO_UNDERSCORE = str.maketrans({" ": "_", ".": "_"})
_UNCLOSED_TO_UNDERSCORE = str.maketrans({" ": "_", ".": "_", "[": "_"})
# Cookie-name prefixes a mangled name may not forge (PHP 8.1.11+, CVE-2022-31629).
_COOKIE_PREFIXES = ("__Host-", "__Secure-")
_CONTENT_TYPE_END = re.compile("[;, ]")  # where PHP cuts a POST Content-Type
_PERCENT = ord("%")
_PLUS = ord("+")


class PhpArray(dict):
    """A PHP array being filled by parameter names: a dict with PHP's next free index."""

    __slots__ = ("next_index",)

    def __init__(self) -> None:  # dict's own __init__ has nothing to do: an empty dict
        self.next_index = 0

    def store(self, key: str | None, value: Any) -> bool:
        """``$a[key] = value`` (``key`` None: ``$a[] = value``); False when PHP refused it."""
        if key is None:
            if self.next_index > _LONG_MAX:  # the next element is already occupied
                return False
            self[self.next_index] = value
            self.next_index += 1
            return True
        php_key = array_key(key)
        self[php_key] = value
        if isinstance(php_key, int) and php_key >= self.next_index:
            self.next_index = php_key + 1
        return True

    def child(self, key: str | None) -> PhpArray | None:
        """The array at ``key`` for a deeper ``[..]``: found, or made (replacing a string)."""
        if key is not None:
            found = self.get(array_key(key))
            if isinstance(found, PhpArray):
                return found
        made = PhpArray()
        return made if self.store(key, made) else None


def array_key(key: str) -> int | str:
    """The key PHP stores ``key`` under: canonical integers become ints ("1", not "01")."""
    if (
        key[:1] in _INTEGER_START
        and _INTEGER_KEY.fullmatch(key)
        and -_LONG_MAX - 1 <= (number := int(key)) <= _LONG_MAX
    ):
        return number
    return key


def register_variable(
    track: PhpArray, name: str, value: Any, max_nesting: int = MAX_INPUT_NESTING_LEVEL
) -> None:
    """Store one parameter as ``php_register_variable_ex`` did (main/php_variables.c)."""
    if "\0" in name:
        name = name[: name.index("\0")]  # a C string
    var = name.lstrip(" ")  # leading spaces are ignored
    bracket = var.find("[")
    base = var if bracket < 0 else var[:bracket]
    if " " in base or "." in base:
        base = base.translate(_NAME_TO_UNDERSCORE)
    if not base or (base[:2] == "__" and _forges_cookie_prefix(base, var)):
        return
    if bracket < 0:
        track.store(base, value)
        return
    indexes: list[str | None] = []  # None: "[]", the next free index
    at = bracket  # a "["
    while True:
        if len(indexes) == max_nesting:
            track.pop(array_key(base), None)  # too deep: the whole variable goes
            return
        start = at + 1
        at = start + 1 if start < len(var) and var[start] in _C_SPACE else start
        if var[at : at + 1] == "]":
            indexes.append(None)
        else:
            close = var.find("]", at)
            if close < 0:  # not an index
                if not indexes:  # "k[x" is the plain name "k_x"
                    track.store(base + "_" + var[start:].translate(_UNCLOSED_TO_UNDERSCORE), value)
                    return
                break  # "k[a][x": the value goes to k[a]
            indexes.append(var[start:close])
            at = close
        at += 1
        if var[at : at + 1] != "[":  # anything after "]" but another "[" is ignored
            break
    array: PhpArray | None = track
    key: str | None = base
    for index in indexes:
        array = array.child(key)
        if array is None:
            return
        key = index
    array.store(key, value)


def php_variable_name(name: str) -> str | None:
    """The top-level variable a parameter called ``name`` fills, as PHP registers it
    (`` client.secret``, ``client secret`` and ``client_secret[x]`` all fill
    ``client_secret``); None when PHP drops the name."""
    track = PhpArray()
    register_variable(track, name, "")
    return next((str(key) for key in track), None)


def _forges_cookie_prefix(base: str, var: str) -> bool:
    return any(base.startswith(p) and not var.startswith(p) for p in _COOKIE_PREFIXES)


def parse_php_pairs(
    pairs: Iterable[tuple[str, Any]], *, max_nesting: int = MAX_INPUT_NESTING_LEVEL
) -> dict[str, Any]:
    """Register (name, value) pairs in order, as PHP filled ``$_GET``/``$_POST``.

    Top-level names are strings (PHP's ``$_GET[1]`` and ``$_GET["1"]`` are one entry).
    """
    track = PhpArray()
    for name, value in pairs:
        _register(track, name, value, max_nesting)
    return _top_level(track)


def _register(track: PhpArray, name: str, value: Any, max_nesting: int) -> None:
    """``register_variable``, with the plain name (no ``[``, NUL, space or dot: nearly every
    name a client sends) stored at once."""
    if (
        "[" in name
        or "\0" in name
        or " " in name
        or "." in name
        or name[:2] == "__"
        or not name
        or name[0] in _INTEGER_START
    ):
        register_variable(track, name, value, max_nesting)
    else:
        track[name] = value  # what store() does with a key that is no integer


def _top_level(track: PhpArray) -> dict[str, Any]:
    """The registered variables as ``$_GET`` has them: keyed by strings."""
    if any(type(key) is int for key in track):
        return {str(key): value for key, value in track.items()}
    return dict(track)


def parse_urlencoded(
    raw: bytes,
    *,
    post: bool = False,
    max_vars: int = MAX_INPUT_VARS,
    max_nesting: int = MAX_INPUT_NESTING_LEVEL,
) -> dict[str, Any]:
    """Parse a query string or ``parse_str`` input, or (``post``) a POST form body, like PHP.

    ``+`` is a space. At most ``max_vars`` variables are read (see the module's docstring
    for how each of PHP's parsers counts them); the rest of ``raw`` is never looked at.
    """
    track = PhpArray()
    if nothing_to_decode(raw):  # nearly every request: the text is split as it is
        for text in _urlencoded_pieces(raw.decode("ascii"), "&", post, max_vars):
            name, _, value = text.partition("=")
            _register(track, name, value, max_nesting)
    else:
        for piece in _urlencoded_pieces(raw, b"&", post, max_vars):
            key, _, value = piece.partition(b"=")
            _register(track, _decode(key), _decode(value), max_nesting)
    return _top_level(track)


def _urlencoded_pieces(raw: AnyStr, amp: AnyStr, post: bool, max_vars: int) -> list[AnyStr]:
    """The ``name=value`` pieces of ``raw`` (split at ``amp``) that PHP's parser reads."""
    if not raw:
        return []
    pieces = raw.split(amp, max_vars + 1 if post else -1)
    if post:
        # php_std_post_handler: every "&" piece counts; it stops after the (max_vars+1)th.
        if len(pieces) > max_vars + 1:
            del pieces[max_vars + 1 :]
        elif not pieces[-1]:  # after a final "&" no variable starts
            pieces.pop()
        return pieces
    # php_default_treat_data (strtok): empty pieces are skipped, the first max_vars count.
    if len(pieces) > max_vars or not all(pieces):
        pieces = list(islice(filter(None, pieces), max_vars))
    return pieces


def _decode(raw: bytes) -> str:
    if _PERCENT in raw or _PLUS in raw:
        raw = unquote_to_bytes(raw.replace(b"+", b" "))
    return raw.decode("utf-8", "replace")


def _multipart_pairs(req: Request, raw: bytes, max_vars: int) -> list[tuple[str, str]]:
    """The first ``max_vars`` form fields of a multipart body, in body order (rfc1867.c).

    The body is already bounded by MAX_CONTENT_LENGTH, so no part or size limit of
    werkzeug's applies; an unparseable body carries no fields (werkzeug's silent mode).
    """
    boundary = req.mimetype_params.get("boundary", "")
    if not boundary:
        return []
    # A list keeps the fields in body order (a MultiDict groups them by name); file parts
    # are not parameters, and are kept in memory only as long as the parse.
    parser = MultiPartParser(stream_factory=_in_memory, cls=list)
    try:
        fields, _files = parser.parse(io.BytesIO(raw), boundary.encode("latin-1"), len(raw))
    except (ValueError, UnicodeEncodeError):
        return []
    return list(islice(fields, max_vars))


def _in_memory(**_part: Any) -> io.BytesIO:
    return io.BytesIO()


def post_content_type(content_type: str) -> str:
    """PHP's view of a POST Content-Type: lower-cased, cut at the first ';', ',' or space."""
    return _CONTENT_TYPE_END.split(content_type, 1)[0].lower()


@dataclass(frozen=True)
class PhpInput:
    """The request's parameters as the legacy PHP code saw them."""

    query: dict[str, Any]
    post: dict[str, Any]
    body: dict[str, Any]
    content_type: str | None
    # The body was over MAX_CONTENT_LENGTH and was not read: it carries no parameters.
    body_too_large: bool = False
    # ``body`` came from a JSON body (else from a form body, or there was none).
    body_is_json: bool = False

    def request_value(self, name: str) -> Any:
        """Joomla's ``$_REQUEST[name]``: the POST form value, else the query value."""
        return self.post[name] if name in self.post else self.query.get(name)

    @classmethod
    def from_request(
        cls,
        req: Request,
        *,
        max_vars: int = MAX_INPUT_VARS,
        max_nesting: int = MAX_INPUT_NESTING_LEVEL,
    ) -> PhpInput:
        """Read the query and body of ``req`` (the body at most once, within its limit)."""
        content_type = req.environ.get("CONTENT_TYPE")  # what req.headers would give
        query = parse_urlencoded(req.query_string, max_vars=max_vars, max_nesting=max_nesting)
        try:
            post, body, is_json = _read_body(req, content_type or "", max_vars, max_nesting)
        except BodyTooLarge:  # a declared Content-Length is checked before anything is read
            return cls(
                query=query, post={}, body={}, content_type=content_type, body_too_large=True
            )
        return cls(
            query=query, post=post, body=body, content_type=content_type, body_is_json=is_json
        )


def _read_body(
    req: Request, ct: str, max_vars: int, max_nesting: int
) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """($_POST, the library's body parameters, whether those came from JSON); raises
    BodyTooLarge past the limit."""
    method = req.method
    post: dict[str, Any] = {}
    if method == "POST":
        kind = post_content_type(ct)
        if kind == "application/x-www-form-urlencoded":
            raw = read_body(req)
            post = parse_urlencoded(raw, post=True, max_vars=max_vars, max_nesting=max_nesting)
        elif kind == "multipart/form-data":
            fields = _multipart_pairs(req, read_body(req), max_vars)
            post = parse_php_pairs(fields, max_nesting=max_nesting)
    body = post
    if ct.startswith("application/json") and method in ("POST", "PUT", "DELETE"):
        return post, _json_object(read_body(req)), True
    if ct.startswith("application/x-www-form-urlencoded") and method in ("PUT", "DELETE"):
        raw = read_body(req)  # bshaffer's parse_str: counted as a query string
        body = parse_urlencoded(raw, max_vars=max_vars, max_nesting=max_nesting)
    return post, body, False


def php_input() -> PhpInput:
    """The current request's PhpInput, parsed once per request with the app's PHP limits."""
    globals_ = _g()
    cached = globals_.get("_php_input")
    if cached is None:
        config = _app().config
        cached = globals_._php_input = PhpInput.from_request(
            _request(),
            max_vars=config["PHP_MAX_INPUT_VARS"],
            max_nesting=config["PHP_MAX_INPUT_NESTING_LEVEL"],
        )
    return cached


def _json_object(raw: bytes) -> dict[str, Any]:
    """json_decode($raw, true) for parameters: anything but an object carries none.

    PHP refuses what Python's json would take, and such a body carries no parameters
    either: bytes that are not UTF-8 (Python would guess UTF-16 or UTF-32), a byte order
    mark, ``NaN``/``Infinity``/``-Infinity``, escapes of lone UTF-16 surrogates
    ("\\ud800"), and nesting deeper than ``JSON_MAX_DEPTH`` (checked before decoding,
    so that no depth can reach Python's recursion limit).
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    if json_depth_exceeds(text, JSON_MAX_DEPTH):
        return {}
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
        json.dumps(data, ensure_ascii=False).encode("utf-8")  # fails on a lone surrogate
    except (ValueError, UnicodeEncodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A JSON string (escapes included), or one bracket outside any string.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in JSON ``text`` nest deeper than ``limit`` (linear time).

    PHP's parser counts each array or object it enters; ``[[]]`` is 2 deep, a scalar 0.
    Text that is not JSON may give either answer: it decodes to nothing anyway.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def is_truthy(value: Any) -> bool:
    """PHP's boolean conversion: "", "0", 0, 0.0, false, null and [] are false."""
    if value is None or value is False:
        return False
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return True


def to_string(value: Any) -> str | None:
    """PHP's string conversion of a scalar parameter (None stays None).

    Arrays have no string value; callers decide what an array means for them.
    """
    if value is None or isinstance(value, str):
        return value
    if value is True:
        return "1"
    if value is False:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    raise TypeError("an array has no string value")
