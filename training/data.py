"""flask data export / import: every table to one JSON archive and back.

The archive is what an operator needs to move the platform to another database
(SQLite to PostgreSQL, or a new server) or to keep a portable copy beside
pg_dump. Its shape::

    {"format": "smt-training-data", "version": 1,
     "tables": {"users": {"columns": ["id", ...], "rows": [[1, ...], ...]}, ...}}

Tables come in dependency order and rows in primary-key order, so the same
data always gives the same bytes. Date-times are ISO 8601 in UTC, dates
``YYYY-MM-DD``, binary values base64 (``{"$b64": "..."}``). A path ending in
``.gz`` is gzip-compressed. Uploaded files (trainer photos) and the signing
keys under instance/ are not in the database: back them up as files.

Import restores into an EMPTY database that already has the schema
(``flask db upgrade``), refuses otherwise, inserts everything in one
transaction, and then moves PostgreSQL's id sequences past the restored ids.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import Date, DateTime, Integer, LargeBinary, Table, func, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db

FORMAT = "smt-training-data"
VERSION = 1
CHUNK = 1000

data = AppGroup("data", help="Export all data to a JSON archive, or import one into an empty database.")


class DataError(Exception):
    """The archive or the target database is not fit for the operation."""


def _tables() -> list[Table]:
    # Every model module is imported by the app factory, so the metadata is complete.
    return list(db.metadata.sorted_tables)


def _order(table: Table):
    keys = list(table.primary_key.columns) or list(table.columns)
    return [c.asc() for c in keys]


def _dump_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$b64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _load_value(column, value: Any) -> Any:
    if value is None:
        return None
    column_type = column.type
    impl = getattr(column_type, "impl", column_type)
    if isinstance(value, dict) and "$b64" in value:
        return base64.b64decode(value["$b64"])
    if isinstance(impl, DateTime) and isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None and getattr(impl, "timezone", False):
            parsed = parsed.replace(tzinfo=UTC)
        return parsed
    if isinstance(impl, Date) and isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(impl, LargeBinary) and isinstance(value, str):
        return base64.b64decode(value)
    return value


def export_data() -> dict:
    """Everything in the database as one JSON-able dict (stable order)."""
    tables = {}
    for table in _tables():
        columns = [c.name for c in table.columns]
        rows = [
            [_dump_value(v) for v in row] for row in db.session.execute(select(*table.columns).order_by(*_order(table)))
        ]
        tables[table.name] = {"columns": columns, "rows": rows}
    db.session.rollback()
    return {"format": FORMAT, "version": VERSION, "tables": tables}


def dumps(archive: dict) -> str:
    return json.dumps(archive, ensure_ascii=False, indent=1, sort_keys=False) + "\n"


def write_archive(path: Path, archive: dict) -> None:
    payload = dumps(archive).encode("utf-8")
    if path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    tmp.replace(path)


def read_archive(path: Path) -> dict:
    try:
        payload = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if payload[:2] == b"\x1f\x8b":
        try:
            payload = gzip.decompress(payload)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise DataError(f"{path} is a damaged gzip file ({exc}); nothing was imported.") from None
    try:
        archive = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataError(f"{path} is not a JSON archive ({str(exc)[:120]}); nothing was imported.") from None
    if not isinstance(archive, dict) or archive.get("format") != FORMAT:
        raise DataError(f"{path} is not a {FORMAT} archive.")
    if archive.get("version") != VERSION:
        raise DataError(f"Archive version {archive.get('version')} is not supported (expected {VERSION}).")
    if not isinstance(archive.get("tables"), dict):
        raise DataError("The archive has no tables.")
    return archive


def row_counts() -> dict[str, int]:
    return {t.name: db.session.scalar(select(func.count()).select_from(t)) or 0 for t in _tables()}


def import_data(archive: dict) -> dict[str, int]:
    """Restore the archive into this (empty) database in one transaction;
    returns the rows inserted per table."""
    tables = _tables()
    existing = set(inspect(db.engine).get_table_names())
    missing = [t.name for t in tables if t.name not in existing]
    if missing:
        raise DataError(
            "The database has no schema yet (missing tables: "
            f"{', '.join(missing[:5])}{'...' if len(missing) > 5 else ''}). Run `flask db upgrade` first."
        )
    filled = {name: n for name, n in row_counts().items() if n}
    if filled:
        raise DataError(
            "The database is not empty ("
            + ", ".join(f"{name}: {n} rows" for name, n in list(filled.items())[:5])
            + "). Import only restores into an empty database."
        )
    known = {t.name: t for t in tables}
    if not isinstance(archive.get("tables"), dict):
        raise DataError("The archive has no tables.")
    unknown = sorted(set(archive["tables"]) - set(known))
    if unknown:
        raise DataError(f"The archive has tables this version does not know: {', '.join(unknown)}.")
    inserted: dict[str, int] = {}
    current = None
    try:
        for table in tables:  # dependency order: parents first
            content = archive["tables"].get(table.name)
            if not content:
                continue
            current = table.name
            if not isinstance(content, dict):
                raise DataError(f"Table {table.name}: not an object with columns and rows.")
            inserted[table.name] = _insert_table(table, content)
        current = None
        db.session.flush()
        _reset_sequences(tables)
        if "report_summary_state" in archive["tables"]:
            # The archive holds the report summaries as they were: the restored rows change nothing in them
            # (an older archive without them leaves its changes noted, so the summaries are computed).
            from .figures.summaries import forget_noted_changes

            forget_noted_changes(db.session)
        db.session.commit()
    except DataError:
        db.session.rollback()
        raise
    except (SQLAlchemyError, ValueError, TypeError, binascii.Error) as exc:
        # One clear line, without the rows (an archive holds personal data); nothing is kept.
        db.session.rollback()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        reason = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)=\([^)]*\)", "…", reason)  # values stay out
        where = f"Table {current}" if current else "The archive"
        raise DataError(
            f"{where} does not fit this database ({type(getattr(exc, 'orig', None) or exc).__name__}"
            f"{': ' + reason if reason else ''}); nothing was imported."
        ) from None
    from .catalogue.search import rebuild_search_index

    rebuild_search_index()
    return inserted


def _insert_table(table: Table, content: dict) -> int:
    names = content.get("columns")
    rows = content.get("rows")
    if not isinstance(names, list) or not isinstance(rows, list):
        raise DataError(f"Table {table.name}: columns and rows must be lists.")
    columns = []
    for name in names:
        if name not in table.c:
            raise DataError(f"Table {table.name} has no column {name!r} in this version.")
        columns.append(table.c[name])
    # A column that refers to its own table (a course's prerequisite, a superseded
    # certificate) is filled in a second pass, once every row it may point at exists.
    deferred = [c for c in columns if any(fk.column.table is table for fk in c.foreign_keys)]
    records = []
    for row in rows:
        if not isinstance(row, list) or len(row) != len(columns):
            raise DataError(f"Table {table.name}: a row does not match the columns.")
        records.append({c.name: _load_value(c, v) for c, v in zip(columns, row, strict=False)})
    first = [{k: (None if table.c[k] in deferred else v) for k, v in r.items()} for r in records]
    for chunk in _chunks(first):
        db.session.execute(table.insert(), chunk)
    if deferred:
        keys = list(table.primary_key.columns)
        for record in records:
            values = {c.name: record[c.name] for c in deferred if record.get(c.name) is not None}
            if values:
                db.session.execute(table.update().where(*[k == record[k.name] for k in keys]).values(**values))
    return len(records)


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reset_sequences(tables: list[Table]) -> None:
    if db.engine.dialect.name != "postgresql":
        return  # SQLite takes max(rowid) + 1 by itself
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, Integer):
                continue
            sequence = db.session.scalar(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
            )
            if sequence:
                db.session.execute(
                    text(
                        f'SELECT setval(:s, COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1, false)'
                    ),
                    {"s": sequence},
                )


@data.command("export")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def export_command(path: Path):
    """Write every table to PATH (JSON; gzip when PATH ends in .gz)."""
    archive = export_data()
    write_archive(path, archive)
    total = sum(len(t["rows"]) for t in archive["tables"].values())
    click.echo(f"Exported {total} rows from {len(archive['tables'])} tables to {path}.")


@data.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path):
    """Restore PATH into this EMPTY database (run `flask db upgrade` first)."""
    try:
        inserted = import_data(read_archive(path))
    except DataError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Imported {sum(inserted.values())} rows into {len(inserted)} tables from {path}.")
