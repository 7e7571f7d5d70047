"""Authlib's Flask authorization server, minimal and as Authlib's docs show it: the peer
``authlib`` of ``make bench BENCH_ARGS=--peers`` (issue 22).

flask-sqlalchemy models on Authlib's SQLAlchemy mixins, ``AuthorizationServer`` with the
``query_client`` and ``save_token`` functions Authlib makes for them, the
client_credentials grant, and ``/oauth/token`` answering ``create_token_response()``. The
one addition is the storage settings: the SQLite file ``AUTHLIB_DATABASE`` in WAL mode
with ``synchronous=NORMAL``, as the project runs SQLite, so that a difference in the
figures is not a difference in fsyncs.

It runs in the peers' virtualenv (.venv-peers), never the project's: granian serves
``create_app`` from this folder, and ``python authlib_app.py CLIENT_ID SECRET SCOPE``
creates the tables and registers the benchmark's client.
"""

from __future__ import annotations

import os
import sys
import time

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.sqla_oauth2 import OAuth2ClientMixin
from authlib.integrations.sqla_oauth2 import OAuth2TokenMixin
from authlib.integrations.sqla_oauth2 import create_query_client_func
from authlib.integrations.sqla_oauth2 import create_save_token_func
from authlib.oauth2.rfc6749 import grants
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event

db = SQLAlchemy()


class Client(db.Model, OAuth2ClientMixin):
    """An OAuth2 client (Authlib's columns); the docs' user foreign key is a plain column:
    client_credentials has no user."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer)


class Token(db.Model, OAuth2TokenMixin):
    """An issued token (Authlib's columns, the access token itself stored as issued)."""

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer)


def use_wal(dbapi_connection, _record) -> None:
    """The project's SQLite settings on every new connection."""
    dbapi_connection.execute("PRAGMA journal_mode=WAL")
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def create_app() -> Flask:
    """The Flask app on ``AUTHLIB_DATABASE`` (granian ``--factory authlib_app:create_app``)."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.environ["AUTHLIB_DATABASE"]
    db.init_app(app)
    with app.app_context():
        event.listen(db.engine, "connect", use_wal)
    server = AuthorizationServer(
        app,
        query_client=create_query_client_func(db.session, Client),
        save_token=create_save_token_func(db.session, Token),
    )
    server.register_grant(grants.ClientCredentialsGrant)

    @app.route("/oauth/token", methods=["POST"])
    def issue_token():
        return server.create_token_response()

    @app.route("/healthz")
    def healthz():
        return "ok"

    return app


def register(client_id: str, secret: str, scope: str) -> None:
    """Create the tables and a confidential client_credentials client that authenticates
    with HTTP Basic (client_secret_basic), as the docs register one."""
    app = create_app()
    with app.app_context():
        db.create_all()
        client = Client(
            client_id=client_id, client_secret=secret, client_id_issued_at=int(time.time())
        )
        client.set_client_metadata(
            {
                "grant_types": ["client_credentials"],
                "scope": scope,
                "token_endpoint_auth_method": "client_secret_basic",
            }
        )
        db.session.add(client)
        db.session.commit()


if __name__ == "__main__":
    register(*sys.argv[1:4])
