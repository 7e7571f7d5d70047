"""Settings: what ``django-admin startproject`` writes, less the admin, sessions, messages
and static files that a token endpoint does not use, plus ``oauth2_provider`` as DOT's
tutorial adds it.

The one change to storage: the SQLite file ``DOT_DATABASE`` in WAL mode with
``synchronous=NORMAL``, as the project runs SQLite, so that a difference in the figures is
not a difference in fsyncs. Client secrets are hashed with Django's default password
hasher unless the application was registered with ``--no-hash-client-secret`` (DOT's
default is to hash; ``bench.peers`` registers ``dot-plain`` without).
"""

import os

SECRET_KEY = "bench-peers-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "oauth2_provider",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]
ROOT_URLCONF = "dot_project.urls"
WSGI_APPLICATION = "dot_project.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DOT_DATABASE", ""),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

# The benchmark's client asks for no scope and gets every scope, as the project's does.
OAUTH2_PROVIDER = {
    "SCOPES": {"site.read": "Read the site", "site.documentation": "Read the documentation"},
}
