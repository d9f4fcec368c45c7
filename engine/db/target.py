"""Database targets: the inventory's `databases:` entries, checked and given their defaults.

A target is plain data from the inventory (secrets already decrypted). `Target` freezes it with
the per-dialect defaults applied, so every later step (ODBC connection string, dump tool
arguments, artifact metadata) reads one normalised shape instead of re-deciding defaults.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from engine.db.errors import DbError

DIALECTS = ("mssql", "mariadb", "mysql", "postgresql", "sqlite")

_OPTION_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_ ]*$")


def default_driver(dialect: str) -> str | None:
    """The ODBC driver used when the target names none (Debian package names in docs/databases.md)."""
    if dialect == "mssql":
        return "FreeTDS" if sys.platform.startswith("linux") else "ODBC Driver 18 for SQL Server"
    if dialect in ("mariadb", "mysql"):
        return "MariaDB Unicode"
    if dialect == "postgresql":
        return "PostgreSQL Unicode"
    return None


@dataclass(frozen=True, slots=True)
class Target:
    """One database target with defaults applied. `name` is the inventory key (`db:` argument)."""

    name: str
    dialect: str
    driver: str | None = None
    dsn: str | None = None
    server: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    host: str | None = None
    path: str | None = None
    socket: str | None = None
    backup_dir: str | None = None

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values to mask in every message and log line."""
        return (self.password,) if self.password else ()

    @property
    def resource(self) -> str:
        """The artifact resource string of this target (see engine.api.module.Artifact)."""
        return f"db:{self.name}"

    def with_database(self, database: str | None) -> Target:
        """The same server reached with another default database (None: no default database)."""
        return replace(self, database=database)

    def require(self, *keys: str) -> None:
        """Fail with a plain message when an operation needs keys the inventory did not give."""
        missing = [k for k in keys if getattr(self, k) in (None, "")]
        if missing:
            raise DbError(f"database target {self.name!r} ({self.dialect}) needs {', '.join(missing)}")


def target_from(name: str, raw: Mapping[str, Any]) -> Target:
    """Check one inventory entry and apply defaults; DbError names the target and the problem."""
    if not isinstance(raw, Mapping):
        raise DbError(f"database target {name!r} must be a mapping")
    dialect = raw.get("dialect")
    if dialect not in DIALECTS:
        raise DbError(
            f"database target {name!r}: dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}"
        )
    port = raw.get("port")
    if port is not None:
        try:
            port = int(port)
        except (TypeError, ValueError):
            raise DbError(f"database target {name!r}: port must be a number, not {port!r}") from None
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise DbError(f"database target {name!r}: options must be a mapping of ODBC keywords")
    for key in options:
        if not isinstance(key, str) or not _OPTION_KEY.match(key):
            raise DbError(f"database target {name!r}: {key!r} is not a valid ODBC keyword")
    target = Target(
        name=name,
        dialect=dialect,
        driver=_text(raw.get("driver")) or default_driver(dialect),
        dsn=_text(raw.get("dsn")),
        server=_text(raw.get("server")),
        port=port,
        database=_text(raw.get("database")),
        user=_text(raw.get("user")),
        password=_text(raw.get("password")),
        options=MappingProxyType(dict(options)),
        host=_text(raw.get("host")),
        path=_text(raw.get("path")),
        socket=_text(raw.get("socket")),
        backup_dir=_text(raw.get("backup_dir")),
    )
    if dialect == "sqlite":
        target.require("path")
    elif not (target.dsn or target.server or target.socket):
        raise DbError(f"database target {name!r} ({dialect}) needs server, socket or dsn")
    return target


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# --- ODBC connection strings ---------------------------------------------------------------------


def odbc_value(value: str, *, braces_allowed: bool = True, key: str = "") -> str:
    """One ODBC attribute value, braced (`{..}` with `}}`) only when it must be.

    Bracing only when needed keeps drivers that do not strip braces on every keyword working
    (psqlODBC strips them for PWD only); a value that needs braces where the driver cannot take
    them is refused instead of being passed in a form that would change its meaning.
    """
    needs = any(c in value for c in ";{}") or value != value.strip() or value == ""
    if "\x00" in value:
        raise DbError(f"ODBC attribute {key or 'value'} contains a NUL character")
    if not needs:
        return value
    if not braces_allowed:
        raise DbError(
            f"ODBC attribute {key} contains ';', braces or edge spaces, which this driver cannot receive"
        )
    return "{" + value.replace("}", "}}") + "}"


def connection_string(target: Target) -> str:
    """The ODBC connection string of a (non-sqlite) target; the password is inside: never log it."""
    pairs: list[tuple[str, str]] = []
    if target.dsn:
        pairs.append(("DSN", target.dsn))
    else:
        pairs.append(("DRIVER", target.driver or ""))
        pairs.extend(_server_pairs(target))
    if target.database:
        pairs.append(("DATABASE", target.database))
    if target.user is not None:
        pairs.append(("UID", target.user))
    if target.password is not None:
        pairs.append(("PWD", target.password))
    given = {k.upper() for k in target.options}
    if target.driver == "FreeTDS" and not target.dsn and "TDS_VERSION" not in given:
        pairs.append(("TDS_Version", "7.4"))
    pairs.extend((str(k), _option_text(v)) for k, v in target.options.items())
    braces_everywhere = target.dialect != "postgresql"
    return ";".join(
        f"{key}={odbc_value(value, braces_allowed=braces_everywhere or key == 'PWD', key=key)}"
        for key, value in pairs
    )


def _server_pairs(target: Target) -> list[tuple[str, str]]:
    if target.dialect in ("mariadb", "mysql") and target.socket and not target.server:
        return [("SOCKET", target.socket)]
    server = target.server or target.socket or ""
    if target.dialect == "mssql" and target.driver != "FreeTDS":
        # Microsoft's driver takes the port after a comma in SERVER; FreeTDS has a PORT keyword.
        return [("SERVER", f"{server},{target.port}" if target.port else server)]
    pairs = [("SERVER", server)]
    if target.port:
        pairs.append(("PORT", str(target.port)))
    return pairs


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
