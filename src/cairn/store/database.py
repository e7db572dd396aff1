"""Opening the metadata database: engine settings per dialect, and schema migrations.

SQLite runs in WAL mode with a busy timeout so many processes can log at once; PostgreSQL
goes through psycopg 3. Migrations run under a lock (a file lock for SQLite, an advisory
lock for PostgreSQL) so processes opening a new store together do not race.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

HEAD_REVISION = "0008"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 60_000
_PG_MIGRATION_LOCK = 0x6361_6972  # "cair": any constant shared by all cairn processes


def normalize_url(url: str) -> str:
    """Accept the URLs users type (`postgresql://`, a plain path) and name the driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if "://" not in url:
        return f"sqlite:///{Path(url).resolve()}"
    return url


def create_engine(url: str) -> sa.Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "isolation_level": None}
        )
        sa.event.listen(engine, "connect", _configure_sqlite)
        sa.event.listen(engine, "begin", _begin_immediate)
        if database and database != ":memory:":
            _use_wal(engine, database)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


def _use_wal(engine: sa.Engine, database: str) -> None:
    """Put the database file in WAL mode (readers and a writer at once), which the file
    keeps. Switching reads the file's header, then writes it, and SQLite fails at once, busy
    timeout or not, a connection that holds a read lock and wants the write lock another
    holds: so of processes opening a new store together, some would get "database is
    locked". One switches, under the store's file lock; the others find it done."""
    if _journal_mode(engine) == "wal":
        return
    with _file_lock(database):
        _journal_mode(engine, "PRAGMA journal_mode=WAL")


def _journal_mode(engine: sa.Engine, statement: str = "PRAGMA journal_mode") -> str:
    """The file's journal mode after `statement`. Where WAL cannot be had (no shared memory,
    as on some network drives) SQLite keeps the old mode, and the store works in it."""
    # A raw connection: no transaction is begun, and the mode cannot change inside one.
    connection = engine.raw_connection()
    try:
        return connection.driver_connection.execute(statement).fetchone()[0]
    finally:
        connection.close()


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # WAL + NORMAL is durable against process crashes (not power loss), like most stores.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(conn: sa.Connection) -> None:
    # A deferred transaction that later writes can fail with SQLITE_BUSY without waiting;
    # taking the write lock up front makes the busy timeout apply. Readers need no lock.
    readonly = conn.get_execution_options().get("readonly", False)
    # Straight to the driver: through SQLAlchemy this one statement cost as much as an insert.
    conn.connection.driver_connection.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")


def read(engine: sa.Engine) -> sa.Connection:
    """A connection for queries only: on SQLite it does not take the write lock."""
    return engine.connect().execution_options(readonly=True)


def current_revision(engine: sa.Engine) -> str | None:
    with read(engine) as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def migrate(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to `revision`; a no-op when it is there already."""
    if revision == "head" and current_revision(engine) == HEAD_REVISION:
        return
    from alembic import command
    from alembic.config import Config

    with _migration_lock(engine), engine.begin() as conn:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


@contextmanager
def _migration_lock(engine: sa.Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
                conn.commit()
        return
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    with _file_lock(database):
        yield


@contextmanager
def _file_lock(database: str) -> Iterator[None]:
    """The store's lock across processes, held while its file changes shape."""
    with open(f"{database}.lock", "a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def dialect_insert(engine_or_conn: sa.Engine | sa.Connection, table: sa.Table):
    """An INSERT that supports ON CONFLICT, for the two dialects cairn runs on."""
    if engine_or_conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)
