"""The objects behind Flask's context proxies, for the request path's hot code.

An attribute read through ``current_app``, ``request`` or ``g`` goes through LocalProxy's
``__getattr__`` (~0.6 us); taking the object once (one context-variable read, ~0.1 us)
and reading its attributes directly is what the token and resource paths do. Outside
an app or request context each raises as the proxy would.
"""

from __future__ import annotations

from flask import current_app
from flask import g
from flask import request

app_object = current_app._get_current_object
g_object = g._get_current_object
request_object = request._get_current_object
