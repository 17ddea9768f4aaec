"""The shared test toolkit: helpers every test folder uses.

``count_queries()`` counts the SQL statements a block of code sends (the N+1
guard on list pages and bulk services); transaction control (BEGIN, COMMIT,
SAVEPOINT, PRAGMA) is not counted. Factories live in ``tests/factories.py``,
logging in and API clients in ``tests/conftest.py``.
"""

from contextlib import contextmanager

from sqlalchemy import event

from training.extensions import db


class Counter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def __len__(self) -> int:
        return len(self.statements)

    def __iter__(self):
        return iter(self.statements)


@contextmanager
def count_queries():
    counter = Counter()
    engine = db.engine

    def before(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")):
            counter.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counter
    finally:
        event.remove(engine, "before_cursor_execute", before)
