"""What a Windows host must run for the PowerShell helper, and the sentence when it does not.

The helper's primitives are written for Windows PowerShell 5.1 (the newest Windows PowerShell;
what Windows Server 2016 to 2022 ship, and what Windows Management Framework 5.1 installs on
2012 R2): they use no PowerShell 6/7 syntax and no .NET Core API, which
tests/unit/test_powershell_compat.py proves against a rule list, each rule with the version that
introduced its construct. Nothing older is accepted because that is all the proof covers, and
because PowerShell 3.0 and 4.0 (unpatched 2012 and 2012 R2) cannot read a JSON batch over
2,097,152 characters (ConvertFrom-Json's JavaScriptSerializer MaxJsonLength; "Not needed on
PowerShell 5.0 and later", https://github.com/microsoft/MSRC-Microsoft-Security-Updates-API/pull/21),
and a file written to the host travels in one batch.

.NET Framework 4.5.2 because Microsoft documents it as the requirement of WMF 5.1 ("Installation
will succeed, but key features will fail if .NET 4.5.2 is not installed",
https://learn.microsoft.com/powershell/scripting/windows-powershell/wmf/setup/install-configure);
the primitives themselves need 4.5 (ZipArchive, Stream.ReadToEndAsync, Exception.HResult).

The bootstrap (engine/connect/winrm_framing.py) checks both when the helper starts, before it
loads the primitives, and answers every batch with one `@@CUTOVER-REFUSED@@` frame carrying what
it found; `refusal_message` turns that into the operator's sentence. The .NET Framework release
is the `Release` value of HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full, as
documented in "How to: Determine which .NET Framework versions are installed"
(https://learn.microsoft.com/dotnet/framework/install/how-to-determine-which-versions-are-installed).
"""

from __future__ import annotations

import json

#: Oldest Windows PowerShell the helper accepts ($PSVersionTable.PSVersion, major.minor).
MIN_POWERSHELL = "5.1"
#: Oldest .NET Framework 4.x release the helper accepts (NDP\v4\Full Release; 4.5.2).
MIN_DOTNET_RELEASE = 379893

#: Smallest Release value of each .NET Framework 4.5+ version, from Microsoft's table (see above).
DOTNET_RELEASES: tuple[tuple[int, str], ...] = (
    (533320, "4.8.1"),
    (528040, "4.8"),
    (461808, "4.7.2"),
    (461308, "4.7.1"),
    (460798, "4.7"),
    (394802, "4.6.2"),
    (394254, "4.6.1"),
    (393295, "4.6"),
    (379893, "4.5.2"),
    (378675, "4.5.1"),
    (378389, "4.5"),
)


def dotnet_name(release: int) -> str:
    """'.NET Framework 4.7.2 (release 461814)' for a Release value; 0: none, -1: unreadable."""
    if release < 0:
        return "a .NET Framework release the helper could not read"
    if release == 0:
        return "no .NET Framework 4.5 or later (NDP\\v4\\Full has no Release value)"
    for smallest, version in DOTNET_RELEASES:
        if release >= smallest:
            return f".NET Framework {version} (release {release})"
    return f"a .NET Framework older than 4.5 (release {release})"


def refusal_message(payload: bytes) -> str:
    """The operator's sentence for the helper's refusal frame: what was found, what is needed."""
    try:
        found = json.loads(payload.decode("utf-8"))
        powershell = str(found["powershell"])
        release = int(found["dotnet_release"])
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return "the PowerShell helper refused to start on this host and its reason was unreadable"
    reasons = []
    if _older(powershell, MIN_POWERSHELL):
        reasons.append(
            f"it runs Windows PowerShell {powershell}; cutover needs Windows PowerShell "
            f"{MIN_POWERSHELL} or later (install Windows Management Framework {MIN_POWERSHELL})"
        )
    if 0 <= release < MIN_DOTNET_RELEASE:
        reasons.append(
            f"it has {dotnet_name(release)}; Windows PowerShell {MIN_POWERSHELL} needs "
            f".NET Framework 4.5.2 (release {MIN_DOTNET_RELEASE}) or later"
        )
    if not reasons:  # the helper and this controller disagree on the minimums: say what it found
        reasons.append(f"it runs Windows PowerShell {powershell} with {dotnet_name(release)}")
    return "this host cannot run the cutover helper: " + "; ".join(reasons)


def _older(version: str, minimum: str) -> bool:
    """Whether major.minor of `version` ('4.0', '5.1.17763.2931') is below `minimum`."""

    def major_minor(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())

    return major_minor(version) < major_minor(minimum)
