"""Copy a SQLite database into an empty PostgreSQL one (`invoke migrate-data`): switching modes loses nothing.

The target is first migrated to the same revision as the source, then every table is copied in foreign-key
order, in batches, keeping the ids; the sequences are then set above the copied ids, and the row counts of
every table are compared before the one transaction commits, so a failed copy leaves the target empty.
The source is only read; stop the server using it first (its exclusive SQLite lock would block the copy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, func, select, text
from sqlalchemy.exc import OperationalError

from app.core.database_url import describe, is_postgres, sync_url
from app.migrate import current, upgrade

BATCH_ROWS = 5000
VERSION_TABLE = "alembic_version"


class DataCopyError(Exception):
    """The copy cannot start or did not verify; the message says what to fix."""


@dataclass(frozen=True)
class CopiedTable:
    name: str
    rows: int


def _application_tables(connection: Connection) -> list[Table]:
    """The source's tables in foreign-key order (parents first), without Alembic's bookkeeping."""
    metadata = MetaData()
    metadata.reflect(connection)
    return [table for table in metadata.sorted_tables if table.name != VERSION_TABLE]


def _count(connection: Connection, table: Table) -> int:
    return connection.execute(select(func.count()).select_from(table)).scalar_one()


def _check_source(source_url: str) -> str:
    url = sync_url(source_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        raise DataCopyError(f"the source database {describe(source_url)} does not exist")
    revision = current(source_url)
    if revision is None:
        raise DataCopyError(
            f"the source database {describe(source_url)} has no migrations applied: nothing to copy"
        )
    return revision


def _refuse_non_empty_target(target: Engine, target_url: str) -> None:
    with target.connect() as connection:
        for table in _application_tables(connection):
            if rows := _count(connection, table):
                raise DataCopyError(
                    f"the target database {describe(target_url)} is not empty "
                    f"({table.name} has {rows:,} rows): copy into a new, empty database"
                )


def _reset_sequence(connection: Connection, table: Table) -> None:
    """Make the next generated id follow the highest copied one (explicit ids do not advance a sequence)."""
    key = list(table.primary_key.columns)
    if len(key) != 1 or key[0].type.python_type is not int:
        return
    column = key[0].name
    connection.execute(
        text(
            f"SELECT setval(pg_get_serial_sequence(:table, :column), COALESCE(MAX({column}), 0) + 1, false) "  # noqa: S608
            f"FROM {table.name}"
        ),
        {"table": table.name, "column": column},
    )


def copy_database(
    source_url: str,
    target_url: str,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Callable[[str], None] = print,
) -> list[CopiedTable]:
    """Copy every table of `source_url` into the empty `target_url`; return each table's verified count."""
    if sync_url(source_url) == sync_url(target_url):
        raise DataCopyError("the source and the target are the same database")
    revision = _check_source(source_url)
    source = create_engine(sync_url(source_url))
    target = create_engine(sync_url(target_url))
    try:
        _refuse_non_empty_target(target, target_url)
        progress(f"migrating the target to revision {revision}")
        upgrade(target_url, revision)
        with source.connect() as reader, target.begin() as writer:
            if is_postgres(target_url):
                # SQLite keeps CURRENT_TIMESTAMP as UTC without an offset: read those times as UTC.
                writer.execute(text("SET LOCAL TIME ZONE 'UTC'"))
            copied = [
                _copy_table(reader, writer, table, batch_rows, progress)
                for table in _application_tables(reader)
            ]
            if is_postgres(target_url):
                for table in _application_tables(writer):
                    _reset_sequence(writer, table)
            _verify(reader, writer, copied)
        return copied
    except OperationalError as exc:
        if "locked" in str(exc):
            raise DataCopyError(
                "the source database is locked: stop the server that uses it, then retry"
            ) from exc
        raise
    finally:
        source.dispose()
        target.dispose()


def _copy_table(
    reader: Connection, writer: Connection, table: Table, batch_rows: int, progress: Callable[[str], None]
) -> CopiedTable:
    total = _count(reader, table)
    destination = Table(table.name, MetaData(), autoload_with=writer)
    columns = [column.name for column in destination.columns if column.name in table.columns]
    query = select(*(table.c[name] for name in columns)).order_by(*table.primary_key.columns)
    done = 0
    result = reader.execution_options(yield_per=batch_rows).execute(query)
    for rows in result.partitions():
        writer.execute(destination.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        done += len(rows)
        progress(f"  {table.name}: {done:,} / {total:,} rows")
    if total == 0:
        progress(f"  {table.name}: empty")
    return CopiedTable(table.name, done)


def _verify(reader: Connection, writer: Connection, copied: list[CopiedTable]) -> None:
    for table in copied:
        source_rows = reader.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()  # noqa: S608
        target_rows = writer.execute(text(f"SELECT count(*) FROM {table.name}")).scalar_one()  # noqa: S608
        if not source_rows == target_rows == table.rows:
            raise DataCopyError(
                f"{table.name}: the source has {source_rows:,} rows but the target {target_rows:,}; "
                "nothing was committed"
            )
