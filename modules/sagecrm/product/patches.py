"""Patch level: what is installed, what the installer brings, and whether it is the latest.

The guide (chapter 9): "Vérifiez que vous faites la mise à jour vers la toute dernière version de
Sage CRM, y compris le dernier ensemble de programmes de correction pour cette version", and the
checklist: "Mettre à jour avec le dernier pack de services de Sage CRM". There is no public,
machine-readable list of Sage CRM patches, so the engine cannot know the latest patch by itself:
the operator declares the patch of the installer (`sagecrm.target_patch`) and the latest patch
published for the target version (`sagecrm.latest_patch`), read on Sage's site on the day. This
module compares what it is given; it never guesses.
"""

from __future__ import annotations

from typing import Any

from modules.sagecrm.product.estate import Estate

#: The registry value (under `Config\\/<install>`, next to `Version`) the simulation keeps the
#: installed patch in. Sage does not document where a real install records its patch: a system
#: without it reports the patch as "not recorded" (the version still comes from `Version`).
PATCH_VALUE = "Patch"


def patch_report(est: Estate, installed_version: str | None, installed_patch: str | None) -> dict[str, Any]:
    """Installed and target version/patch, as the report shows them."""
    return {
        "installed": {"version": installed_version, "patch": installed_patch or "not recorded"},
        "target": {
            "version": est.target_version,
            "patch": str(est.setting("target_patch", default="") or "not declared"),
        },
        "latest_patch": str(est.setting("latest_patch", default="") or "not declared"),
    }


def patch_warning(est: Estate) -> str | None:
    """Why the target may not be the latest patch (None when the inventory says it is)."""
    target = est.setting("target_patch")
    latest = est.setting("latest_patch")
    guide = "the guide asks for the latest patch set of the target version (« le dernier ensemble de programmes de correction »)"
    if not latest:
        return (
            f"sagecrm.latest_patch is not set: the engine cannot know the latest Sage CRM {est.target_version} "
            f"patch by itself (no public machine-readable source); {guide}: look it up and declare it"
        )
    if not target:
        return f"sagecrm.target_patch is not set: which patch does the installer bring? {guide} ({latest})"
    if str(target).casefold() != str(latest).casefold():
        return (
            f"the installer brings Sage CRM {est.target_version} patch {target}, but the latest declared is "
            f"{latest}: {guide}"
        )
    return None
