"""Column types the revision scripts in `versions/` share (Alembic loads every `.py` in
that folder as a revision, so they live here).

A revision states the schema at its point in history: these types must never change
(a new kind of column gets a new name here), or the revisions that use them would
create other tables than they did.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql


def ident(length: int) -> sa.types.TypeEngine[str]:
    """An identifier: compared byte for byte on MySQL (`utf8mb4_bin`)."""
    return sa.String(length).with_variant(
        mysql.VARCHAR(length, charset="utf8mb4", collation="utf8mb4_bin"), "mysql", "mariadb")


# A point in time to the microsecond (MySQL's DATETIME keeps whole seconds by default).
TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
