"""The apigee plugin's own table: the protected API proxies an admin configured."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.db import db


class ApigeeProxy(db.Model):
    """An API proxy: requests under ``base_path`` are verified, then forwarded to ``target_url``.

    Apigee's VerifyAccessToken + HTTPTargetConnection, as one row.
    """

    __tablename__ = "apigee_proxies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    base_path: Mapped[str] = mapped_column(String(255), unique=True)  # "/weather", no trailing "/"
    target_url: Mapped[str] = mapped_column(String(2000))
    # Space-separated; the token must hold at least one (VerifyAccessToken's <Scope>).
    # None: any valid token passes.
    scope: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
