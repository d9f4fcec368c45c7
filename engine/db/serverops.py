"""Server-level SQL for MariaDB/MySQL and PostgreSQL: sessions, database properties, re-creation.

Restoring "exactly what was backed up" means dropping the database and creating it again with
its original character set/collation (or encoding/locale and owner), so tables created after
the backup do not survive. Those properties are not bindable parameters in DDL, so they are
checked against a strict pattern before they are written into the statement.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from engine.db.database import Database
from engine.db.dialects import is_mysql_family
from engine.db.errors import DbError, Unsupported

_PROPERTY = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def _property(value: Any, what: str) -> str:
    text = str(value)
    if not _PROPERTY.match(text):
        raise DbError(f"database {what} {text!r} is not a plain name; refusing to write it into DDL")
    return text


def _host_of(client: str) -> str:
    """`127.0.0.1:53822` -> `127.0.0.1` (MariaDB shows the client port; sessions count per host)."""
    host, sep, port = client.rpartition(":")
    return host if sep and port.isdigit() else client


def sessions(db: Database, database: str) -> dict[str, int]:
    """Other sessions using `database`, counted per client host."""
    if is_mysql_family(db.dialect):
        rows = db.rows(
            "SELECT host FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
            (database,),
        )
        counts: dict[str, int] = {}
        for (client,) in rows:
            host = _host_of(str(client or ""))
            counts[host] = counts.get(host, 0) + 1
        return counts
    if db.dialect.name == "postgresql":
        rows = db.rows(
            "SELECT COALESCE(client_hostname, host(client_addr), 'local') AS client, count(*) AS sessions "
            "FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid() GROUP BY 1",
            (database,),
        )
        return {str(r[0]): int(r[1]) for r in rows}
    raise Unsupported("counting sessions", db.dialect.name)


def terminate_sessions(db: Database, database: str) -> int:
    """End every other session on `database` (exclusive access before a restore); how many."""
    if is_mysql_family(db.dialect):
        ids = [
            r[0]
            for r in db.rows(
                "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> CONNECTION_ID()",
                (database,),
            )
        ]
        for session_id in ids:
            with contextlib.suppress(DbError):  # it may have ended on its own in between
                db.execute("KILL ?", (int(session_id),))
        return len(ids)
    if db.dialect.name == "postgresql":
        rows = db.rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ? AND pid <> pg_backend_pid()",
            (database,),
        )
        return len(rows)
    raise Unsupported("ending sessions", db.dialect.name)


def database_properties(db: Database, database: str) -> dict[str, Any]:
    """What is needed to create the database again as it was (empty when it does not exist)."""
    if is_mysql_family(db.dialect):
        rows = db.query(
            "SELECT default_character_set_name AS charset, default_collation_name AS collation "
            "FROM information_schema.schemata WHERE schema_name = ?",
            (database,),
        )
    else:
        rows = db.query(
            "SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype, "
            "pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = ?",
            (database,),
        )
    return {k: str(v) for k, v in rows[0].items()} if rows else {}


def drop_database(db: Database, database: str) -> None:
    """Drop a database if it exists; PostgreSQL sessions are ended (WITH (FORCE))."""
    q = db.dialect.quote_ident(database, "database name")
    terminate_sessions(db, database)
    force = "" if is_mysql_family(db.dialect) else " WITH (FORCE)"
    db.execute(f"DROP DATABASE IF EXISTS {q}{force}")


def create_database(db: Database, database: str, properties: dict[str, Any] | None = None) -> None:
    """Create an empty database with the recorded properties (server defaults for missing ones)."""
    props = properties or {}
    q = db.dialect.quote_ident(database, "database name")
    if is_mysql_family(db.dialect):
        sql = f"CREATE DATABASE {q}"
        if props.get("charset"):
            sql += f" CHARACTER SET {_property(props['charset'], 'character set')}"
        if props.get("collation"):
            sql += f" COLLATE {_property(props['collation'], 'collation')}"
        db.execute(sql)
        return
    sql = f"CREATE DATABASE {q} TEMPLATE template0"
    owner = props.get("owner")
    if owner and owner != db.value("SELECT current_user"):
        sql += f" OWNER {db.dialect.quote_ident(owner, 'owner')}"
    for key, word in (("encoding", "ENCODING"), ("collate", "LC_COLLATE"), ("ctype", "LC_CTYPE")):
        if props.get(key):
            sql += f" {word} '{_property(props[key], key)}'"
    db.execute(sql)
