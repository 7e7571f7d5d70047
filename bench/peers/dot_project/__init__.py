"""django-oauth-toolkit's project, minimal and as its docs show it: the peers ``dot`` and
``dot-plain`` of ``make bench BENCH_ARGS=--peers`` (issue 22). Runs in .venv-peers."""
