"""The passthrough plugin's own tables: what shadow mode found (bounded, masked).

One row per kind of difference (a count, first and last seen, one masked example), at most
``shadow_max_kinds`` of them, and one row per counter (compared, matched, dropped, ...).
Nothing here holds a secret, a token, an ``Authorization`` header or a cookie
(plugins/passthrough/compare.py masks them before anything is kept).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from emulator.host import Base
from emulator.host import LongText
from emulator.host import Timestamp


class ShadowDifference(Base):
    """One kind of difference between our answers and the legacy site's."""

    __tablename__ = "passthrough_shadow_differences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of ``kind``: the unique key (a kind may be longer than an index allows).
    kind_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(LongText)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime] = mapped_column(Timestamp)
    last_seen: Mapped[datetime] = mapped_column(Timestamp)
    example: Mapped[str] = mapped_column(LongText)  # JSON, masked (compare.Difference.example)


class ShadowCounter(Base):
    """A count of shadowed requests: compared, matched, differed, failed, skipped, dropped..."""

    __tablename__ = "passthrough_shadow_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(Timestamp)
