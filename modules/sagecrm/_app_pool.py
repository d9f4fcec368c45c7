"""Whether the CRM application's IIS pool can load a 32-bit eware.dll (probe and preflight).

eware.dll is a 32-bit ISAPI/COM DLL. On 64-bit Windows a 64-bit process cannot load a 32-bit DLL
(https://learn.microsoft.com/en-us/windows/win32/winprog64/running-32-bit-applications), so the
pool that serves the CRM application must run 32-bit worker processes: its `enable32BitAppOnWin64`
attribute is true (IIS's default is false,
https://learn.microsoft.com/en-us/previous-versions/iis/settings-schema/aa347554(v=vs.90)). With it
off, IIS answers every CRM page with HTTP Error 500.0, error code 0x800700c1, "%1 is not a valid
Win32 application" (Microsoft KB 895976). A Sage CRM whose eWare keys are in the 32-bit registry
view (WOW6432Node) is the 32-bit program on 64-bit Windows this applies to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modules.sagecrm.product.estate import Estate


def crm_pool(state: Mapping[str, Any], est: Estate) -> dict[str, Any]:
    """The CRM application's pool and its enable32BitAppOnWin64 (None when IIS did not say)."""
    apps = state.get("apps") or {}
    app = next((v for k, v in apps.items() if k.casefold() == est.iis_app.casefold()), None) or {}
    pool = str(app.get("pool") or est.iis_pools[0])
    wide = state.get("pools_32bit")
    value = wide.get(pool) if isinstance(wide, Mapping) else None
    return {"pool": pool, "enable32BitAppOnWin64": value}


def pool_problem(pool: Mapping[str, Any], est: Estate, view: str | None) -> str | None:
    """Why the CRM pool cannot load eware.dll, or None: only a 32-bit install (`view` 32) on a pool
    with enable32BitAppOnWin64 known to be off."""
    if view != "32" or pool.get("enable32BitAppOnWin64") is not False:
        return None
    return (
        f"IIS application pool {pool['pool']!r} of {est.iis_app} has enable32BitAppOnWin64 off: the 32-bit "
        "eware.dll cannot load in its 64-bit w3wp.exe and IIS answers HTTP Error 500.0 (0x800700c1, "
        "'%1 is not a valid Win32 application'); set 'Enable 32-Bit Applications' to True on the pool"
    )
