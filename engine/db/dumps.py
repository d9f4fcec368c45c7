"""Logical dumps with the engines' own tools, run on the database host.

MariaDB/MySQL: `mariadb-dump`/`mysqldump --single-transaction --routines --triggers --events`,
loaded back with the `mariadb`/`mysql` client: a plain `.sql` dump through several client
connections at once, one table per connection (engine/db/mysql_load.py, run by the Python of the
database host's helper), a `.sql.gz` or a dump on a host without a known Python as one stream. PostgreSQL: `pg_dump -Fc`, loaded with
`pg_restore --clean --if-exists`. Every value travels as its own argv element or environment
variable: passwords only in MYSQL_PWD / PGPASSWORD (argv is visible to every user of the host in
`ps`), database names after `--` or as a quoted libpq conninfo value.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from engine.db.dialects import dialect_for, is_mysql_family
from engine.db.errors import BackupInvalid, DbError, mask
from engine.db.files import HostFiles, LocalFiles, RunResult, ToolMissing
from engine.db.target import Target

#: the last line mysqldump/mariadb-dump writes when a dump finished
DUMP_COMPLETED = "-- Dump completed"

#: constant scripts: feed file $1 (plain or gzip) to the command that follows; values stay arguments
_FEED_FILE = 'f="$1"; shift; exec "$@" < "$f"'
_FEED_GZIP = 'f="$1"; shift; gzip -dc -- "$f" | "$@"'
_GZIP_TAIL = 'gzip -dc -- "$1" | tail -c "$2"'
_SHELL_NOT_FOUND = 127


def _mysql_tools(dialect: str, kind: str) -> list[str]:
    mariadb, mysql = {"dump": ("mariadb-dump", "mysqldump"), "client": ("mariadb", "mysql")}[kind]
    return [mariadb, mysql] if dialect == "mariadb" else [mysql, mariadb]


def is_gzip(path: str) -> bool:
    """A gzip-compressed SQL dump (`.sql.gz`), as hosters and cron jobs often write them."""
    return path.lower().endswith(".gz")


def mysql_connection(target: Target) -> tuple[list[str], dict[str, str]]:
    """Client options and environment to reach the server from the DB host."""
    args: list[str] = []
    if target.user:
        args.append(f"--user={target.user}")
    if target.socket:
        args += ["--protocol=SOCKET", f"--socket={target.socket}"]
    else:
        args += ["--protocol=TCP", f"--host={target.server}"]
        if target.port:
            args.append(f"--port={target.port}")
    return args, ({"MYSQL_PWD": target.password} if target.password else {})


def pg_environment(target: Target) -> dict[str, str]:
    """libpq environment: host (or socket directory), port, user, password."""
    env: dict[str, str] = {}
    if target.socket or target.server:
        env["PGHOST"] = str(target.socket or target.server)
    if target.port:
        env["PGPORT"] = str(target.port)
    if target.user:
        env["PGUSER"] = target.user
    if target.password:
        env["PGPASSWORD"] = target.password
    return env


def pg_conninfo(database: str) -> str:
    """`dbname='...'` with libpq quoting: a name with `=` or spaces cannot add connection options."""
    return "dbname='" + database.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _run_first(
    files: HostFiles,
    tools: list[str],
    build: Callable[[str], list[str]],
    env: dict[str, str],
    timeout: float | None,
) -> RunResult:
    """Run with the first tool of `tools` that is installed (mariadb-dump, else mysqldump)."""
    missing = []
    for tool in tools:
        try:
            result = files.run(build(tool), env=env, timeout=timeout)
        except ToolMissing:
            missing.append(tool)
            continue
        if result.rc == _SHELL_NOT_FOUND and "not found" in result.stderr:
            missing.append(tool)
            continue
        return result
    raise ToolMissing(f"none of {', '.join(missing)} is installed on {files.host or 'the controller'}")


def _check(result: RunResult, what: str, target: Target) -> None:
    if not result.ok:
        detail = (result.stderr or result.stdout).strip()[-2000:]
        raise DbError(mask(f"{what} failed (exit {result.rc}): {detail}", target.secrets))


def dump(files: HostFiles, target: Target, database: str, dest: str, timeout: float | None = None) -> None:
    """Write a dump of `database` to `dest` on the host; a failed dump leaves no file behind."""
    name = dialect_for(target.dialect).check_dump_name(database)
    if is_mysql_family(target.dialect):
        conn, env = mysql_connection(target)
        options = ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob"]
        result = _run_first(
            files,
            _mysql_tools(target.dialect, "dump"),
            lambda tool: [tool, *conn, *options, f"--result-file={dest}", "--", name],
            env,
            timeout,
        )
    else:
        args = ["pg_dump", "--format=custom", f"--file={dest}", f"--dbname={pg_conninfo(name)}"]
        result = files.run(args, env=pg_environment(target), timeout=timeout)
    if not result.ok:
        files.remove(dest)
    _check(result, f"dump of {database}", target)


def check_dump(files: HostFiles, target: Target, path: str, timeout: float | None = None) -> str:
    """Verify a dump reads to its end; the method used, or BackupInvalid.

    A MariaDB dump cut short lacks the final `-- Dump completed` line. A PostgreSQL custom dump
    is listed (`pg_restore --list`: table of contents) and then read in full to /dev/null, which
    decompresses every data block, so a truncated or corrupted file fails.
    """
    if is_mysql_family(target.dialect):
        method = "completion marker"
        if is_gzip(path):
            # hosters often keep `mysqldump | gzip` files: test the compressed stream, then its end
            tested = files.run(["gzip", "-t", "--", path], timeout=timeout)
            if not tested.ok:
                raise BackupInvalid(f"dump {path} is not a sound gzip file: {tested.stderr.strip()[-500:]}")
            ending = files.run(["sh", "-c", _GZIP_TAIL, "sh", path, "512"], timeout=timeout).stdout
            method = "gzip -t + completion marker"
        else:
            ending = files.tail(path, 512)
        if DUMP_COMPLETED not in ending:
            raise BackupInvalid(f"dump {path} is incomplete: no '{DUMP_COMPLETED}' line at its end")
        return method
    for args, what in (
        (["pg_restore", "--list", "--", path], "pg_restore --list"),
        (["pg_restore", "--file=/dev/null", "--", path], "pg_restore full read"),
    ):
        result = files.run(args, timeout=timeout)
        if not result.ok:
            raise BackupInvalid(
                f"dump {path} failed {what}: {(result.stderr or result.stdout).strip()[-500:]}"
            )
    return "pg_restore --list + full read"


@cache
def _loader_source() -> str:
    return Path(__file__).with_name("mysql_load.py").read_text(encoding="utf-8")


def host_python(files: HostFiles) -> str | None:
    """The Python interpreter of the host that holds the dumps (the one running its helper).

    None when it is not known (a connection without a helper): the caller then does without.
    """
    if isinstance(files, LocalFiles):
        return sys.executable
    connection = getattr(getattr(files, "remote", None), "connection", None)
    executable = getattr(connection, "python_executable", None)
    return str(executable) if executable else None


def _mysql_load_argv(files: HostFiles, path: str, name: str, conn: list[str]) -> Callable[[str], list[str]]:
    """argv for loading `path` with client `tool`: in parallel (mysql_load.py) where it can be."""
    python = None if is_gzip(path) else host_python(files)
    if python is None:
        feed = _FEED_GZIP if is_gzip(path) else _FEED_FILE
        return lambda tool: ["sh", "-c", feed, "sh", path, tool, *conn, f"--database={name}"]
    loader = _loader_source()
    return lambda tool: [python, "-I", "-S", "-c", loader, path, "0", tool, *conn, f"--database={name}"]


def load_dump(
    files: HostFiles,
    target: Target,
    database: str,
    path: str,
    clean: bool = True,
    timeout: float | None = None,
) -> None:
    """Load a dump into an existing database on the server."""
    name = dialect_for(target.dialect).check_dump_name(database)
    if is_mysql_family(target.dialect):
        conn, env = mysql_connection(target)
        build = _mysql_load_argv(files, path, name, conn)
        result = _run_first(files, _mysql_tools(target.dialect, "client"), build, env, timeout)
    else:
        options = ["--clean", "--if-exists"] if clean else []
        args = ["pg_restore", *options, "--single-transaction", f"--dbname={pg_conninfo(name)}", "--", path]
        result = files.run(args, env=pg_environment(target), timeout=timeout)
    _check(result, f"loading {path} into {database}", target)
