"""SQL dialects: how each engine quotes names and where its catalog answers simple questions.

Values never go through here: they are bound as parameters. Only identifiers (database, schema,
table, index names) have to be pasted into SQL, so this is the one place that makes them safe:
it refuses names no real object can have (empty, too long, control characters) and quotes the
rest by doubling the closing quote, which leaves a hostile name a harmless, odd-looking name.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.db.errors import InvalidIdentifier


@dataclass(frozen=True, slots=True)
class Dialect:
    """Quoting rules and limits of one SQL dialect."""

    name: str
    open_quote: str
    close_quote: str
    max_identifier: int
    #: the database a maintenance connection uses when the target database must not be held open
    admin_database: str | None = None
    #: the system schemas that user-object listings skip
    system_schemas: tuple[str, ...] = ()

    def check_identifier(self, name: object, what: str = "name") -> str:
        """`name` when it can be an object's name here; InvalidIdentifier otherwise."""
        if not isinstance(name, str) or name == "":
            raise InvalidIdentifier(f"{what} must be a non-empty string, not {name!r}")
        if len(name) > self.max_identifier:
            raise InvalidIdentifier(
                f"{what} {name[:40]!r}... is longer than {self.max_identifier} characters"
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise InvalidIdentifier(f"{what} {name!r} contains control characters")
        return name

    def quote_ident(self, name: object, what: str = "name") -> str:
        """A quoted identifier: any quote character inside is doubled, so it cannot end the name."""
        checked = self.check_identifier(name, what)
        return self.open_quote + checked.replace(self.close_quote, self.close_quote * 2) + self.close_quote

    def qualified(self, *parts: str | None) -> str:
        """`schema.table` (or longer) with each part quoted; None parts are left out."""
        return ".".join(self.quote_ident(p) for p in parts if p is not None)

    def check_dump_name(self, name: str) -> str:
        """A database name that is also safe as a command-line operand (no leading dash)."""
        self.check_identifier(name, "database name")
        if name.startswith("-"):
            raise InvalidIdentifier(f"database name {name!r} starts with '-' and would read as an option")
        return name


MSSQL = Dialect("mssql", "[", "]", 128, admin_database="master", system_schemas=("sys", "INFORMATION_SCHEMA"))
MARIADB = Dialect(
    "mariadb", "`", "`", 64, system_schemas=("mysql", "information_schema", "performance_schema", "sys")
)
MYSQL = Dialect("mysql", "`", "`", 64, system_schemas=MARIADB.system_schemas)
POSTGRESQL = Dialect(
    "postgresql", '"', '"', 63, admin_database="postgres", system_schemas=("pg_catalog", "information_schema")
)
SQLITE = Dialect("sqlite", '"', '"', 1024)

_BY_NAME = {d.name: d for d in (MSSQL, MARIADB, MYSQL, POSTGRESQL, SQLITE)}


def dialect_for(name: str) -> Dialect:
    """The dialect called `name` (mssql, mariadb, mysql, postgresql, sqlite)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise InvalidIdentifier(f"unknown SQL dialect {name!r} (one of {', '.join(_BY_NAME)})") from None


def is_mysql_family(dialect: Dialect | str) -> bool:
    """MariaDB and MySQL share tools, catalog and quoting."""
    return (dialect if isinstance(dialect, str) else dialect.name) in ("mariadb", "mysql")


LIKE_ESCAPE = "!"


def like_from_glob(pattern: str, escape: str = LIKE_ESCAPE) -> str:
    """A LIKE pattern (used with `ESCAPE '!'`) from a shell-style glob: `_dta_index*`.

    Operators write globs; SQL's `_` wildcard would otherwise make `_dta_index%` match far more
    than the auto-generated objects an upgrade guide asks to drop. `!` is the escape character
    because a backslash means different things in MariaDB and standard SQL string literals.
    """
    out = []
    for ch in pattern:
        if ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        elif ch in ("%", "_", escape):
            out.append(escape + ch)
        else:
            out.append(ch)
    return "".join(out)
