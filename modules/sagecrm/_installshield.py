"""InstallShield's silent mode as its documentation describes it: the command line and the Setup.log.

Why a module of its own: Sage CRM's `setup.exe` is an InstallScript setup, and InstallShield
parses its command line itself rather than through CommandLineToArgvW. Its documentation
(Revenera, "Setup.exe and Update.exe Command-Line Parameters",
https://docs.revenera.com/installshield28helplib/helplibrary/IHelpSetup_EXECmdLine.htm) says an
option's parameter follows the option with no space, in quotation marks when it has spaces:
`/f1"C:\\Setup Files\\Setup.iss"`. The engine's argument quoting wraps a whole argument
(`"/f1C:\\Setup Files\\Setup.iss"`), which is right for CommandLineToArgvW and which InstallShield
does not read as `/f1`; so the installer's line is built here and run through `cmd.exe /d /s /c`,
which passes it on as written (`/s`: the outer quotes are stripped, the rest is left alone).

A silent InstallScript setup says how it ended in the `[ResponseResult]` `ResultCode` of the log
named by `/f2` (Revenera, "Checking for Errors Using the Setup.log File",
https://docs.revenera.com/installshield28helplib/helplibrary/SetupLog.htm), not by its exit code:
`RESULT_CODES` is that page's table, and a run is a success only when the log says 0.
"""

from __future__ import annotations

import configparser

from engine.api.module import ModuleFailed

#: ResultCode -> meaning, from InstallShield's "Checking for Errors Using the Setup.log File".
RESULT_CODES: dict[int, str] = {
    0: "Success",
    -1: "General error",
    -2: "Invalid mode",
    -3: "Required data not found in the Setup.iss file",
    -4: "Not enough memory available",
    -5: "File does not exist",
    -6: "Cannot write to the response file",
    -7: "Unable to write to the log file",
    -8: "Invalid path to the InstallShield Silent response (.iss) file",
    -9: "Not a valid list type (string or number)",
    -10: "Data type is invalid",
    -11: "Unknown error during setup",
    -12: "Dialog boxes are out of order",
    -51: "Cannot create the specified folder",
    -52: "Cannot access the specified file or folder",
    -53: "Invalid option selected",
}

#: Characters cmd.exe acts on even inside double quotes (`%` expands variables, `!` too under
#: delayed expansion), the quote itself, and line ends: a path with one is refused, never pasted.
_UNSAFE = frozenset('"%!\r\n')


def _quoted(path: str, what: str) -> str:
    bad = sorted({c for c in path if c in _UNSAFE or ord(c) < 32})
    if bad:
        raise ModuleFailed(
            f"the {what} path {path!r} contains {', '.join(repr(c) for c in bad)}, which cannot be "
            "passed to setup.exe safely: use a path without them"
        )
    return f'"{path}"'


def silent_command(installer: str, response: str, log: str) -> str:
    """`"<setup.exe>" /s /f1"<response>" /f2"<log>"`: each path quoted after its option, as documented."""
    return (
        f"{_quoted(installer, 'installer')} /s /f1{_quoted(response, 'response file')}"
        f" /f2{_quoted(log, 'setup log')}"
    )


def result_code(text: str) -> int | None:
    """The `[ResponseResult]` `ResultCode` of a Setup.log, None when the log has none."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    section = next((s for s in parser.sections() if s.casefold() == "responseresult"), None)
    if section is None:
        return None
    value = parser[section].get("resultcode")
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def meaning(code: int) -> str:
    return RESULT_CODES.get(code, "not a ResultCode InstallShield documents")
