"""W3's estate: one generated 1CRM site with its MariaDB server, sshd and web server, in a temp dir.

The servers are the tests' own (tests/support): a private MariaDB started in the estate's folder
(with a 256 MiB buffer pool and a 256 MiB redo log, as a small production server has, instead
of the tests' 32 MiB and 8 MiB, which would make every load wait on checkpoints),
the private sshd (host aliases h1 = the web server, h2 = the database host; sessions get an
empty HOME), and the stand-in web server that answers like nginx + PHP with the version of the
tree it serves. `state()` is what every engine must leave behind after its rollback: the tree
(digest of every file, and every folder and link) and every table (CHECKSUM TABLE, row count).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import _w3_data as data
from bench._sidebyside import BenchSSHD
from tests.support import onecrm_site as site
from tests.support.dbservers import DbServer, start_mariadb

BUFFER_POOL = REDO_LOG = 256 * 1024 * 1024


@dataclass
class W3Estate:
    base: Path
    scale: data.Scale
    server: DbServer
    sshd: BenchSSHD
    root: Path
    database: str
    package: Path
    package_sha256: str
    url: str
    tree: data.TreeStats
    rows: dict[str, int]
    package_changes: tuple[int, int]
    live_root: Path = Path()
    live_database: str = ""
    original: dict[str, Any] = field(default_factory=dict)
    #: what was built, measured before any run (InnoDB's sizes are estimates that change after a reload)
    description: str = ""
    built_in: float = 0.0

    @property
    def backup_dir(self) -> Path:
        """cutover's own backups of the install folder (onecrm.live.backup_dir)."""
        return self.base / "backups"

    @property
    def dump_dir(self) -> Path:
        """Where cutover writes database dumps on the database host (databases.crm_live.backup_dir)."""
        return self.base / "dumps"

    def state(self) -> dict[str, Any]:
        return {
            "tree": site.tree_digest(self.root),
            "listing": site.tree_listing(self.root),
            "tables": data.checksums(self.server, self.database),
        }

    def differences(self) -> list[str]:
        """What differs from the state before the run (empty: the rollback brought everything back)."""
        now = self.state()
        wrong = []
        if now["tree"] != self.original["tree"]:
            wrong.append("file contents differ from before")
        if now["listing"] != self.original["listing"]:
            extra = set(now["listing"]) ^ set(self.original["listing"])
            wrong.append(f"files or folders differ from before: {sorted(extra)[:5]}")
        for table in sorted(set(now["tables"]) | set(self.original["tables"])):
            if now["tables"].get(table) != self.original["tables"].get(table):
                wrong.append(
                    f"table {table}: {self.original['tables'].get(table)} -> {now['tables'].get(table)}"
                )
        return wrong

    def clear_backups(self, *folders: Path) -> None:
        for folder in (self.backup_dir, self.dump_dir, *folders):
            shutil.rmtree(folder, ignore_errors=True)

    def server_cpu(self) -> float:
        """CPU seconds so far of mariadbd itself and of the sshd's ended sessions."""
        return _proc_cpu(self.server.process.pid, children=False) + self.sshd.cpu()

    def cutover_inventory(self, path: Path) -> Path:
        """The estate as cutover's inventory: the generated site is the `test` site of a contract estate.

        cutover's 1CRM policy puts the vendor's whole procedure before an update of the LIVE site
        (with a contract: the test system updated, verified and signed off first), so W3 updates
        the paired test system, where the update itself is the same. The live site is the tests'
        small stand-in, untouched by W3.
        """
        targets = {
            name: self.server.target(db, host="h2", socket=self.server.socket, backup_dir=str(self.dump_dir))
            for name, db in (("crm_live", self.live_database), ("crm_test", self.database))
        }
        sites = {
            "live": {"host": "h1", "install_path": str(self.live_root), "database": "crm_live",
                     "url": "http://127.0.0.1:9/", "backup_dir": str(self.base / "live-backups")},
            "test": {"host": "h1", "install_path": str(self.root), "database": "crm_test", "url": self.url,
                     "expect_text": "1CRM", "backup_dir": str(self.backup_dir)},
        }  # fmt: skip
        inventory = {
            "estate": "w3",
            "timezone": "UTC",
            "defaults": {"connection": "ssh", "ssh": {"config_file": str(self.sshd.config_path)}},
            "hosts": {"h1": {"roles": ["onecrm_live"]}, "h2": {}},
            "databases": targets,
            "onecrm": {
                "service_contract": True,
                "timezone": "UTC",
                "package": {
                    "path": str(self.package),
                    "sha256": self.package_sha256,
                    "version": site.NEW,
                    "strip": 1,
                },
                "update": {"command": ["sh", "scripts/upgrade_db.sh"], "timeout": 7200},
                **sites,
            },
        }
        path.write_text(yaml.safe_dump(inventory, sort_keys=False))
        return path

    def describe(self) -> str:
        size = data.database_bytes(self.server, self.database)
        changed, added = self.package_changes
        return (
            f"tree {self.tree.files:,} files / {self.tree.bytes / 1e6:,.0f} MB; database {size / 1e6:,.0f} MB "
            f"(InnoDB data + indexes; rows: {', '.join(f'{t} {n:,}' for t, n in self.rows.items())}); "
            f"update package {self.package.stat().st_size / 1e6:,.1f} MB ({changed:,} files changed, {added:,} added)"
        )


def _proc_cpu(pid: int, children: bool) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def w3_estate(base: Path, scale: data.Scale) -> Any:
    """Build the estate under `base` (servers stop and the folder goes when the block ends)."""
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        server = start_mariadb(base / "mariadb")
        stack.callback(server.stop)
        server.admin(f"SET GLOBAL innodb_buffer_pool_size = {BUFFER_POOL}")
        server.admin(f"SET GLOBAL innodb_log_file_size = {REDO_LOG}")  # resizable at run time since 10.9
        sshd = stack.enter_context(BenchSSHD(2, base_dir=str(base), fast_kex=True))
        database = server.create_database("crm_w3")
        rows = data.load_database(server, database, scale, base / "scratch")
        root = base / "site" / "1crm"
        tree = data.build_tree(root, scale, database, server.socket)
        package = base / "updates" / f"1crm-{site.NEW}.zip"
        package.parent.mkdir()
        sha, changed, added = data.make_package(package, tree, root)
        url = stack.enter_context(site.web_server(root))
        live_database = server.create_database("crm_w3_live")
        site.create_schema(server, live_database)
        live_root = site.build_install(base / "live" / "1crm", live_database, server.socket)
        estate = W3Estate(base, scale, server, sshd, root, database, package, sha, url, tree, rows, (changed, added),
                          live_root, live_database)  # fmt: skip
        estate.original = estate.state()
        estate.description = estate.describe()
        estate.built_in = time.perf_counter() - started
        yield estate
