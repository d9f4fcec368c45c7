"""May an account create files in a folder? Decided from the folder's ACL (`file.acl`), read only.

Used for the SQL Server backup directory: the database engine's service account writes the backup
file (BACKUP fails with error 3201, operating system error 5 otherwise). Windows grants creating
a file in a folder by the WriteData/CreateFiles right (FileSystemRights 0x2, included in Write,
Modify and FullControl) or by GENERIC_WRITE/GENERIC_ALL, and an applicable deny rule wins over
an allow (https://learn.microsoft.com/en-us/dotnet/api/system.security.accesscontrol.filesystemrights,
https://learn.microsoft.com/en-us/windows/win32/secauthz/order-of-aces-in-a-dacl). An inherit-only
rule applies to the folder's children, not to the folder.

Which groups the account is in is known only for the groups every service token holds (Everyone,
Authenticated Users, BUILTIN\\Users, NT AUTHORITY\\SERVICE) and, for LocalSystem, Administrators;
a rule for another single account (SYSTEM, LOCAL/NETWORK SERVICE, a service SID NT SERVICE\\x)
does not concern it; a rule for any other group (a domain group, BUILTIN\\Administrators for a
service account) may or may not include it, so the answer is then "unknown" rather than a guess.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CREATE_FILES = 0x2
GENERIC_ALL = 0x10000000
GENERIC_WRITE = 0x40000000
#: groups in every service's token (a service account is an authenticated, local user)
EVERY_SERVICE = ("everyone", "nt authority\\authenticated users", "builtin\\users", "nt authority\\service")
#: the names of LocalSystem, and the group it is in beyond EVERY_SERVICE
SYSTEM_NAMES = ("localsystem", "nt authority\\system", ".\\localsystem")
SYSTEM_GROUPS = ("builtin\\administrators",)
#: principals that are one account each, never a group another account is in (and CREATOR OWNER,
#: which means something only to what a rule is inherited by)
SINGLE_ACCOUNTS = ("nt authority\\system", "nt authority\\local service", "nt authority\\network service",
                   "creator owner")  # fmt: skip


def _grants_write(rights: Any) -> bool:
    value = int(rights or 0) & 0xFFFFFFFF
    return bool(value & (CREATE_FILES | GENERIC_ALL | GENERIC_WRITE))


def known_identities(account: str) -> set[str]:
    """The names (casefolded) a rule may use for `account` itself or a group it is surely in."""
    name = account.strip().casefold()
    known = {name, *EVERY_SERVICE}
    if name in SYSTEM_NAMES:
        known |= {*SYSTEM_NAMES, *SYSTEM_GROUPS}
    return known


def _never_includes(identity: str) -> bool:
    """Whether a rule's identity is surely not a group the account is in (it is not the account)."""
    name = identity.casefold()
    return name in SINGLE_ACCOUNTS or name.startswith("nt service\\")  # a service SID is one service


def write_access(account: str | None, acl: Mapping[str, Any]) -> dict[str, Any]:
    """{writable: True|False|None, reason}: None when it cannot be decided from what can be read."""
    if not account:
        return {"writable": None, "reason": "the SQL Server service account is unknown (VIEW SERVER STATE needed "
                                            "to read sys.dm_server_services)"}  # fmt: skip
    if not acl.get("exists"):
        return {"writable": False, "reason": "the folder does not exist (BACKUP does not create it)"}
    known = known_identities(account)
    rules: Iterable[Mapping[str, Any]] = [
        r for r in acl.get("rules") or [] if not r.get("inherit_only") and _grants_write(r.get("rights"))
    ]
    mine: dict[str, list[str]] = {"allow": [], "deny": []}
    other: dict[str, list[str]] = {"allow": [], "deny": []}
    for rule in rules:
        identity = str(rule.get("identity") or "")
        if identity.casefold() in known:
            table = mine
        elif _never_includes(identity):
            continue
        else:
            table = other
        table["deny" if rule.get("type") == "deny" else "allow"].append(identity)
    if mine["deny"]:
        return {"writable": False, "reason": f"a deny rule for {mine['deny'][0]} refuses writing"}
    if mine["allow"] and not other["deny"]:
        return {"writable": True, "reason": f"{mine['allow'][0]} may create files there"}
    if mine["allow"] or other["allow"]:
        groups = ", ".join(dict.fromkeys(other["deny"] or other["allow"]))
        return {"writable": None, "reason": f"depends on whether {account} is in {groups} (group membership "
                                            "cannot be read here)"}  # fmt: skip
    return {"writable": False, "reason": f"no rule lets {account} or a group it is in create files there"}
