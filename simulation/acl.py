"""Folder and file ACLs of the simulated host: what `file.acl` reads (nothing here writes one).

`initial.acls` gives a path's owner and access rules as Windows lists them
(`Directory.GetAccessControl(...).GetAccessRules(true, true, NTAccount)`): identity, FileSystemRights,
allow/deny, inherited, and whether the rule is inherit-only (it then applies to children, not to
the folder itself). Rights are a FileSystemRights name or names ("Modify, Synchronize") or the
number (https://learn.microsoft.com/en-us/dotnet/api/system.security.accesscontrol.filesystemrights).
A path without a modelled ACL answers a restrictive one: Administrators and SYSTEM full control,
Users read and execute.
"""

from __future__ import annotations

from typing import Any

from simulation.core import HostState, find_key, op
from simulation.errors import SimError
from simulation.paths import parse_path

#: FileSystemRights values (the .NET enum) by name
RIGHTS = {
    "ReadData": 0x1, "ListDirectory": 0x1, "WriteData": 0x2, "CreateFiles": 0x2, "AppendData": 0x4,
    "CreateDirectories": 0x4, "ReadExtendedAttributes": 0x8, "WriteExtendedAttributes": 0x10,
    "ExecuteFile": 0x20, "Traverse": 0x20, "DeleteSubdirectoriesAndFiles": 0x40, "ReadAttributes": 0x80,
    "WriteAttributes": 0x100, "Write": 0x116, "Delete": 0x10000, "ReadPermissions": 0x20000,
    "Read": 0x20089, "ReadAndExecute": 0x200A9, "Modify": 0x301BF, "ChangePermissions": 0x40000,
    "TakeOwnership": 0x80000, "Synchronize": 0x100000, "FullControl": 0x1F01FF,
}  # fmt: skip

DEFAULT_ACL: dict[str, Any] = {
    "owner": "BUILTIN\\Administrators",
    "rules": [
        {"identity": "BUILTIN\\Administrators", "rights": RIGHTS["FullControl"], "type": "allow",
         "inherited": True, "inherit_only": False},
        {"identity": "NT AUTHORITY\\SYSTEM", "rights": RIGHTS["FullControl"], "type": "allow",
         "inherited": True, "inherit_only": False},
        {"identity": "BUILTIN\\Users", "rights": RIGHTS["ReadAndExecute"] | RIGHTS["Synchronize"],
         "type": "allow", "inherited": True, "inherit_only": False},
    ],
}  # fmt: skip


def _rights(value: Any, where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        total = 0
        for name in (p.strip() for p in value.split(",")):
            if name not in RIGHTS:
                raise SimError("invalid", f"{where}: unknown FileSystemRights {name!r}")
            total |= RIGHTS[name]
        return total
    raise SimError("invalid", f"{where}: rights are a FileSystemRights name or number, not {value!r}")


def normalize_acls(raw: Any) -> dict[str, Any]:
    """`initial.acls` checked: path -> {owner, rules: [{identity, rights (int), type, inherited, inherit_only}]}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise SimError("invalid", "`acls` must be a mapping of path -> {owner, rules}")
    out: dict[str, Any] = {}
    for path, acl in raw.items():
        where = f"acls.{path}"
        if not isinstance(acl, dict) or not isinstance(acl.get("rules", []), list):
            raise SimError("invalid", f"{where}: a mapping with `owner` and a list of `rules`")
        rules = []
        for i, rule in enumerate(acl.get("rules", [])):
            if not isinstance(rule, dict) or not isinstance(rule.get("identity"), str):
                raise SimError("invalid", f"{where}.rules[{i}]: a mapping with an `identity`")
            kind = rule.get("type", "allow")
            if kind not in ("allow", "deny"):
                raise SimError("invalid", f"{where}.rules[{i}].type: allow or deny, not {kind!r}")
            rules.append({"identity": rule["identity"], "rights": _rights(rule.get("rights"), f"{where}.rules[{i}]"),
                          "type": kind, "inherited": bool(rule.get("inherited", False)),
                          "inherit_only": bool(rule.get("inherit_only", False))})  # fmt: skip
        out[str(parse_path(path))] = {
            "owner": str(acl.get("owner") or "BUILTIN\\Administrators"),
            "rules": rules,
        }
    return out


@op("file.acl")
def file_acl(host: HostState, args: dict[str, Any]) -> dict[str, Any]:
    path = parse_path(args.get("path"))
    host.require_drive(path)
    if not host.fs.locate(path).exists():
        return {"exists": False, "owner": None, "rules": []}
    acls = host.state.get("acls", {})
    found = find_key(acls, str(path))
    acl = acls[found] if found is not None else DEFAULT_ACL
    return {"exists": True, "owner": acl["owner"], "rules": [dict(r) for r in acl["rules"]]}
