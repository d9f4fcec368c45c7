"""Simulated Sage CRM estates for end-to-end tests: inventories, hosts, database, snapshots, runs.

`SimEstate(tmp_path, "single")` (one server holding every role) or `SimEstate(tmp_path, "cluster")`
(the guide's three servers, the database on the second) writes an inventory in `tmp_path`,
builds the simulated hosts the way `connection: sim` does and the SQLite CRM database the way
the crm modules do, and runs `cutover` in-process from `tmp_path`. `snapshot()` is everything a
rollback must bring back: each host's `SimHost.snapshot()` (backups excluded) and the
database's per-table checksums and schema.
"""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

from engine.connect.sim import SimConnection
from engine.db import connect, table_checksums
from engine.load.inventory import load_inventory
from modules.sagecrm.product.estate import estate_of
from simulation.host import SimHost
from simulation.sagecrm.crm_database import build_for_estate
from simulation.sagecrm.setup_program import media, response_file
from tests.support.runs import REPO, CliResult, run_cli, write_yaml

PLAYBOOKS = REPO / "playbooks" / "sagecrm"
BACKUPS = "C:\\CutoverBackups"
MEDIA = "C:\\Install\\SageCRM73"
ROLES = {
    "single": {"crm": ["db", "web", "email_manager", "escalation", "indexing"]},
    "cluster": {
        "crm1": ["web", "dtls", "email_manager", "replication"],
        "crm2": ["db", "web", "indexing"],
        "crm3": ["web", "escalation"],
    },
    # chapter 6: the database on a dedicated SQL Server with no Sage CRM (listed first on purpose)
    "dedicated": {
        "sql1": ["db"],
        "crm1": ["web", "dtls", "email_manager", "escalation", "replication"],
        "crm2": ["web", "indexing"],
    },
}
#: custom_sysparams names of the multi-server settings in the simulated database (the real ones
#: are an inventory setting with no default)
SIM_PARAMETERS = {
    "servers": "MultiServerNames",
    "load_balancing": "MultiServerLoadBalancing",
    "dtls_server": "MultiServerDTLSName",
    "fqdns": "MultiServerFQDNs",
}
SOLO_PAGE = 'var r = CRM.FindRecord("Rep_Ranges", "Rang_UserId=1");\n'


def sim_initial(silent: bool = True) -> dict[str, Any]:
    """The `sim.initial` of every host: a Sage CRM 7.2 server with the 7.3 media on C:."""
    files = {f"{MEDIA}\\setup.exe": media("7.3")}
    if silent:
        files[f"{MEDIA}\\upgrade-db.iss"] = response_file(database=True)
        files[f"{MEDIA}\\upgrade-web.iss"] = response_file(database=False)
    files["C:\\Program Files (x86)\\Sage\\CRM\\CRM\\WWWRoot\\CustomPages\\Ranges\\sync.asp"] = SOLO_PAGE
    return {
        "preset": "sagecrm",
        "version": "7.2",
        "install_name": "CRM",
        "files": files,
    }


def inventory_doc(
    kind: str, silent: bool = True, hosts: dict[str, Any] | None = None, **sagecrm: Any
) -> dict:
    """An inventory document for a simulated estate (`hosts` replaces the host entries, e.g. WinRM)."""
    roles = ROLES[kind]
    section: dict[str, Any] = {
        "install_name": "CRM",
        "database": "crm",
        "current_version": "7.2",
        "target_version": "7.3",
        "licence_key": "SIM-LICENCE-KEY",
        "backup_root": BACKUPS,
        "installer": {"path": f"{MEDIA}\\setup.exe"},
        "simulation": {"create_database": True, "customised_views": ["vCompanyPE"]},
    }
    if silent:
        section["installer"]["response_files"] = {
            "db": f"{MEDIA}\\upgrade-db.iss",
            "others": f"{MEDIA}\\upgrade-web.iss",
        }
    if kind in ("cluster", "dedicated"):
        section["multi_server"] = {
            "load_balancing": True,
            "dtls_name": "crm1.test.local",
            "parameters": dict(SIM_PARAMETERS),
        }
    section.update(sagecrm)
    return {
        "estate": f"sagecrm-{kind}",
        "defaults": {"connection": "sim", "sim": {"initial": sim_initial(silent)}},
        "hosts": hosts or {name: _host_entry(r) for name, r in roles.items()},
        "databases": {
            "crm": {
                "dialect": "sqlite",
                "path": ".cutover/sim/crm.sqlite",
                "backup_dir": ".cutover/backups/crm",
                "max_connections": 100,
            }
        },
        "sagecrm": section,
    }


def _host_entry(roles: list[str]) -> dict[str, Any]:
    """A host of `ROLES`; a dedicated SQL Server (role `db` only) is a plain Windows host."""
    if roles == ["db"]:
        return {"roles": roles, "sim": {"initial": {"preset": "sagecrm"}}}
    return {"roles": roles}


class SimEstate:
    """A simulated estate in a test's folder, built before the first run."""

    def __init__(
        self,
        root: Path,
        kind: str = "single",
        doc: dict[str, Any] | None = None,
        inventory_name: str = "inventory.yml",
        **options: Any,
    ):
        self.root = Path(root)
        self.kind = kind
        self.state_dir = self.root / ".cutover"
        self.doc = doc or inventory_doc(kind, **options)
        self.inventory = write_yaml(self.root / inventory_name, self.doc)
        loaded = load_inventory(self.inventory)
        self.hosts = list(loaded.hosts)
        for host in loaded.hosts.values():
            if host.connection == "sim":
                conn = SimConnection(host, str(self.state_dir))
                conn.open()
                conn.close()
        self.db_path = self.root / self.doc["databases"]["crm"]["path"]
        if not self.db_path.exists():
            build_for_estate(estate_of(loaded), self.db_path)

    # --- runs --------------------------------------------------------------------------------
    def repaired(self, comment: str = "vCompanyPE merged by hand") -> list[str]:
        """`--approve upgrade-log-fixed-<db server>=...`: the repair gate --approve-all does not answer."""
        db = estate_of(load_inventory(self.inventory)).upgrade_server  # the server that upgrades the database
        return ["--approve", f"upgrade-log-fixed-{db}={comment}"]

    def run(self, playbook: str, *args: str) -> CliResult:
        return run_cli(
            ["run", str(PLAYBOOKS / playbook), "-i", str(self.inventory), "--no-report", *args], self.root
        )

    def resume(self, run_id: str, *args: str) -> CliResult:
        return run_cli(["resume", run_id, "--no-report", *args], self.root)

    def last_run(self) -> str:
        with sqlite3.connect(self.state_dir / "runs.db") as db:
            return db.execute("SELECT id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1").fetchone()[0]

    def nodes(self, run_id: str) -> dict[str, dict[str, Any]]:
        """node id -> {status, error, module, host} as journaled."""
        with sqlite3.connect(self.state_dir / "runs.db") as db:
            rows = db.execute(
                "SELECT node_id, status, error, module, host, task FROM nodes WHERE run_id = ?", (run_id,)
            ).fetchall()
        return {
            r[0]: {"status": r[1], "error": r[2], "module": r[3], "host": r[4], "task": r[5]} for r in rows
        }

    def findings(self, run_id: str, category: str | None = None) -> list[dict[str, Any]]:
        with sqlite3.connect(self.state_dir / "runs.db") as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM findings WHERE run_id = ?", (run_id,)).fetchall()
        return [dict(r) for r in rows if category is None or r["category"] == category]

    # --- hosts and database --------------------------------------------------------------------
    def host(self, name: str) -> SimHost:
        return SimHost.open(self.state_dir, name)

    def db_version(self) -> str:
        with sqlite3.connect(self.db_path) as db:
            return db.execute(
                "SELECT Parm_Value FROM custom_sysparams WHERE Parm_Name = 'Version'"
            ).fetchone()[0]

    def snapshot(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """Every host (backup folder and `exclude` left out) and the database (per-table checksums, schema)."""
        out: dict[str, Any] = {h: self.host(h).snapshot(exclude=[BACKUPS, *exclude]) for h in self.hosts}
        with connect({"dialect": "sqlite", "path": str(self.db_path)}) as db:
            out["db"] = table_checksums(db)
            out["schema"] = sorted(db.rows("SELECT type, name, sql FROM sqlite_master"))
        return copy.deepcopy(out)


def differences(before: Any, after: Any, path: str = "") -> list[str]:
    """Readable differences between two snapshots (empty when equal)."""
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            where = f"{path}/{key}"
            if key not in before:
                out.append(f"+ {where}")
            elif key not in after:
                out.append(f"- {where}")
            else:
                out.extend(differences(before[key], after[key], where))
        return out
    return [f"~ {path}: {str(before)[:120]} -> {str(after)[:120]}"]


def mirror_test_estate(root: Path) -> SimEstate:
    """The test estate (`test.yml`, servers `test-crm1..3`) mirroring the cluster `inventory.yml`
    in the same folder, with its own database and its own DTLS name (never the live one)."""
    doc = inventory_doc("cluster", mirror_of="inventory.yml")
    doc["estate"] = "sagecrm-cluster-test"
    doc["hosts"] = {f"test-{name}": spec for name, spec in doc["hosts"].items()}
    doc["databases"]["crm"]["path"] = ".cutover/sim/test-crm.sqlite"
    doc["sagecrm"]["multi_server"]["dtls_name"] = "test-crm1.test.local"
    return SimEstate(root, "cluster", doc=doc, inventory_name="test.yml")
