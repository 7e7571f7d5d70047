"""gunicorn settings for the benchmark's comparison (`--server gunicorn-gthread|gunicorn-sync`).

`make run` serves with granian (bin/serve), chosen by this comparison; see the README's
performance section. Environment: PORT, WEB_CONCURRENCY, THREADS, WORKER_CLASS.
"""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = os.environ.get("WORKER_CLASS", "gthread")
threads = int(os.environ.get("THREADS", "4"))
keepalive = 5  # seconds; API clients reuse connections
# No access log: legacy clients put client_secret in the query string, and secrets never
# go to logs. Errors still go to stderr.
accesslog = None
errorlog = "-"
# A worker is replaced after this many requests (plus jitter), which bounds any slow leak.
max_requests = 100_000
max_requests_jitter = 10_000
graceful_timeout = 10
wsgi_app = "app:create_app()"
