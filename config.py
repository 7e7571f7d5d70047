"""Configuration defaults.

Layering (see ``create_app``): these defaults, then ``instance/config.py``, then
environment variables with the ``FLASK_`` prefix, e.g.
``FLASK_SQLALCHEMY_DATABASE_URI=postgresql+psycopg://root@127.0.0.1/emulator``.
No secrets and no I/O here: the secret key is generated into ``instance/`` on first start.
"""

from __future__ import annotations


class Config:
    """Defaults for every deployment."""

    # None: the factory fills in sqlite:///<instance>/emulator.sqlite.
    SQLALCHEMY_DATABASE_URI: str | None = None
    # PostgreSQL/MySQL connections are checked before use (a restarted server costs no
    # failed request); SQLite files need no such check and skip it.
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    # With pool_pre_ping, a pooled connection is checked only when it sat unused in the
    # pool this many seconds or more (emulator/storage/database.py ping_when_idle): a check on every
    # checkout is a round trip per request. 0: check on every checkout (SQLAlchemy's own).
    DB_PING_AFTER_IDLE_SECONDS = 1.0

    # The site's time zone, as Joomla's "Website Time Zone": redCORE printed
    # expireTimeFormatted and created in it (compat/redcore.md).
    SITE_TIMEZONE = "UTC"

    # How long (seconds) a worker may act on what it read from the database before it
    # reads again: plugin state, client records (with the scopes plugins supply for
    # them), verified access tokens. An admin's change or a revocation reaches every
    # worker within it, without a restart. Token expiry is always exact. 0: no caching
    # (every request reads). Verified client secrets are kept apart from this: they are
    # keyed by the stored hash, so a new secret makes the old entry unreachable.
    CACHE_MAX_AGE = 1.0

    # Failed client authentication (emulator/ops/throttle.py), in the `limits` notation: after
    # this many failures of one client from one address within the window, its attempts
    # from that address are refused (429) until the window ends; empty turns it off.
    CLIENT_AUTH_FAILURE_LIMIT = "10/5minutes"
    # The same for one address, whatever client ids it tries.
    CLIENT_AUTH_ADDRESS_FAILURE_LIMIT = "100/5minutes"
    # Failed site-user logins (a password checked by the engine's authenticate_user: the
    # password grant, the login page), counted the same way in the same place: per
    # (username, address), and per address whatever usernames it tries. Blocked users and
    # users with two-factor authentication count as failures, as a wrong password does.
    USER_AUTH_FAILURE_LIMIT = "10/5minutes"
    USER_AUTH_ADDRESS_FAILURE_LIMIT = "100/5minutes"
    # Where the counts live: empty = this service's database (every worker and instance
    # on it); or a `limits` storage URI such as redis://127.0.0.1:6379.
    RATELIMIT_STORAGE_URI = ""
    # How many reverse proxies in front of the service append to X-Forwarded-For (and set
    # X-Forwarded-Proto); 0 = none: the source address is the socket's (werkzeug ProxyFix).
    TRUSTED_PROXIES = 0

    # The largest request body read, in bytes (Flask's own setting). A larger body is never
    # read: it gets a 413 in the endpoint's dialect (docs/operate/input-limits.md). PHP
    # bounded bodies with post_max_size (8 MB by default, often less); no legacy client
    # sends more than a few KB. It also bounds the bodies a plugin forwards (a protected proxy).
    MAX_CONTENT_LENGTH = 1024 * 1024
    # bin/serve: seconds from the request head to the body's last byte. A body that takes
    # longer gets 408 and the connection is closed; no thread waits for it meanwhile
    # (emulator/web/front.py). The head itself has HEADER_TIMEOUT in bin/serve.
    REQUEST_BODY_TIMEOUT = 10.0
    # Per worker: how many outbound calls (passthrough forwards, a plugin's API
    # proxies) may be under way at once. Each holds a thread until the other server is
    # done (up to its deadline); one more is refused at once with a 503 in its dialect,
    # so that bin/serve's other THREADS (4 by default) stay for the token URLs.
    OUTBOUND_MAX_CONCURRENT = 2

    # PHP's max_input_vars and max_input_nesting_level (php.ini defaults), applied to the
    # query string and to a form body apart, as PHP applied them: variables past the limit
    # are dropped, a name nested deeper drops its variable (emulator/web/php.py).
    PHP_MAX_INPUT_VARS = 1000
    PHP_MAX_INPUT_NESTING_LEVEL = 64

    # SQLite only: how long a writer waits for the lock before giving up (ms).
    SQLITE_BUSY_TIMEOUT_MS = 5000

    # Rows this many seconds past expiry are removed by `flask tokens purge`
    # (redCORE kept expired tokens for two weeks).
    TOKEN_PURGE_GRACE_SECONDS = 14 * 24 * 3600
    # Small batches with a pause between them, for every purge (tokens, audit, usage): a
    # 5,000-row batch held SQLite's single writer long enough to cut issuance during a
    # purge to a fifth (bench --purge).
    TOKEN_PURGE_BATCH_SIZE = 1000
    TOKEN_PURGE_PAUSE_SECONDS = 0.01
    # The share of time a purge may spend writing (0 < share <= 1): after a batch
    # that held the writer t seconds, it pauses at least t * (1 - share) / share, so
    # issuance during a purge keeps about the rest (bench --purge; 1: only the pause).
    TOKEN_PURGE_WRITER_SHARE = 0.2

    # How many days of rows `flask audit purge` and `flask usage purge` keep (whole days,
    # 1 or more; run them from cron next to `tokens purge`, paced by the same batch
    # settings). Audit events: a year, the usual retention of an audit trail (PCI DSS
    # 10.7 asks for one) and a whole yearly round of admin changes; raise it if your rules
    # ask for longer. Usage counts: more than a year, so that a client that calls once a
    # year (an annual job) is still counted when it calls again (`legacy usage --since
    # 365d` shows it) before its query-string secret is switched off.
    AUDIT_RETENTION_DAYS = 365
    USAGE_RETENTION_DAYS = 400

    # Prometheus metrics at /metrics (emulator/ops/metrics.py; docs/operate/metrics.md). Off: no
    # /metrics (it answers as any unknown URL) and nothing counted. A server of several
    # worker processes needs the environment variable PROMETHEUS_MULTIPROC_DIR: an empty
    # directory, made before the workers start (bin/serve makes and empties
    # instance/prometheus, or the directory the variable names); without it each process
    # counts alone.
    METRICS_ENABLED = False
    # Who may scrape: addresses or networks (a list, or one string separated by commas or
    # spaces, e.g. FLASK_METRICS_ALLOWED="10.0.0.0/8"); anyone else gets 403. The address
    # is the socket's, or the client's as TRUSTED_PROXIES reads it.
    METRICS_ALLOWED: list[str] = ["127.0.0.1", "::1"]
    # Optional: the SHA-256 (64 hex digits) of a bearer token scrapers must also send
    # (Authorization: Bearer TOKEN); only the hash is kept here. Empty: no token asked.
    METRICS_TOKEN_SHA256 = ""

    # Usage telemetry (emulator/ops/usage.py, `flask legacy usage`): per client and URL form,
    # a count per UTC day and the last time seen. Each worker counts in memory and adds its
    # counts to the table every USAGE_FLUSH_SECONDS, in one transaction, and at exit; the
    # request path never writes for it. 0: no background flush (tests flush themselves).
    USAGE_TELEMETRY = True
    USAGE_FLUSH_SECONDS = 5.0
    # Distinct (client, form, day) keys a worker holds between flushes; past it, requests
    # of new keys are not counted (and a warning says how many were not).
    USAGE_MAX_KEYS = 10_000

    # --- Admin pages (/admin, emulator/manage/admin) ------------------------------------------
    # An admin session ends after this many seconds without a page being asked for, and in
    # any case this long after the login (a left-open browser on a shared desk, a stolen
    # cookie). It also ends at once when the admin's password changes (any worker).
    ADMIN_SESSION_IDLE_SECONDS = 3600
    ADMIN_SESSION_MAX_AGE = 8 * 3600
    # Failed admin logins, counted like failed client authentication (emulator/ops/throttle.py,
    # the same storage): per (username, address), and per address whatever usernames it
    # tries; at the limit the login answers 429 until the window ends. Empty: not counted.
    ADMIN_LOGIN_FAILURE_LIMIT = "5/15minutes"
    ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT = "20/15minutes"
    # The session cookie's Secure flag. None (auto): Secure, except on a plain-http request
    # straight from this machine (a loopback address, no proxy's X-Forwarded-*/Forwarded
    # header: a browser beside `make run`), where a browser would drop a Secure cookie and
    # no one can listen on the wire. The scheme and address are the server's (or, with
    # TRUSTED_PROXIES, the proxy's); the Host header, which the client writes, plays no
    # part. True/False force it: True behind any TLS proxy is the plainest setting.
    ADMIN_COOKIE_SECURE: bool | None = None
    # Only the admin pages use a session: its cookie is sent to them alone, never to
    # JavaScript, and not on cross-site subrequests or posts (Flask's own settings).
    SESSION_COOKIE_PATH = "/admin"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "emulator_admin"
    # Flask-WTF: CSRF tokens are checked on the admin pages' posts only (the blueprint
    # checks them), never on the legacy endpoints, whose clients post without one.
    WTF_CSRF_CHECK_DEFAULT = False
    # A form's CSRF token is good for the session's life (None), not a fixed hour: the
    # session's own expiry bounds it.
    WTF_CSRF_TIME_LIMIT = None
