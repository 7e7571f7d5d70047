"""Engine tests: a session and a fixed clock, no HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from emulator import oauth
from emulator.storage.database import db
from tests.support.engine import CLIENTS
from tests.support.engine import NOW


@pytest.fixture
def session(app) -> Iterator[Session]:
    with app.app_context():
        yield db.session


@pytest.fixture
def new_client(session):
    """Register a client; returns its record as the request paths read it."""

    def build(
        client_id: str = "c1", *, secret: str | None = "s3cret", **kwargs
    ) -> oauth.ClientRecord:
        oauth.register_client(session, oauth.ClientSpec(client_id, secret, **kwargs), now=NOW)
        session.commit()
        record = CLIENTS.read(session, client_id)
        assert record is not None
        return record

    return build
