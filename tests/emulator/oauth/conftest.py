"""Engine tests: a session and a fixed clock, no HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from emulator import oauth
from emulator.db import db
from emulator.models import Client

NOW = datetime(2026, 1, 15, 12, 0, 0)


@pytest.fixture
def session(app) -> Iterator[Session]:
    with app.app_context():
        yield db.session


@pytest.fixture
def new_client(session):
    def build(client_id: str = "c1", *, secret: str | None = "s3cret", **kwargs) -> Client:
        client = oauth.register_client(session, client_id, secret=secret, now=NOW, **kwargs)
        session.commit()
        return client

    return build
