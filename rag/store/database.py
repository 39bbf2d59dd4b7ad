"""The database behind the audit store: SQLite by default (one file beside the index, WAL), PostgreSQL when
RAG_DATABASE_URL is set; SQLAlchemy 2 Core, so both run the same queries.

Schema changes are numbered migrations applied in order at startup, each in its own transaction, with the version
kept in the database. Not Alembic: the schema is a few small tables whose migrations are a few statements each;
Alembic would add a migration environment and a second configuration for no gain at this size. A database written
by a newer version of the app is refused with one line rather than read wrongly.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from sqlalchemy import (Boolean, Column, ForeignKey, Index, Integer, MetaData, String, Table, Text, create_engine,
                        event, select, text)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from ..errors import DatabaseError

metadata = MetaData()
schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))
answers = Table(
    "answers", metadata,
    Column("id", String(64), primary_key=True),
    Column("time", String(32), nullable=False),  # UTC, ISO 8601: sorts as text
    Column("status", String(16), nullable=False),
    Column("review", Boolean, nullable=False),  # a no-answer or urgent reply: always in the review queue
    Column("question", Text, nullable=False),  # redacted
    Column("documents", Text, nullable=False),  # the cited documents' ids and titles, lower case (document filter)
    Column("entry", Text, nullable=False),  # the whole entry as JSON (what the inspector and the CSV read)
)
Index("answers_time", answers.c.time)
Index("answers_status_time", answers.c.status, answers.c.time)
Index("answers_review_time", answers.c.review, answers.c.time)
feedback = Table(
    "feedback", metadata,
    Column("answer_id", String(64), ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True),
    Column("helpful", Boolean, nullable=False),
    Column("comment", Text, nullable=False),
    Column("time", String(32), nullable=False),
)
Index("feedback_helpful", feedback.c.helpful)


staff = Table(
    "staff", metadata,
    Column("name", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),  # argon2id
    Column("created", String(32), nullable=False),
)
sign_ins = Table(
    "sign_ins", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("address", String(64), nullable=False),
    Column("time", String(32), nullable=False),
    Column("ok", Boolean, nullable=False),
)
Index("sign_ins_name_time", sign_ins.c.name, sign_ins.c.time)
Index("sign_ins_address_time", sign_ins.c.address, sign_ins.c.time)


cited = Table(  # which documents each answer cited: the review queue's document filter is an indexed lookup
    "cited", metadata,
    Column("answer_id", String(64), ForeignKey("answers.id", ondelete="CASCADE"), nullable=False),
    Column("doc_id", String(200), nullable=False),
    Column("time", String(32), nullable=False),
)
Index("cited_doc_time", cited.c.doc_id, cited.c.time)
Index("cited_answer", cited.c.answer_id)
documents = Table(  # every document ever cited, with its title: a substring filter resolves here, not over answers
    "documents", metadata,
    Column("doc_id", String(200), primary_key=True),
    Column("title", Text, nullable=False),
)


def _v1(conn: Connection) -> None:
    for table in (answers, feedback):
        table.create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    for table in (staff, sign_ins):
        table.create(conn, checkfirst=True)


def _v3(conn: Connection) -> None:
    """The cited documents of the answers already stored, from their entries."""
    import json

    for table in (cited, documents):
        table.create(conn, checkfirst=True)
    seen: set[str] = set()
    for answer_id, time, entry in conn.execute(select(answers.c.id, answers.c.time, answers.c.entry)):
        e = json.loads(entry)
        titles = {c.get("doc_id"): c.get("title", "") for c in e.get("citations") or []}
        for doc in dict.fromkeys(e.get("doc_ids") or []):
            conn.execute(cited.insert().values(answer_id=answer_id, doc_id=doc, time=time))
            if doc not in seen:
                seen.add(doc)
                conn.execute(documents.insert().values(doc_id=doc, title=titles.get(doc, "")))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3]  # version n is MIGRATIONS[n - 1]
VERSION = len(MIGRATIONS)


def url_for(database_url: str | None, sqlite_path: Path) -> str:
    """RAG_DATABASE_URL as given ("postgresql://user@host/db" uses psycopg 3), else the SQLite file."""
    if database_url:
        if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
            return "postgresql+psycopg://" + database_url.split("://", 1)[1]
        return database_url
    return f"sqlite:///{Path(sqlite_path).resolve()}"


def where(url: str) -> str:
    """The URL without its password, for messages."""
    head, _, rest = url.partition("://")
    user_host = rest.split("@", 1)
    return f"{head}://{user_host[0].split(':')[0]}@{user_host[1]}" if len(user_host) == 2 else url


def connect(url: str) -> Engine:
    """An engine with its schema brought to this version. One clear DatabaseError if the server cannot be reached
    or the schema was written by a newer version."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_settings(dbapi_conn, _record) -> None:  # WAL: readers never wait for the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                               connect_args={"connect_timeout": 5} if "psycopg" in url else {})
    try:
        migrate(engine)
    except SQLAlchemyError as err:
        engine.dispose()
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise DatabaseError(f"{where(url)}: cannot open the audit database ({reason}); check RAG_DATABASE_URL "
                            "and that the server is running") from None
    return engine


def migrate(engine: Engine) -> int:
    """Apply the migrations this database lacks; return the version. On PostgreSQL all of it runs in one
    transaction under an advisory lock, so replicas starting together migrate once (its DDL is transactional)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7240118)"))
        schema_version.create(conn, checkfirst=True)
        found = conn.execute(select(schema_version.c.version)).scalar()
        if found is None:
            conn.execute(schema_version.insert().values(version=0))
            found = 0
        if found > VERSION:
            raise DatabaseError(f"{where(str(engine.url))}: the audit database is at schema version {found}, newer "
                                f"than this app's {VERSION}; run the newer app version (or point RAG_DATABASE_URL "
                                "elsewhere)")
        for number in range(found + 1, VERSION + 1):
            MIGRATIONS[number - 1](conn)
            conn.execute(schema_version.update().values(version=number))
    return VERSION


def version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT version FROM schema_version")).scalar() or 0)
