"""The simulated Sage CRM installer: `setup.exe` on a simulated host (a plug-in, labelled a simulation).

A host of the `sagecrm` preset loads it through its plug-in (`simulation.sagecrm.plugin`); another
simulated host can list it under `plugins:` itself. Importing it registers a handler for
programs named `setup.exe`. The handler acts only when the file exists on the host and is Sage
CRM media (its first line says `Sage CRM <version> setup`), and models what the real installer
does to a server:

- silent mode only (`/s /f1<response file>`): without `/s` the real installer opens its wizard,
  which nobody can click on a simulated host (exit code 1 says so);
- run again after an upgrade cut short (the process killed half-way), it completes what is
  missing instead of refusing "already at version";
- the response file (INI, simulation format, section `[SageCRM]`): `Mode=Upgrade`,
  `InstallName`, `LicenceKey` (must not be empty), `Database=Yes|No` (the database server
  upgrades the database; the others take the "no backup required" path), `Backup=Yes|No`
  (copy the program files to `<install>_backup` first), `Language=FR|EN` (of the upgrade log);
- the installer's running log (`INSTALL_LOG`, next to the /f2 log) gets one line per stage as it goes (stamped with
  the host's simulated clock), so a step that tails it shows each stage in turn;
- IIS is stopped during the upgrade and put back as it was; the CRM services of the host are
  stopped, their binaries (and `eware.dll`, the WWWRoot scripts, Tomcat) replaced by the new
  version's, a new file appears, and the services are started again if they ran;
- registry `Config\\/<install>` `Version` becomes the new version;
- `Database=Yes`: the CRM database (SQLite, its path in the process environment
  `CUTOVER_SIM_CRM_DB`, which `crm_installer` passes on simulated hosts only) goes through the
  scripts of `crm_database.upgrade_database`; `Database=No` refuses while the database is not
  at the new version yet (the database server must go first);
- `<install>\\Setup\\UPGRADELOG.HTML` and the script reports under `Setup\\Logs` are written in
  the log's language, with "NB doit être réparé" / "NB must be fixed" lines and, for a SQL script
  that failed, an extra HTML file whose link text ends with `*`.
"""

from __future__ import annotations

import configparser
import html
import ntpath
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from simulation.core import OPS
from simulation.errors import SimError
from simulation.programs import command_line, log_line, register_program
from simulation.sagecrm import crm_database

if TYPE_CHECKING:
    from simulation.host import SimHost

DB_ENV = "CUTOVER_SIM_CRM_DB"
#: The log the simulated installer writes as it goes, one line per stage, in the folder of its /f2
#: Setup.log (what an operator tails on a real server; `sagecrm.installer.progress_log` names it so
#: the step's live line shows its end).
INSTALL_LOG = "SageCRM-setup.log"
_MEDIA = re.compile(r"Sage CRM (\d+(?:\.\d+)*) setup")
_PREVIOUS = {"7.2": ("7.1",), "7.3": ("7.2", "7.1")}

TEXT = {
    "FR": {
        "title": "Résumé de mise à jour",
        "es_logs": "Journaux de scripts Sage CRM",
        "sql_logs": "Journaux des scripts SQL",
        "ok": "Réussi",
        "failed": "Échec",
        "fix": "NB doit être réparé",
        "view": "la vue standard personnalisée {0} a été conservée ; la nouvelle définition est {0}_New",
        "column": "la colonne {0} n'a pas pu être modifiée : elle est utilisée par {1}",
        "files": "fichiers de programme mis à jour",
        "registry": "registre mis à jour",
    },
    "EN": {
        "title": "Upgrade summary",
        "es_logs": "Sage CRM script logs",
        "sql_logs": "SQL script logs",
        "ok": "Succeeded",
        "failed": "Failed",
        "fix": "NB must be fixed",
        "view": "the customised standard view {0} was kept; the new definition is {0}_New",
        "column": "column {0} could not be altered: it is used by {1}",
        "files": "program files updated",
        "registry": "registry updated",
    },
}


#: The InstallShield Setup.log ResultCodes this simulation writes (Revenera, "Checking for Errors
#: Using the Setup.log File", https://docs.revenera.com/installshield28helplib/helplibrary/SetupLog.htm).
SUCCESS, GENERAL_ERROR, DATA_NOT_FOUND, FILE_MISSING = 0, -1, -3, -5


class InstallerError(Exception):
    """The installer stops with a message, an exit code and a Setup.log ResultCode.

    `result_code` None: InstallShield Silent never started (no media, no /s), so no log is written.
    """

    def __init__(self, message: str, rc: int = 1, result_code: int | None = GENERAL_ERROR):
        super().__init__(message)
        self.rc = rc
        self.result_code = result_code


def setup_exe(host: SimHost, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    """The `setup.exe` program of a simulated host: the upgrade, then its Setup.log written.

    A response file InstallShield Silent cannot use ends the run with exit code 0 and says so only
    in the log's ResultCode, which is why the log is what the engine reads.
    """
    switches = installshield_switches(_command_line(host, argv))
    try:
        out = run_installer(host, argv, switches)
    except InstallerError as exc:
        if exc.result_code is not None:
            _write_setup_log(host, argv[0], switches, exc.result_code)
        return exc.rc, "", f"Sage CRM setup (simulation): {exc}\r\n" if exc.rc else ""
    _write_setup_log(host, argv[0], switches, SUCCESS)
    return 0, out, ""


def _command_line(host: SimHost, argv: list[str]) -> str:
    """The raw command line: InstallShield reads it itself, not the argv CommandLineToArgvW makes."""
    line = (host.process or {}).get("command_line")
    return str(line) if line else command_line(argv, use_shell=False)


def installshield_switches(line: str) -> dict[str, str]:
    """The switches InstallShield finds in a command line: `/s`, `/f1<path>`, `/f2<path>` (lower-cased).

    As documented (Revenera, "Setup.exe and Update.exe Command-Line Parameters",
    https://docs.revenera.com/installshield28helplib/helplibrary/IHelpSetup_EXECmdLine.htm): an
    option's parameter follows it with no space, in quotes when it has spaces (`/f1"C:\\a b\\x.iss"`).
    A word that starts with a quote (`"/f1C:\\a b\\x.iss"`) is no option at all and is ignored.
    """
    words, word, quoted = [], [], False
    for char in line:
        if char == '"':
            quoted = not quoted
        if char in " \t" and not quoted:
            if word:
                words.append("".join(word))
            word = []
        else:
            word.append(char)
    if word:
        words.append("".join(word))
    found: dict[str, str] = {}
    for word in words[1:]:  # words[0] is the program
        if word[:1] not in ("/", "-"):
            continue
        name = word[1:3].casefold() if word[1:2].casefold() == "f" else word[1:2].casefold()
        found[name] = word[1 + len(name) :].replace('"', "")
    return found


def _write_setup_log(host: SimHost, program: str, switches: dict[str, str], code: int) -> None:
    """Setup.log as documented: [InstallShield Silent], [Application], [ResponseResult] ResultCode.

    Where /f2 names none, it is written next to the response file (the documented default).
    """
    response = switches.get("f1") or ntpath.join(ntpath.dirname(program), "setup.iss")
    path = switches.get("f2") or ntpath.join(ntpath.dirname(response), "Setup.log")
    text = (
        "[InstallShield Silent]\r\nVersion=v7.00\r\nFile=Log File\r\n"
        "[Application]\r\nName=Sage CRM\r\nCompany=Sage\r\nLang=0009\r\n"
        f"[ResponseResult]\r\nResultCode={code}\r\n"
    )
    try:
        host.write_bytes(path, text.encode("ascii"))
    except SimError:
        pass  # ResultCode -7 "Unable to write to the log file": nobody can read it then


def run_installer(host: SimHost, argv: list[str], switches: dict[str, str] | None = None) -> str:
    if switches is None:
        switches = installshield_switches(_command_line(host, argv))
    media_text = _read_text(host, argv[0])
    if media_text is None:
        raise InstallerError(f"{argv[0]} does not exist", rc=2, result_code=None)
    match = _MEDIA.search(media_text)
    if match is None:
        raise InstallerError(f"{argv[0]} is not Sage CRM installation media", rc=2, result_code=None)
    target = match.group(1)
    if "s" not in switches:
        raise InstallerError(
            "the installation wizard needs a person at the screen; a simulated host has none "
            '(run it silently: /s /f1"<response file>")',
            result_code=None,
        )
    # no /f1 read: InstallShield looks for setup.iss next to setup.exe
    response = switches.get("f1") or ntpath.join(ntpath.dirname(argv[0]), "setup.iss")
    answers = _response(host, response)
    setup_log = switches.get("f2") or ntpath.join(ntpath.dirname(response), "Setup.log")
    return _upgrade(host, answers, target, ntpath.join(ntpath.dirname(setup_log), INSTALL_LOG))


def _read_text(host: SimHost, path: str) -> str | None:
    try:
        if not host.exists(path):
            return None
        return host.read_bytes(path).decode("utf-8", "replace")
    except SimError:
        return None


def _response(host: SimHost, path: str) -> dict[str, str]:
    text = _read_text(host, path)
    if text is None:
        raise InstallerError(f"response file {path} does not exist", rc=0, result_code=FILE_MISSING)
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise InstallerError(
            f"response file {path} is not readable: {exc}", rc=0, result_code=DATA_NOT_FOUND
        ) from None
    if not parser.has_section("SageCRM"):
        raise InstallerError(
            f"response file {path} has no [SageCRM] section", rc=0, result_code=DATA_NOT_FOUND
        )
    answers = {k.casefold(): v.strip() for k, v in parser.items("SageCRM")}
    if answers.get("mode", "").casefold() != "upgrade":
        raise InstallerError("only Mode=Upgrade is simulated")
    if not answers.get("licencekey"):
        raise InstallerError(
            "the licence key is missing or was not accepted", rc=3, result_code=DATA_NOT_FOUND
        )
    return answers


def _yes(answers: dict[str, str], key: str) -> bool:
    return answers.get(key, "no").casefold() in ("yes", "oui", "true", "1")


def _upgrade(host: SimHost, answers: dict[str, str], target: str, install_log: str) -> str:
    install_name = answers.get("installname", "CRM")
    config_key = f"HKLM\\SOFTWARE\\eWare\\Config\\/{install_name}"
    # A 32-bit InstallShield setup reads and writes the 32-bit registry view; keys found only in the
    # 64-bit view (a 64-bit layout) are upgraded where they are.
    view = "32" if host.registry_value(config_key, "Version", view="32") is not None else "64"
    root = host.registry_value(config_key, "RootPath", view=view)
    current = host.registry_value(config_key, "Version", view=view)
    if root is None or current is None:
        raise InstallerError(f"no Sage CRM installation {install_name!r} on this server")
    install = str(root["data"]).rstrip("\\")
    current_version = str(current["data"])
    progress = host.state.get("sagecrm_sim") or {}
    if current_version == target and progress.get("to") == target and not progress.get("done"):
        current_version = progress["from"]  # an upgrade cut short: run again, it completes what is missing
    elif current_version == target:
        raise InstallerError(f"{install_name} is already at version {target}")
    if current_version not in _PREVIOUS.get(target, ()):
        raise InstallerError(f"no upgrade from {current_version} to {target}")
    lang = "EN" if answers.get("language", "FR").upper().startswith("EN") else "FR"
    database = (host.process or {}).get("env", {}).get(DB_ENV)
    reports = _database_step(answers, database, current_version, target)
    stage = _stages(host, install_log, install_name, current_version, target)
    host.state["sagecrm_sim"] = {"from": current_version, "to": target, "done": False}
    iis_was = _service_state(host, "W3SVC")
    if iis_was == "running":
        stage("stopping IIS")
        OPS["iis.reset"](host, {"action": "stop"})
    if _yes(answers, "backup"):
        stage(f"backing up the program files to {install}_backup")
        OPS["file.copy"](host, {"src": install, "dest": install + "_backup", "overwrite": True})
    stage("replacing the program files")
    _replace_files(host, install, target)
    stage("updating the registry")
    host.set_registry_value(config_key, "Version", target, view=view)
    if reports is not None and database is not None:
        stage("upgrading the database")
        try:
            reports = crm_database.upgrade_database(database, current_version, target)
        except (ValueError, sqlite3.Error) as exc:
            raise InstallerError(f"database upgrade failed: {exc}", rc=4) from None
    stage("writing the upgrade log")
    _write_logs(host, install, lang, target, reports or [])
    host.state["sagecrm_sim"]["done"] = True
    if iis_was == "running":
        stage("starting IIS")
        OPS["iis.reset"](host, {"action": "start"})
    stage("upgrade complete")
    return f"Sage CRM {target}: upgrade of {install_name} complete (simulation)\r\n"


def _stages(host: SimHost, log: str, install_name: str, current: str, target: str) -> Any:
    """`stage(text)`: one line of the installer's running log, numbered and stamped with the host's
    simulated clock (which moves with every change the installer makes)."""
    count = [0]
    host.write_bytes(log, b"")  # a new run starts a new log, as the installer's own does
    log_line(host, log, f"Sage CRM {target} setup: upgrading {install_name} from {current} (simulation)")

    def stage(text: str) -> None:
        count[0] += 1
        log_line(host, log, f"[{host.state.get('clock', 0)}] step {count[0]}: {text}")

    return stage


def _database_step(answers: dict[str, str], database: str | None, current: str, target: str) -> list | None:
    """[] when this server upgrades the database (filled later), None when it takes the no-DB path.

    Checked before anything changes, so a refusal leaves the server as it was.
    """
    found = crm_database.database_version(database) if database is not None else None
    if _yes(answers, "database"):
        if database is None:
            raise InstallerError("cannot reach the CRM database (simulation: CUTOVER_SIM_CRM_DB is not set)")
        if found == target:
            return None  # upgraded by an attempt cut short: its scripts ran
        if found != current:
            raise InstallerError(f"the CRM database is at version {found}, not {current}")
        return []
    if database is not None and found != target:
        raise InstallerError(f"the CRM database is at version {found}: upgrade the database server first")
    return None


def _service_state(host: SimHost, name: str) -> str | None:
    record = host.service(name)
    return None if record is None else str(record["state"])


def _replace_files(host: SimHost, install: str, target: str) -> None:
    """New binaries: services stopped while theirs is replaced, started again if they ran."""
    stamp = f"Sage CRM {target} (simulation; upgraded)"
    sage = ntpath.dirname(install)
    running = []
    for name, record in sorted(host.state.get("services", {}).items()):
        path = str(record.get("path", ""))
        if path.casefold().startswith(sage.casefold() + "\\") and record.get("state") == "running":
            host.set_service_state(name, "stopped")
            running.append(name)
    for record in host.state.get("services", {}).values():
        path = str(record.get("path", ""))
        if path.casefold().startswith(sage.casefold() + "\\") and host.exists(path):
            host.write_bytes(path, f"{ntpath.basename(path)} {stamp}\n".encode())
    for rel in ("eware.dll", "WWWRoot\\js\\crm.js", "tomcat\\bin\\tomcat7.exe"):
        path = ntpath.join(install, rel)
        if host.exists(path):
            host.write_bytes(path, f"{rel.rsplit(chr(92), 1)[-1]} {stamp}\n".encode())
    host.write_bytes(
        ntpath.join(install, "WWWRoot", "js", f"dashboard-{target}.js"), f"// {stamp}\n".encode()
    )
    for name in running:
        host.set_service_state(name, "running")


def _write_logs(host: SimHost, install: str, lang: str, target: str, reports: list[Any]) -> None:
    text = TEXT[lang]
    setup = ntpath.join(install, "Setup")
    if not reports:
        reports = [
            crm_database.ScriptReport("files", lines=[text["files"]]),
            crm_database.ScriptReport("registry", lines=[text["registry"]]),
        ]
    es_items, sql_items = [], []
    for report in reports:
        lines = [html.escape(line) for line in report.lines]
        for item in report.to_fix:
            kind, _, rest = item.partition(":")
            detail = (
                text["view"].format(rest) if kind == "view" else text["column"].format(*rest.split(":", 1))
            )
            lines.append(f"<b>{text['fix']}</b> : {html.escape(detail)}")
        body = "".join(f"<p>{line}</p>\n" for line in lines)
        page = f"Logs/{report.name}.html" if not report.name.endswith(".sql") else f"Logs/{report.name}.log"
        host.write_bytes(ntpath.join(setup, *page.split("/")), _page(report.name, body).encode("utf-8"))
        outcome = text["ok"] if report.ok else text["failed"]
        if report.name.endswith(".sql"):
            sql_items.append(f'<li><a href="{page}">{html.escape(report.name)}.log</a></li>')
            if report.sql_errors:
                errors = "".join(f"<p>{html.escape(e)}</p>\n" for e in report.sql_errors)
                err_page = f"Logs/{report.name}.html"
                host.write_bytes(
                    ntpath.join(setup, "Logs", f"{report.name}.html"),
                    _page(report.name, errors).encode("utf-8"),
                )
                sql_items.append(f'<li><a href="{err_page}">{html.escape(report.name)}.html*</a></li>')
        else:
            es_items.append(f'<li><a href="{page}">{html.escape(report.name)}</a> : {outcome}</li>')
    summary = (
        f"<h1>{text['title']} : Sage CRM {target}</h1>\n<!-- simulation -->\n"
        f"<h2>{text['es_logs']}</h2>\n<ul>\n" + "\n".join(es_items) + "\n</ul>\n"
        f"<h2>{text['sql_logs']}</h2>\n<ul>\n" + "\n".join(sql_items) + "\n</ul>\n"
    )
    host.write_bytes(ntpath.join(setup, "UPGRADELOG.HTML"), _page(text["title"], summary).encode("utf-8"))


def _page(title: str, body: str) -> str:
    return (
        f'<html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>\n<body>\n'
        f"{body}</body></html>\n"
    )


def media(version: str) -> str:
    """The content of a simulated installation medium `setup.exe` for `version`."""
    return f"Sage CRM {version} setup (simulation)\n"


def response_file(
    database: bool, install_name: str = "CRM", licence_key: str = "SIM-LICENCE-KEY", language: str = "FR"
) -> str:
    """A response file the simulated installer accepts (the database server's or another's)."""
    return (
        "[SageCRM]\nMode=Upgrade\n"
        f"InstallName={install_name}\nLicenceKey={licence_key}\n"
        f"Database={'Yes' if database else 'No'}\nBackup={'Yes' if database else 'No'}\nLanguage={language}\n"
    )


register_program("setup.exe", setup_exe)
