"""The project's own event store (SQLAlchemy Core) for SQLite and MySQL/MariaDB.

It implements eventsourcing's recorders and fixes what eventsourcing-sqlalchemy gets
wrong on MySQL (docs/decisions/0002-event-store-and-global-ordering.md): appends are
serialized on a sequence row so global positions are gapless and become visible in
order, payloads are LONGBLOB, tracking is compare-and-set.
"""
