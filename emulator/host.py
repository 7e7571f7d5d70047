"""The plugins' front door: everything a plugin may use of the host, and nothing else.

A plugin imports from the host only this module, and from the engine only its package
(``emulator.oauth``); tests/emulator/test_boundaries.py holds every plugin to it. What is
not here (the dispatcher's and the registry's machinery, the admin pages, the app) may
change without a plugin noticing. Grouped by what a plugin does with it.
"""

# ruff: noqa: I001 (grouped by what a plugin does with a name, not sorted)

from __future__ import annotations

# Declaring a plugin: the manifest, its operations, routes and hooks, what a handler returns.
from emulator.web.plugin import Plugin
from emulator.web.plugin import Operation
from emulator.web.plugin import Route
from emulator.web.plugin import Page
from emulator.web.plugin import Answer
from emulator.web.plugin import ClientPanel
from emulator.web.plugin import PanelField
from emulator.web.plugin import ClientMark
from emulator.web.plugin import TokenExample
from emulator.web.plugin import Exchange
from emulator.web.deprecation import Deprecations
from emulator.web.plugin import HTTP_METHODS
from emulator.web.plugin import POST
from emulator.web.plugin import HOST_PATHS
from emulator.web.plugin import LEGACY_PATHS
from emulator.web.plugin import OBSERVED_BODY_LIMIT
from emulator.web.registry import writing_params

# Pages a browser sees (a plugin's Page): the admin pages' look.
from emulator.manage.admin import stylesheet_url

# Reading a request as PHP read it, and writing an answer as the legacy site wrote it.
from emulator.web.php import php_input
from emulator.web.php import PhpInput
from emulator.web.php import php_variable_name
from emulator.web.php import is_truthy
from emulator.web.php import to_string
from emulator.web.body import read_body
from emulator.web.context import request_object
from emulator.web.context import app_object
from emulator.web.http import json_encode
from emulator.web.http import json_encode_string
from emulator.web.http import nothing_to_decode
from emulator.web.http import header_bytes
from emulator.web.http import quoted_string
from emulator.web.http import said_https

# Host errors a plugin raises or renders (the dispatcher catches them once).
from emulator.web.errors import HostError
from emulator.web.errors import BodyTooLarge
from emulator.web.errors import MethodNotAllowed
from emulator.web.errors import NotServedHere
from emulator.web.errors import OperationMissing
from emulator.web.errors import UnknownOperation
from emulator.web.errors import exception_response
from emulator.web.errors import host_error_response

# Calling another server (the legacy site, a proxy's target): the one outbound client.
from emulator.web import outbound
from emulator.web.outbound import Outbound
from emulator.web.outbound import Limits
from emulator.web.outbound import RequestPath
from emulator.web.outbound import Trouble
from emulator.web.outbound import is_plain_path
from emulator.web.outbound import request_path
from emulator.web import isolation

# Storage: the handle, a request's connection, a plugin's own tables, paced deletes, URLs.
from emulator.storage.database import db
from emulator.storage.database import connection
from emulator.storage.database import dispose_with
from emulator.storage.database import commit
from emulator.storage.database import release_connection
from emulator.storage.schema import Base
from emulator.storage.schema import DbHandle
from emulator.storage.schema import ExactString
from emulator.storage.schema import LongText
from emulator.storage.schema import Timestamp
from emulator.storage.purge import delete_in_batches
from emulator.storage import dburl
from emulator.storage.dburl import describe_error

# The worker's stores, the clock, and the operations around a request.
from emulator.web import stores
from emulator.ops.clock import utcnow
from emulator.ops import metrics
from emulator.ops import throttle
from emulator.ops.audit import record_event

# A plugin's own commands (``flask <plugin> ...``, ``flask legacy ...``).
from emulator.manage.cli.plugin import TEXT
from emulator.manage.cli.plugin import commit_change
from emulator.manage.cli.plugin import plugin_state
from emulator.manage.cli.plugin import set_plugin_state
from emulator.manage.cli.plugin import record_change
from emulator.manage.cli.plugin import record_client_fields
from emulator.manage.cli.plugin import purge_pacing

__all__ = [
    "Answer", "app_object", "Base", "BodyTooLarge", "ClientMark", "ClientPanel", "commit",
    "commit_change",
    "connection", "db", "DbHandle", "dburl", "delete_in_batches", "Deprecations", "dispose_with",
    "describe_error", "ExactString", "exception_response", "Exchange", "header_bytes",
    "host_error_response", "HOST_PATHS", "HostError", "HTTP_METHODS", "is_plain_path",
    "isolation", "is_truthy", "json_encode", "json_encode_string", "LEGACY_PATHS", "Limits",
    "LongText", "MethodNotAllowed", "metrics", "NotServedHere", "nothing_to_decode",
    "OBSERVED_BODY_LIMIT", "Operation", "OperationMissing", "Outbound", "outbound", "Page",
    "PanelField", "php_input", "php_variable_name", "PhpInput", "Plugin",
    "plugin_state", "POST", "purge_pacing", "quoted_string", "read_body", "record_change",
    "record_client_fields", "record_event", "release_connection", "request_object",
    "request_path", "RequestPath", "Route", "said_https", "set_plugin_state", "stores",
    "stylesheet_url", "TEXT", "throttle", "Timestamp", "to_string", "TokenExample", "Trouble",
    "UnknownOperation", "utcnow", "writing_params",
]  # fmt: skip
