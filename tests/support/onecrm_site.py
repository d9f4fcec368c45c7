"""A 1CRM-like site for the tests: install tree, update ZIPs, MariaDB schema, nightly backups, web server.

What it builds is shaped like a real 1CRM install where the tests look (include/config/
local_config.php with the database settings, sugar_version.php, modules/, custom/, themes/ with
an internal link, files/upload with binary attachments, empty files/email|reports|backup
folders) and a database with `config(category, name, value)` holding the version and tables
with `date_modified` columns. The update ZIP carries a manifest and a `scripts/upgrade_db.sh`
that upgrades the database the way 1CRM's own upgrade would (schema change, version row, rows
touched), reading the site's own local_config.php. The "web server" is a small HTTP server that
answers like nginx + PHP would: the maintenance page (503) while the flag file exists, else a
page naming the version in sugar_version.php.

No PHP or cron daemon is involved: the engine's modules only read and write files, run the
configured commands and ask the URL, so these stand-ins exercise every path they take.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import http.server
import os
import re
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.db.checksums import table_checksums
from engine.db.database import connect
from tests.support.dbservers import DbServer, free_port, mariadb_server  # noqa: F401 - fixture used below
from tests.support.runs import CliResult, journal_of, run_cli, write_yaml
from tests.support.sshd import SSHD, sshd_server  # noqa: F401 - fixture used below

OLD, NEW = "8.6.3", "8.6.4"
MAINTENANCE_FILE = "maintenance.html"
CRON_LINE = "*/5 * * * * www-data cd {root} && php -f scheduler.php > /dev/null 2>&1\n"
OTHER_CRON_LINE = "17 3 * * * root /usr/local/bin/rotate-logs\n"


def _php_version(version: str) -> str:
    return f"<?php\n$sugar_version = '{version}';\n$sugar_db_version = '{version}';\n"


def _local_config(database: str, socket: str) -> str:
    return (
        "<?php\n$sugar_config['dbconfig'] = array(\n"
        "    'db_host_name' => 'localhost',\n"
        f"    'db_socket' => '{socket}',\n"
        f"    'db_name' => '{database}',\n"
        "    'db_user_name' => 'root',\n);\n"
        f"$sugar_config['site_url'] = 'https://{database}.example.test';\n"
    )


#: files of the install tree (relative path -> content) besides the version and config files
_TREE = {
    "index.php": "<?php require 'include/entryPoint.php';\n",
    "scheduler.php": "<?php // runs the 1CRM scheduler jobs\n",
    "include/entryPoint.php": "<?php // bootstraps 1CRM\n",
    "include/utils.php": "<?php function format_money($v) { return number_format($v, 2); }\n",
    "modules/Accounts/Account.php": "<?php class Account { public $table_name = 'accounts'; }\n",
    "modules/Accounts/language/de_de.lang.php": "<?php $mod_strings = array('LBL_NAME' => 'Firmenname');\n",
    "modules/Contacts/Contact.php": "<?php class Contact { public $table_name = 'contacts'; }\n",
    "custom/pdf/invoice_template.php": "<?php // the customer's own invoice PDF layout\n",
    "themes/Claro/style.css": "body { font-family: sans-serif; }\n",
}
_UPLOADS = {"files/upload/7f3a9c21": bytes(range(256)) * 8, "files/upload/b81e0d44": b"%PDF-1.4 contract\n"}
_EMPTY_DIRS = ("files/email", "files/reports", "files/backup")


def build_install(root: Path, database: str, socket: str, version: str = OLD) -> Path:
    """A 1CRM-like install folder at `root` for `database` (reached by the site through `socket`)."""
    for rel, text in _TREE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    for rel, data in _UPLOADS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for rel in _EMPTY_DIRS:
        (root / rel).mkdir(parents=True, exist_ok=True)
    (root / "sugar_version.php").write_text(_php_version(version))
    (root / "include/config").mkdir(parents=True, exist_ok=True)
    (root / "include/config/local_config.php").write_text(_local_config(database, socket))
    os.symlink("Claro", root / "themes/default")
    return root


#: what `scripts/upgrade_db.sh` in the update does to the database (as 1CRM's upgrade would)
UPGRADE_SQL = f"""\
ALTER TABLE accounts ADD COLUMN rating INT NULL;
CREATE TABLE invoices (id INT PRIMARY KEY, account_id INT, amount DECIMAL(12,2), date_modified DATETIME);
UPDATE config SET value = '{NEW}' WHERE category = 'info' AND name = 'sugar_version';
UPDATE accounts SET rating = 5, date_modified = UTC_TIMESTAMP() WHERE id <= 2;
"""
UPGRADE_SCRIPT = (
    "#!/bin/sh\nset -e\nconf=include/config/local_config.php\n"
    "db=$(sed -n \"s/.*'db_name' => '\\([^']*\\)'.*/\\1/p\" \"$conf\")\n"
    "sock=$(sed -n \"s/.*'db_socket' => '\\([^']*\\)'.*/\\1/p\" \"$conf\")\n"
    'mariadb --socket="$sock" -u root "$db" <<\'SQL\'\n' + UPGRADE_SQL + "SQL\n"
)


def update_members(version: str = NEW) -> dict[str, str]:
    """The update's files below the install folder (one of them identical to the installed one)."""
    return {
        "manifest.php": f"<?php $manifest = array('name' => '1CRM update', 'version' => '{version}');\n",
        "sugar_version.php": _php_version(version),
        "include/utils.php": "<?php function format_money($v, $d = 2) { return number_format($v, $d); }\n",
        "modules/Accounts/Account.php": "<?php class Account { public $table_name = 'accounts'; public $rating; }\n",
        "modules/Contacts/Contact.php": _TREE["modules/Contacts/Contact.php"],
        "modules/Invoices/Invoice.php": "<?php class Invoice { public $table_name = 'invoices'; }\n",
        "modules/Invoices/views/list.php": "<?php // invoice list view\n",
        "scripts/upgrade_db.sh": UPGRADE_SCRIPT,
    }


def make_update_zip(path: Path, version: str = NEW, prefix: str | None = None) -> str:
    """The good update package (members under `<prefix>/`, strip 1); its sha256."""
    prefix = prefix if prefix is not None else f"1crm-{version}/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(prefix), "")
        zf.writestr(zipfile.ZipInfo(prefix + "modules/Invoices/"), "")
        for rel, text in update_members(version).items():
            zf.writestr(prefix + rel, text)
    return sha256_of(path)


MALICIOUS = ("traversal", "absolute", "symlink")


def make_malicious_zip(path: Path, kind: str, escape_to: Path) -> str:
    """An otherwise good package with one member that would write to `escape_to` (outside the site)."""
    prefix = f"1crm-{NEW}/"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, text in update_members().items():
            zf.writestr(prefix + rel, text)
        if kind == "traversal":
            depth = len(Path("/work").parts) + 12
            zf.writestr(prefix + "../" * depth + str(escape_to).lstrip("/"), "<?php system($_GET['c']);\n")
        elif kind == "absolute":
            zf.writestr(str(escape_to), "<?php system($_GET['c']);\n")
        else:
            info = zipfile.ZipInfo(prefix + "modules/evil")
            info.external_attr = (0o120777) << 16
            zf.writestr(info, str(escape_to.parent))
    return sha256_of(path)


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the database ---------------------------------------------------------------------------------------
SCHEMA = [
    "CREATE TABLE config (category VARCHAR(32), name VARCHAR(64), value VARCHAR(255), PRIMARY KEY (category, name))",
    "CREATE TABLE accounts (id INT PRIMARY KEY, name VARCHAR(100), deleted TINYINT DEFAULT 0, date_modified DATETIME)",
    "CREATE TABLE contacts (id INT PRIMARY KEY, account_id INT, first_name VARCHAR(50), last_name VARCHAR(50), "
    "date_modified DATETIME)",
    "CREATE TABLE notes (id INT PRIMARY KEY, name VARCHAR(100), filename VARCHAR(100), date_modified DATETIME)",
]


def create_schema(server: DbServer, database: str, version: str = OLD) -> None:
    """The site's tables with data; every row last modified long ago."""
    q = server.quote(database)
    for statement in SCHEMA:
        server.admin(statement.replace("CREATE TABLE ", f"CREATE TABLE {q}.", 1))
    server.admin(
        f"INSERT INTO {q}.config VALUES ('info', 'sugar_version', ?), ('system', 'name', 'Kunde GmbH')",
        version,
    )
    old = "2024-03-01 10:00:00"
    for i, name in enumerate(["Müller AG", "Schmidt & Söhne", "Weber KG", "Fischer GmbH"], start=1):
        server.admin(f"INSERT INTO {q}.accounts VALUES (?, ?, 0, ?)", i, name, old)
        server.admin(f"INSERT INTO {q}.contacts VALUES (?, ?, ?, ?, ?)", i, i, "Anna", f"Kontakt {i}", old)
    server.admin(f"INSERT INTO {q}.notes VALUES (1, 'Vertrag', 'b81e0d44', ?)", old)


def checksums(server: DbServer, database: str) -> dict[str, str]:
    """table -> digest of its rows (the engine's own per-table checksums)."""
    with connect(server.target(database), name="check") as db:
        return table_checksums(db)


def db_version(server: DbServer, database: str) -> str:
    rows = server.admin(
        f"SELECT value FROM {server.quote(database)}.config WHERE category = 'info' AND name = "
        "'sugar_version'"
    )
    return str(rows[0][0])


def tree_digest(root: Path) -> str:
    """The same digest as the `file.tree_hash` primitive: sorted (relative path, file sha256)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(root).as_posix()
        h.update(f"{rel}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return h.hexdigest()


def tree_listing(root: Path) -> dict[str, str]:
    """rel path -> kind (file/dir/link -> target) of everything below root: folders and links count too."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = f"link:{os.readlink(path)}" if path.is_symlink() else ("dir" if path.is_dir() else "file")
    return out


# --- nightly backups ------------------------------------------------------------------------------------------
def take_nightly(
    root: Path, server: DbServer, database: str, folder: Path, taken: dt.datetime
) -> tuple[Path, Path]:
    """The hoster's nightly backups: a tar.gz of the folder (under `1crm/`) and a gzipped dump."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = taken.strftime("%Y%m%d-%H%M")
    files = folder / f"1crm-files-{stamp}.tar.gz"
    with tarfile.open(files, "w:gz") as tar:
        tar.add(root, arcname="1crm")
    dump = folder / f"1crm-db-{stamp}.sql.gz"
    with open(dump, "wb") as out:
        dumped = subprocess.run(
            [
                "mariadb-dump",
                f"--socket={server.socket}",
                "-u",
                "root",
                "--single-transaction",
                "--routines",
                "--triggers",
                "--events",
                "--hex-blob",
                "--",
                database,
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(["gzip", "-c"], input=dumped.stdout, stdout=out, check=True)
    for path in (files, dump):
        os.utime(path, (taken.timestamp(), taken.timestamp()))
    return files, dump


# --- time zones -------------------------------------------------------------------------------------------------
def zone_where_it_is(hour: int, now: dt.datetime | None = None) -> str:
    """An IANA zone (Etc/GMT±N) in which the local time now is between hour:00 and hour:59.

    The tests' estates use it so that deadlines like 15:00 are ahead of (or behind) "now" on any
    day at any time the suite runs, without a fake clock.
    """
    now = now or dt.datetime.now(dt.UTC)
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" + (f"-{offset}" if offset > 0 else f"+{-offset}" if offset < 0 else "")


# --- the web server -----------------------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    #: the headers nginx and PHP put on a page: `Server: nginx/<version>` (server_tokens on, nginx's
    #: default) and `X-Powered-By: PHP/<version>` (expose_php on)
    server_version = "nginx/1.24.0"
    sys_version = ""
    powered_by = "PHP/8.2.7"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        flag = self.root / MAINTENANCE_FILE
        if flag.exists():
            self._answer(503, flag.read_bytes())
            return
        found = re.search(r"\$sugar_version = '([^']+)'", (self.root / "sugar_version.php").read_text())
        self._answer(
            200,
            f"<html><title>1CRM</title><body>1CRM {found.group(1) if found else '?'}</body></html>".encode(),
        )

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        for name, value in (
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("X-Powered-By", self.powered_by),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return


@contextlib.contextmanager
def web_server(root: Path) -> Iterator[str]:
    """Serve the site at `root` on 127.0.0.1 like nginx + PHP would; yields its URL."""
    handler = type("SiteHandler", (_Handler,), {"root": root})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


# --- a whole site ---------------------------------------------------------------------------------------------
@dataclass
class Site:
    """One 1CRM site of a test estate, with everything the inventory names."""

    name: str
    root: Path
    database: str
    backup_dir: Path
    cron_file: Path
    url: str = ""

    def state(self, server: DbServer) -> dict[str, Any]:
        """What a rollback must bring back exactly: files (contents, folders, links) and tables."""
        return {
            "tree": tree_digest(self.root),
            "listing": tree_listing(self.root),
            "tables": checksums(server, self.database),
        }

    def version(self) -> str:
        found = re.search(r"\$sugar_version = '([^']+)'", (self.root / "sugar_version.php").read_text())
        return found.group(1) if found else ""


def make_site(base: Path, name: str, server: DbServer) -> Site:
    """Install tree + database + cron file for one site under `base`."""
    database = server.create_database(f"crm_{name}_{os.urandom(3).hex()}")
    create_schema(server, database)
    root = build_install(base / name / "1crm", database, server.socket)
    cron = base / name / "cron.d" / "onecrm"
    cron.parent.mkdir(parents=True)
    cron.write_text(OTHER_CRON_LINE + CRON_LINE.format(root=root))
    return Site(name, root, database, base / name / "backups", cron)


def site_entry(site: Site, host: str, **extra: Any) -> dict[str, Any]:
    """The site's entry in the inventory's `onecrm:` section."""
    return {
        "host": host,
        "install_path": str(site.root),
        "database": f"crm_{site.name}",
        "url": site.url,
        "expect_text": "1CRM",
        "backup_dir": str(site.backup_dir),
        "scheduler": {"cron_file": str(site.cron_file)},
        **extra,
    }


def database_entry(server: DbServer, site: Site, host: str, backup_dir: Path) -> dict[str, Any]:
    return server.target(site.database, host=host, socket=server.socket, backup_dir=str(backup_dir))


@contextlib.contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """Serve the files of `directory` over HTTP (where an update package is downloaded from)."""
    handler = functools.partial(_QuietFiles, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        return


# --- a whole test estate -------------------------------------------------------------------------------------
@dataclass
class Estate:
    """A test 1CRM estate on disk (sites, package, nightly backups) with the inventory the runs use."""

    base: Path
    server: DbServer
    live: Site
    test: Site | None
    package: Path
    inventory: Path
    escape: Path
    runs: list[CliResult] = field(default_factory=list)

    def run(self, playbook: str | Path, *extra: str) -> CliResult:
        """`cutover run PLAYBOOK` in-process, jsonl events on stdout, no report (fast)."""
        args = ["run", str(playbook), "-i", str(self.inventory), "--output", "jsonl", "--no-report", *extra]
        result = run_cli(args, self.base)
        self.runs.append(result)
        return result

    def nodes(self, run_id: str | None = None) -> dict[str, dict[str, Any]]:
        """task name -> journal row of the newest run's node (or of `run_id`)."""
        journal = journal_of(self.base)
        try:
            run_id = run_id or journal.runs(1)[0]["id"]
            return {row["task"]: row for row in journal.nodes(run_id)}
        finally:
            journal.close()

    def backups_written(self) -> list[Path]:
        """Every backup cutover wrote (its own backup folders and the database dump folder)."""
        folders = [s.backup_dir for s in (self.live, self.test) if s is not None] + [self.base / "dumps"]
        return [p for folder in folders if folder.exists() for p in folder.iterdir()]


def build_estate(
    base: Path,
    sshd: SSHD,
    server: DbServer,
    stack: contextlib.ExitStack,
    *,
    contract: bool,
    local_hour: int = 10,
    nightly: str = "fresh",
    package: str = "good",
    download: bool = False,
    settings: dict[str, Any] | None = None,
    production: bool = False,
) -> Estate:
    """An estate with a live site (and a test site with `contract`), hosts h1 (web) and h2 (dumps).

    `nightly`: fresh (taken 30 minutes ago), stale (two days ago) or missing; `package`: good or
    one of MALICIOUS; `download`: the package is served over HTTP and downloaded by the update.
    The estate's zone is one where it is `local_hour` o'clock now. `settings`: keys of the
    `onecrm:` section to set (None removes one; `live:` is merged into the live site);
    `production`: the live database target is marked `production: true`.
    """
    live = make_site(base, "live", server)
    live.url = stack.enter_context(web_server(live.root))
    test = None
    if contract:
        test = make_site(base, "test", server)
        test.url = stack.enter_context(web_server(test.root))
    escape = base / "outside" / "pwned.php"
    pkg = base / "updates" / "1crm-8.6.4.zip"
    pkg.parent.mkdir()
    sha = make_update_zip(pkg) if package == "good" else make_malicious_zip(pkg, package, escape)
    conf: dict[str, Any] = {"path": str(pkg), "sha256": sha, "version": NEW, "strip": 1}
    if download:
        conf["url"] = stack.enter_context(file_server(pkg.parent)) + pkg.name
        conf["path"] = str(base / "downloads" / pkg.name)
    zone = zone_where_it_is(local_hour)
    live_extra: dict[str, Any] = {"web_user": "www-data"}
    if not contract:
        folder = base / "nightly"
        live_extra["nightly"] = {
            "files": str(folder / "1crm-files-*.tar.gz"),
            "database": str(folder / "1crm-db-*.sql.gz"),
            "verify": "restore",
        }
        if nightly != "missing":
            age = dt.timedelta(minutes=30) if nightly == "fresh" else dt.timedelta(days=2)
            take_nightly(live.root, server, live.database, folder, dt.datetime.now(dt.UTC) - age)
    dumps = base / "dumps"
    databases = {"crm_live": database_entry(server, live, "h2", dumps)}
    section: dict[str, Any] = {
        "service_contract": contract,
        "timezone": zone,
        "package": conf,
        "update": {"command": ["sh", "scripts/upgrade_db.sh"], "timeout": 120},
        "live": site_entry(live, "h1", **live_extra),
    }
    if test is not None:
        databases["crm_test"] = database_entry(server, test, "h2", dumps)
        section["test"] = site_entry(test, "h1")
    if production:
        databases["crm_live"]["production"] = True
    for key, value in (settings or {}).items():
        into = section["live"] if key == "live" else section
        for name, given in value.items() if key == "live" else [(key, value)]:
            if given is None:
                into.pop(name, None)
            else:
                into[name] = given
    inventory = {
        "estate": f"onecrm-{base.name}",
        "timezone": zone,
        "defaults": {"connection": "ssh", "ssh": {"config_file": str(sshd.config_path)}},
        "hosts": {"h1": {"roles": ["onecrm_live"]}, "h2": {}},
        "databases": databases,
        "onecrm": section,
    }
    return Estate(base, server, live, test, pkg, write_yaml(base / "inventory.yml", inventory), escape)


@pytest.fixture
def onecrm_estate(tmp_path: Path, sshd_server: SSHD, mariadb_server: DbServer) -> Iterator[Any]:  # noqa: F811
    """`onecrm_estate(contract=..., ...)` builds an estate (see build_estate); its servers stop with the test."""
    with contextlib.ExitStack() as stack:
        yield lambda **kw: build_estate(tmp_path, sshd_server, mariadb_server, stack, **kw)
