"""onecrm_version: the version a 1CRM site's files state and the version its database records.

The files say it in `sugar_version.php` (`$sugar_version = '8.6.4';`), the database in the
`config` table (category `info`, name `sugar_version`; other places are configurable, see
docs/onecrm.md). After an update both must name the new version: files updated but a database
left at the old version is the half-done update this module is there to catch. With `expect`,
a site at another version fails the task. Read-only: it runs in check mode too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from engine.api.module import Module, ModuleFailed, Result, TaskContext
from modules._common import object_schema
from modules.onecrm import _onecrm as one


def versions(ctx: TaskContext, site_name: str) -> dict[str, Any]:
    """{site, files, database, consistent} of a site (read on its host and from the controller)."""
    st = one.site(ctx, site_name)
    remote = one.require_host(ctx, st.host, f"the {st.name} site's install folder")
    files = one.files_version(ctx, remote, st)
    database = one.database_version(ctx, st)
    return {"site": st.name, "files": files, "database": database, "consistent": files == database}


def mismatch(found: Mapping[str, Any], expected: str) -> str | None:
    """Why the site is not at `expected`, or None."""
    wrong = [
        f"{where} {found[where] or '(none)'}" for where in ("files", "database") if found[where] != expected
    ]
    if not wrong:
        return None
    return f"the {found['site']} site is not at version {expected}: " + ", ".join(wrong)


class OnecrmVersion(Module):
    """Read (and optionally expect) the version of a site's files and database."""

    platforms: ClassVar[frozenset[str]] = frozenset({"posix"})
    schema: ClassVar[dict[str, Any]] = object_schema(
        "The version a 1CRM site's files (sugar_version.php) and database (config table) state.",
        {
            "site": one.SITE_ARG,
            "expect": {
                "type": ["string", "number"],
                "description": "Fail unless files and database both state this version.",
            },
        },
        ("site",),
    )

    def run(self, ctx: TaskContext, args: Mapping[str, Any]) -> Result:
        found = versions(ctx, str(args["site"]))
        message = f"{found['site']}: files {found['files']}, database {found['database']}"
        problem = mismatch(found, str(args["expect"])) if args.get("expect") is not None else None
        if problem and ctx.check_mode:  # an earlier step would have changed it (refresh, update)
            return Result(output=found, msg=f"{message}; {problem} (before the steps a real run makes)")
        if problem:
            raise ModuleFailed(problem, output=found)
        return Result(output=found, msg=message)
