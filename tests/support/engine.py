"""What the engine tests share: a fixed clock, the client store a request path reads, and
a client_credentials issue under one policy."""

from __future__ import annotations

from datetime import datetime

from emulator import oauth

NOW = datetime(2026, 1, 15, 12, 0, 0)
# The engine's client store as a worker without caching has it (every read goes to the
# database; verified secrets are remembered, as in every worker).
CLIENTS = oauth.ClientStore(max_age=0)
POLICY = oauth.TokenPolicy(access_lifetime=3600, client_credentials_refresh_token=True)


def issue(session, client_id="c1", secret="s3cret", policy=POLICY, now=NOW, **kwargs):
    req = oauth.TokenRequest(
        grant_type="client_credentials",
        credentials=oauth.ClientCredentials(client_id, secret),
        **kwargs,
    )
    issued = oauth.issue_token(session, req, policy, clients=CLIENTS, now=now)
    session.commit()
    return issued
