"""SQL Server as Microsoft documents it, for tests that cannot run one: statement grammars and result sets.

Grammars: the statements sqlglot's T-SQL dialect does not parse (BACKUP, RESTORE, DBCC, ALTER
DATABASE ... SET, ALTER INDEX) are held to regular expressions written from their documented
syntax, each with its page; every other statement must parse with sqlglot (`read="tsql"`).
Only the parts of each syntax the engine may send are written out; a new option is added here
from the page, not guessed.

Result sets: the columns and SQL Server types of what RESTORE FILELISTONLY and RESTORE HEADERONLY
return, in the documented order, and a row maker that fills every column with a value of the
Python type pyodbc gives for that SQL type, so code that reads a result is tried on all of it.
"""

from __future__ import annotations

import datetime
import decimal
import re
import uuid
from typing import Any

DOCS = "https://learn.microsoft.com/sql/t-sql/statements/"

_NAME = r"(?:\[(?:[^\]]|\]\])+\]|[A-Za-z_][A-Za-z0-9_]*|@\w+)"
_VALUE = r"(?:\?|N?'(?:[^']|'')*'|@\w+)"
_DEVICE = rf"(?:DISK|URL) = {_VALUE}"


def _with(options: str) -> str:
    return rf"(?: WITH (?:{options})(?:, (?:{options}))*)?"


_BACKUP_OPTIONS = r"CHECKSUM|NO_CHECKSUM|INIT|NOINIT|FORMAT|NOFORMAT|DIFFERENTIAL|COPY_ONLY|COMPRESSION|NO_COMPRESSION|STATS(?: = \d+)?"
_RESTORE_OPTIONS = rf"REPLACE|RECOVERY|NORECOVERY|CHECKSUM|NO_CHECKSUM|STATS(?: = \d+)?|FILE = (?:\d+|\?)|MOVE {_VALUE} TO {_VALUE}"
_CHECK_OPTIONS = r"CHECKSUM|NO_CHECKSUM|FILE = (?:\d+|\?)|LOADHISTORY"

#: name -> (compiled grammar, the page of its documented syntax)
GRAMMARS: dict[str, tuple[re.Pattern[str], str]] = {
    "BACKUP": (
        re.compile(rf"^BACKUP (?:DATABASE|LOG) {_NAME} TO {_DEVICE}{_with(_BACKUP_OPTIONS)};?$"),
        DOCS + "backup-transact-sql",
    ),
    "RESTORE DATABASE": (
        re.compile(rf"^RESTORE (?:DATABASE|LOG) {_NAME} FROM {_DEVICE}{_with(_RESTORE_OPTIONS)};?$"),
        DOCS + "restore-statements-transact-sql",
    ),
    "ALTER DATABASE SET": (
        re.compile(
            rf"^ALTER DATABASE {_NAME} SET (?:SINGLE_USER|RESTRICTED_USER|MULTI_USER)"
            r"(?: WITH (?:ROLLBACK IMMEDIATE|ROLLBACK AFTER \d+(?: SECONDS)?|NO_WAIT))?;?$"
        ),
        DOCS + "alter-database-transact-sql-set-options",
    ),
    "DBCC CHECKDB": (
        re.compile(
            rf"^DBCC CHECKDB \({_NAME}\)(?: WITH (?:NO_INFOMSGS|ALL_ERRORMSGS|PHYSICAL_ONLY|DATA_PURITY)"
            r"(?:, (?:NO_INFOMSGS|ALL_ERRORMSGS|PHYSICAL_ONLY|DATA_PURITY))*)?;?$"
        ),
        "https://learn.microsoft.com/sql/t-sql/database-console-commands/dbcc-checkdb-transact-sql",
    ),
    "DBCC SHRINKDATABASE": (
        re.compile(rf"^DBCC SHRINKDATABASE \({_NAME}(?:, \d+)?\)(?: WITH NO_INFOMSGS)?;?$"),
        "https://learn.microsoft.com/sql/t-sql/database-console-commands/dbcc-shrinkdatabase-transact-sql",
    ),
    "ALTER INDEX": (
        re.compile(rf"^ALTER INDEX (?:ALL|{_NAME}) ON {_NAME}(?:\.{_NAME}){{0,2}} (?:REORGANIZE|REBUILD);?$"),
        DOCS + "alter-index-transact-sql",
    ),
}


# RESTORE VERIFYONLY, FILELISTONLY and HEADERONLY share their syntax: FROM a device, WITH options.
for _only in ("VERIFYONLY", "FILELISTONLY", "HEADERONLY"):
    GRAMMARS[f"RESTORE {_only}"] = (
        re.compile(rf"^RESTORE {_only} FROM {_DEVICE}{_with(_CHECK_OPTIONS)};?$"),
        DOCS + f"restore-statements-{_only.lower()}-transact-sql",
    )


def grammar_of(statement: str) -> str | None:
    """The documented grammar that accepts `statement`, or None."""
    for name, (pattern, _page) in GRAMMARS.items():
        if pattern.match(statement):
            return name
    return None


# --- result sets ------------------------------------------------------------------------------------

#: RESTORE FILELISTONLY, "Result sets" (DOCS + "restore-statements-filelistonly-transact-sql").
FILELISTONLY = (
    ("LogicalName", "nvarchar(128)"), ("PhysicalName", "nvarchar(260)"), ("Type", "char(1)"),
    ("FileGroupName", "nvarchar(128) NULL"), ("Size", "numeric(20,0)"), ("MaxSize", "numeric(20,0)"),
    ("FileID", "bigint"), ("CreateLSN", "numeric(25,0)"), ("DropLSN", "numeric(25,0) NULL"),
    ("UniqueID", "uniqueidentifier"), ("ReadOnlyLSN", "numeric(25,0) NULL"),
    ("ReadWriteLSN", "numeric(25,0) NULL"), ("BackupSizeInBytes", "bigint"), ("SourceBlockSize", "int"),
    ("FileGroupID", "int"), ("LogGroupGUID", "uniqueidentifier NULL"),
    ("DifferentialBaseLSN", "numeric(25,0) NULL"), ("DifferentialBaseGUID", "uniqueidentifier NULL"),
    ("IsReadOnly", "bit"), ("IsPresent", "bit"), ("TDEThumbprint", "varbinary(32) NULL"),
    ("SnapshotURL", "nvarchar(360) NULL"),
)  # fmt: skip

#: RESTORE HEADERONLY, "Result sets" (DOCS + "restore-statements-headeronly-transact-sql").
HEADERONLY = (
    ("BackupName", "nvarchar(128)"), ("BackupDescription", "nvarchar(255)"), ("BackupType", "smallint"),
    ("ExpirationDate", "datetime"), ("Compressed", "bit(1)"), ("Position", "smallint"),
    ("DeviceType", "tinyint"), ("UserName", "nvarchar(128)"), ("ServerName", "nvarchar(128)"),
    ("DatabaseName", "nvarchar(128)"), ("DatabaseVersion", "int"), ("DatabaseCreationDate", "datetime"),
    ("BackupSize", "numeric(20,0)"), ("FirstLSN", "numeric(25,0)"), ("LastLSN", "numeric(25,0)"),
    ("CheckpointLSN", "numeric(25,0)"), ("DatabaseBackupLSN", "numeric(25,0)"), ("BackupStartDate", "datetime"),
    ("BackupFinishDate", "datetime"), ("SortOrder", "smallint"), ("CodePage", "smallint"),
    ("UnicodeLocaleId", "int"), ("UnicodeComparisonStyle", "int"), ("CompatibilityLevel", "tinyint"),
    ("SoftwareVendorId", "int"), ("SoftwareVersionMajor", "int"), ("SoftwareVersionMinor", "int"),
    ("SoftwareVersionBuild", "int"), ("MachineName", "nvarchar(128)"), ("Flags", "int"),
    ("BindingID", "uniqueidentifier"), ("RecoveryForkID", "uniqueidentifier"), ("Collation", "nvarchar(128)"),
    ("FamilyGUID", "uniqueidentifier"), ("HasBulkLoggedData", "bit"), ("IsSnapshot", "bit"),
    ("IsReadOnly", "bit"), ("IsSingleUser", "bit"), ("HasBackupChecksums", "bit"), ("IsDamaged", "bit"),
    ("BeginsLogChain", "bit"), ("HasIncompleteMetaData", "bit"), ("IsForceOffline", "bit"),
    ("IsCopyOnly", "bit"), ("FirstRecoveryForkID", "uniqueidentifier"), ("ForkPointLSN", "numeric(25,0) NULL"),
    ("RecoveryModel", "nvarchar(60)"), ("DifferentialBaseLSN", "numeric(25,0) NULL"),
    ("DifferentialBaseGUID", "uniqueidentifier"), ("BackupTypeDescription", "nvarchar(60)"),
    ("BackupSetGUID", "uniqueidentifier NULL"), ("CompressedBackupSize", "bigint"), ("Containment", "tinyint"),
    ("KeyAlgorithm", "nvarchar(32)"), ("EncryptorThumbprint", "varbinary(20)"), ("EncryptorType", "nvarchar(32)"),
)  # fmt: skip


def python_value(sql_type: str, text: str = "x") -> Any:
    """A value of the Python type pyodbc returns for `sql_type` (NULL columns get a value too)."""
    base = sql_type.split("(")[0].split()[0].lower()
    if base in ("nvarchar", "char", "varchar"):
        return text
    if base in ("bigint", "int", "smallint", "tinyint"):
        return 1
    if base == "numeric":
        return decimal.Decimal("1048576")
    if base == "bit":
        return False
    if base == "uniqueidentifier":
        return str(uuid.UUID(int=1)).upper()
    if base == "datetime":
        return datetime.datetime(2026, 3, 1, 22, 0, 0)
    if base == "varbinary":
        return b"\x00" * 20
    raise ValueError(f"no Python value for SQL type {sql_type!r}")


def documented_row(columns: tuple[tuple[str, str], ...], **given: Any) -> dict[str, Any]:
    """One row with every documented column: `given` values, the others of the right type."""
    unknown = set(given) - {name for name, _type in columns}
    if unknown:
        raise KeyError(f"not documented columns: {sorted(unknown)}")
    return {name: given.get(name, python_value(kind, name)) for name, kind in columns}
