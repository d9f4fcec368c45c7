"""W3's data: a 1CRM install tree, its MariaDB database and an update package, generated at a scale.

At `--scale 1` the tree has about 30,000 files / 1 GB and the database about 1 GB of table data,
shaped like a 1CRM system that has been used for years:

- the tree: PHP, JavaScript and language files of ~60 modules (text, compressing 4-6x like real
  code; a fifth of the bytes) and the users' uploads under `files/upload/` (attachments: binary,
  incompressible; the rest of the bytes), on the skeleton the tests' 1CRM stand-in builds
  (tests/support/onecrm_site.py: config, sugar_version.php, a theme link, empty user folders);
- the database: the stand-in's `config`/`accounts`/`contacts`/`notes` with many more rows, plus
  `emails` (long text bodies), `note_attachments` (BLOBs of 20-200 KB) and `audit_log` (a million
  short rows at scale 1), each with the secondary indexes such tables carry;
- the update: the stand-in's update (manifest, version, upgrade script that alters the schema)
  plus about 8% of the code files changed and 2% added, under `1crm-<version>/` (strip 1).

Everything is derived from a seed, so two runs at one scale build the same bytes. Rows are loaded
with `LOAD DATA INFILE` (BLOBs as hex, `UNHEX` on load): minutes at scale 1, not hours.
"""

from __future__ import annotations

import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tests.support import onecrm_site as site
from tests.support.dbservers import DbServer

MODULES = [
    "Accounts", "Contacts", "Leads", "Opportunities", "Cases", "Bugs", "Calls", "Meetings", "Tasks",
    "Notes", "Emails", "Documents", "Campaigns", "Prospects", "ProspectLists", "Project", "ProjectTask",
    "Quotes", "Invoice", "SalesOrders", "PurchaseOrders", "Bills", "Payments", "ProductCatalog",
    "Assets", "SupportedAssemblies", "Contracts", "Booking", "Timesheets", "HR", "Vacations", "Reports",
    "Dashboard", "Calendar", "Activities", "Users", "ACL", "Administration", "Configurator", "Currencies",
    "TaxRates", "TaxCodes", "ShippingProviders", "Discounts", "EmailTemplates", "EmailFolders", "EmailPOP3",
    "Forums", "Threads", "Posts", "KBArticles", "Releases", "Import", "Export", "Workflow", "Scheduler",
    "Teams", "Roles", "Notifications", "Portal",
]  # fmt: skip
PARTS = ["", "views", "metadata", "language", "dashlets", "widgets", "js", "tpls"]
LANGUAGES = ["en_us", "de_de", "fr_fr", "es_es"]
_WORDS = (
    "account contact lead opportunity invoice quote amount currency tax total line item product "
    "customer partner vendor address street city postal country phone email website industry rating "
    "assigned user team owner created modified deleted status priority description subject name date "
    "start end due duration reminder parent related record list detail edit view layout field label "
    "value default required readonly hidden format number decimal percent sequence prefix template"
).split()


@dataclass(frozen=True)
class Scale:
    """How big W3's estate is: 1.0 is ~1 GB of database data and ~30,000 files / 1 GB of tree."""

    factor: float

    @property
    def files(self) -> int:
        return max(120, round(30_000 * self.factor))

    @property
    def tree_bytes(self) -> int:
        return round(1_000_000_000 * self.factor)

    @property
    def db_bytes(self) -> int:
        return round(1_000_000_000 * self.factor)


@dataclass
class TreeStats:
    files: int
    bytes: int
    code_files: list[str]


def _line_pool(rng: random.Random, count: int = 4000) -> list[str]:
    """Lines that read like PHP/JavaScript source: code compresses about as much as real code."""
    templates = [
        "    public function {a}_{b}(${c}, ${d} = null) {{",
        "        ${a} = $this->{b}->{c}(${d});",
        "        if (empty(${a}['{b}'])) return {c}::{d}();",
        '        $query = "SELECT {a}, {b} FROM {c} WHERE {d} = ?";',
        "    'LBL_{A}_{B}' => '{a} {b} {c}',",
        "        '{a}' => array('type' => '{b}', 'len' => {n}, 'vname' => 'LBL_{C}'),",
        "    // {a} the {b} of the {c} when the {d} changes",
        "    var {a}{B} = function({c}, {d}) {{ return {c}.{a}({d}); }};",
        "    }}",
        "",
    ]
    pool = []
    for _ in range(count):
        a, b, c, d = (rng.choice(_WORDS) for _ in range(4))
        line = rng.choice(templates).format(
            a=a, b=b, c=c, d=d, A=a.upper(), B=b.upper(), C=c.upper(), n=rng.randrange(8, 256)
        )
        pool.append(line)
    return pool


def _sizes(rng: random.Random, count: int, total: int, sigma: float) -> list[int]:
    """`count` log-normal sizes that add up to about `total` bytes."""
    raw = [rng.lognormvariate(0.0, sigma) for _ in range(count)]
    scale = total / sum(raw)
    return [max(64, int(r * scale)) for r in raw]


def _code_text(rng: random.Random, pool: list[str], size: int, rel: str) -> bytes:
    header = f"<?php\n// {rel}: generated for the W3 benchmark\n"
    lines = [header]
    length = len(header)
    while length < size:
        chunk = rng.choices(pool, k=64)
        lines.extend(line + "\n" for line in chunk)
        length += sum(len(line) + 1 for line in chunk)
    return "".join(lines)[:size].encode()


def _code_paths(count: int) -> list[str]:
    paths = []
    i = 0
    while len(paths) < count:
        module = MODULES[i % len(MODULES)]
        part = PARTS[(i // len(MODULES)) % len(PARTS)]
        n = i // (len(MODULES) * len(PARTS))
        folder = f"modules/{module}" + (f"/{part}" if part else "")
        if part == "language":
            name = f"{LANGUAGES[n % len(LANGUAGES)]}.lang{n // len(LANGUAGES) or ''}.php"
        elif part == "js":
            name = f"{module.lower()}_{n}.js"
        else:
            name = f"{module}{part.title()}{n}.php"
        paths.append(f"{folder}/{name}")
        i += 1
    return paths


def build_tree(root: Path, scale: Scale, database: str, socket: str, seed: int = 1) -> TreeStats:
    """The install folder: the stand-in's skeleton, generated code and the users' uploads."""
    rng = random.Random(seed)
    site.build_install(root, database, socket)
    uploads = max(20, round(scale.files * 0.15))
    code = scale.files - uploads
    pool = _line_pool(rng)
    code_paths = _code_paths(code)
    total = 0
    for rel, size in zip(code_paths, _sizes(rng, code, scale.tree_bytes // 5, 1.0), strict=True):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _code_text(rng, pool, size, rel)
        path.write_bytes(data)
        total += len(data)
    upload_dir = root / "files" / "upload"
    for size in _sizes(rng, uploads, scale.tree_bytes - scale.tree_bytes // 5, 0.8):
        data = rng.randbytes(size)
        (upload_dir / rng.randbytes(16).hex()).write_bytes(data)
        total += len(data)
    files = sum(1 for p in root.rglob("*") if p.is_file() and not p.is_symlink())
    return TreeStats(files, total, code_paths)


# --- the database ---------------------------------------------------------------------------------
TABLES = [
    "CREATE TABLE emails (id INT PRIMARY KEY, account_id INT, contact_id INT, subject VARCHAR(200), "
    "body MEDIUMTEXT, date_sent DATETIME, date_modified DATETIME, KEY idx_emails_account (account_id), "
    "KEY idx_emails_sent (date_sent))",
    "CREATE TABLE note_attachments (id INT PRIMARY KEY, note_id INT, filename VARCHAR(100), "
    "mime_type VARCHAR(50), content LONGBLOB, date_modified DATETIME, KEY idx_att_note (note_id))",
    "CREATE TABLE audit_log (id BIGINT PRIMARY KEY, parent_id INT, field_name VARCHAR(64), "
    "before_value VARCHAR(255), after_value VARCHAR(255), date_created DATETIME, "
    "KEY idx_audit_parent (parent_id), KEY idx_audit_created (date_created))",
]
#: share of the database's bytes per table, and the average row size that gives its row count
SHARES = {
    "accounts": (0.03, 100),
    "contacts": (0.07, 120),
    "emails": (0.45, 3000),
    "note_attachments": (0.30, 100_000),
    "audit_log": (0.15, 150),
}
_OLD = "2024-03-01 10:00:00"
_BUILT = (2025, 6, 1, 12, 0, 0)


def _rows(scale: Scale, table: str) -> int:
    share, size = SHARES[table]
    return max(10, round(scale.db_bytes * share / size))


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choices(_WORDS, k=words))


def _write_tsv(path: Path, rows: object) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:  # type: ignore[attr-defined]
            out.write("\t".join(row) + "\n")


def _tsv_rows(rng: random.Random, table: str, count: int, accounts: int) -> object:
    first = 5  # the stand-in's schema already holds rows 1-4 of accounts and contacts
    for i in range(first, first + count):
        if table == "accounts":
            yield (str(i), f"{_sentence(rng, 2).title()} GmbH {i}", "0", _OLD)
        elif table == "contacts":
            yield (str(i), str(rng.randrange(1, accounts)), rng.choice(_WORDS).title(), f"Kontakt {i}", _OLD)
        elif table == "emails":
            body = "\\n".join(_sentence(rng, 12) for _ in range(rng.randrange(10, 40)))
            yield (str(i), str(rng.randrange(1, accounts)), str(rng.randrange(1, 1000)), _sentence(rng, 6),
                   body, _OLD, _OLD)  # fmt: skip
        elif table == "note_attachments":
            content = rng.randbytes(int(rng.uniform(0.2, 1.8) * SHARES[table][1]))
            yield (
                str(i),
                str(rng.randrange(1, 1000)),
                f"scan-{i}.pdf",
                "application/pdf",
                content.hex(),
                _OLD,
            )
        else:
            yield (str(i), str(rng.randrange(1, accounts)), rng.choice(_WORDS), _sentence(rng, 3),
                   _sentence(rng, 3), _OLD)  # fmt: skip


_LOADS = {
    "accounts": "(id, name, deleted, date_modified)",
    "contacts": "(id, account_id, first_name, last_name, date_modified)",
    "emails": "(id, account_id, contact_id, subject, body, date_sent, date_modified)",
    "note_attachments": "(id, note_id, filename, mime_type, @hex, date_modified) SET content = UNHEX(@hex)",
    "audit_log": "(id, parent_id, field_name, before_value, after_value, date_created)",
}


def load_database(
    server: DbServer, database: str, scale: Scale, scratch: Path, seed: int = 2
) -> dict[str, int]:
    """The stand-in's schema and rows, the big tables, and their rows (table -> rows loaded)."""
    rng = random.Random(seed)
    site.create_schema(server, database)
    q = server.quote(database)
    for statement in TABLES:
        server.admin(statement.replace("CREATE TABLE ", f"CREATE TABLE {q}.", 1))
    scratch.mkdir(parents=True, exist_ok=True)
    accounts = _rows(scale, "accounts")
    loaded = {}
    for table, columns in _LOADS.items():
        count = _rows(scale, table)
        tsv = scratch / f"{table}.tsv"
        _write_tsv(tsv, _tsv_rows(rng, table, count, accounts))
        server.admin(
            f"LOAD DATA INFILE '{tsv}' INTO TABLE {q}.{server.quote(table)} "
            f"CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' {columns}"
        )
        tsv.unlink()
        loaded[table] = count
    return loaded


def database_bytes(server: DbServer, database: str) -> int:
    """Data and index bytes of the database, as InnoDB reports them."""
    rows = server.admin(
        "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables WHERE table_schema = ?",
        database,
    )
    return int(rows[0][0])


def checksums(server: DbServer, database: str) -> dict[str, str]:
    """table -> `CHECKSUM TABLE` and row count: the server reads every row (fast at any size)."""
    tables = [r[0] for r in server.admin(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name", database
    )]  # fmt: skip
    q = server.quote(database)
    out = {}
    for table in tables:
        (_name, checksum) = server.admin(f"CHECKSUM TABLE {q}.{server.quote(table)} EXTENDED")[0]
        (count,) = server.admin(f"SELECT COUNT(*) FROM {q}.{server.quote(table)}")[0]
        out[table] = f"{count}:{checksum}"
    return out


# --- the update package -------------------------------------------------------------------------------
def make_package(path: Path, tree: TreeStats, root: Path, seed: int = 3) -> tuple[str, int, int]:
    """The update ZIP: the stand-in's update plus changed and new code files; (sha256, changed, added)."""
    rng = random.Random(seed)
    prefix = f"1crm-{site.NEW}/"
    changed = rng.sample(tree.code_files, max(3, round(len(tree.code_files) * 0.08)))
    added = [
        p.replace(".php", "_v2.php").replace(".js", "_v2.js")
        for p in rng.sample(tree.code_files, max(2, round(len(tree.code_files) * 0.02)))
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:

        def put(name: str, content: str | bytes) -> None:
            # the vendor's build time, not now: tools that compare size and mtime (ansible's
            # `copy` of a folder does) must see the package's files as different, as they are
            info = zipfile.ZipInfo(name, date_time=_BUILT)
            info.compress_type = zipfile.ZIP_DEFLATED if not name.endswith("/") else zipfile.ZIP_STORED
            zf.writestr(info, content)

        put(prefix, "")
        for rel, text in site.update_members().items():
            put(prefix + rel, text)
        for rel in changed:
            put(prefix + rel, (root / rel).read_bytes() + f"\n// changed in {site.NEW}\n".encode())
        for rel in added:
            put(prefix + rel, f"<?php\n// new in {site.NEW}: {rel}\n".encode() * 40)
    return site.sha256_of(path), len(changed), len(added)


def disk_usage(path: Path) -> int:
    """Bytes of the files below `path` (what a backup of it reads)."""
    return sum(os.lstat(p).st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
