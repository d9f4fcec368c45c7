"""The simulated Sage CRM installer's fresh install: a new web server joins the estate (chapter 6).

The guide: "Pour installer les autres serveurs Sage CRM ... Assurez-vous que le nom entré dans la
boîte de dialogue Nom de l'installation est celui indiqué au cours de l'installation originale
... changez le nom dans le champ Serveur de base de données ... cliquez sur Non pour que la base de
données ne soit pas [installée] sur ce serveur". A response file with `Mode=Install` (simulation
format, section `[SageCRM]`: `InstallName`, `LicenceKey`, `DatabaseServer`, `Database=No`) makes
`setup.exe` do that on a server with no Sage CRM: program files, eWare keys, the CRM pools and
applications in IIS (with the SData rewrite rule), Tomcat, COM classes, exactly as the
`sagecrm` preset builds an installed web server of the media's version. It refuses, changing
nothing: `Database=Yes` (the database is installed once), an install already there, a CRM
database at another version than the media's. Every other response file goes to the upgrade
(`setup_program.setup_exe`).
"""

from __future__ import annotations

import configparser
from typing import TYPE_CHECKING, Any

from simulation.core import OPS
from simulation.errors import SimError
from simulation.paths import parse_path
from simulation.sagecrm import crm_database, preset
from simulation.sagecrm.setup_program import (
    _MEDIA,
    DB_ENV,
    GENERAL_ERROR,
    SUCCESS,
    _command_line,
    _read_text,
    _write_setup_log,
    installshield_switches,
    setup_exe,
)

if TYPE_CHECKING:
    from simulation.host import SimHost


def setup_or_install(host: SimHost, argv: list[str], stdin: bytes) -> tuple[int, str, str]:
    """`setup.exe`: a fresh install for `Mode=Install`, the upgrade otherwise."""
    switches = installshield_switches(_command_line(host, argv))
    answers = _answers(host, switches.get("f1"))
    if answers.get("mode", "").casefold() != "install":
        return setup_exe(host, argv, stdin)
    try:
        out = fresh_install(host, argv[0], answers)
    except SimError as exc:
        _write_setup_log(host, argv[0], switches, GENERAL_ERROR)
        return 1, "", f"Sage CRM setup (simulation): {exc.message}\r\n"
    _write_setup_log(host, argv[0], switches, SUCCESS)
    return 0, out, ""


def _answers(host: SimHost, path: str | None) -> dict[str, str]:
    text = _read_text(host, path) if path else None
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text or "")
    except configparser.Error:
        return {}
    if not parser.has_section("SageCRM"):
        return {}
    return {k.casefold(): v.strip() for k, v in parser.items("SageCRM")}


def fresh_install(host: SimHost, media_path: str, answers: dict[str, str]) -> str:
    """Install Sage CRM on a server that has none; SimError (nothing changed) when it must not."""
    media = _MEDIA.search(_read_text(host, media_path) or "")
    if media is None:
        raise SimError("invalid", f"{media_path} is not Sage CRM installation media")
    version = media.group(1)
    install_name = answers.get("installname", "CRM")
    if not answers.get("licencekey"):
        raise SimError("invalid", "the licence key is missing or was not accepted")
    if answers.get("database", "no").casefold() in ("yes", "oui", "true", "1"):
        raise SimError("invalid", "the Sage CRM database exists already: it is installed once, answer No")
    database = (host.process or {}).get("env", {}).get(DB_ENV)
    found = crm_database.database_version(database) if database else None
    if found != version:
        raise SimError("invalid", f"the CRM database is at version {found}, the media installs {version}")
    architecture = str(host.state.get("windows", {}).get("architecture", "x64"))
    built = preset.build(
        host.name,
        {
            "install_name": install_name,
            "version": version,
            "roles": ["web"],
            "db_server": answers.get("databaseserver", "DBSERVER"),
            "database": install_name,  # DefaultDatabase: the original install's name, on every server
            "architecture": architecture,
        },
    )
    if any(host.registry_value(key, "Version") is not None for key in built["registry"]):
        raise SimError("invalid", f"Sage CRM {install_name!r} is already installed on this server")
    if "iis" not in host.state:
        raise SimError("invalid", "IIS is not installed: a Sage CRM web server needs it first")
    _lay(host, built)
    return f"Sage CRM {version}: {install_name} installed, database not installed (simulation)\r\n"


def _lay(host: SimHost, built: dict[str, Any]) -> None:
    """What the installer leaves on the server: the preset's sections added to the host."""
    for path, content in built["files"].items():
        host.write_bytes(path, content.encode("utf-8"))
    for folder in built["directories"]:
        OPS["file.mkdir"](host, {"path": folder})
    for key, values in built["registry"].items():
        for name, data in values.items():
            host.set_registry_value(key, name, data)
    for name, service in built["services"].items():
        host.install_service(name, service["path"], "auto", service.get("display_name"))
        host.set_service_state(name, "running")
    state = host.state
    iis = state["iis"]
    iis["pools"].update(built["iis"]["pools"])
    iis.setdefault("pools_32bit", {}).update(built["iis"].get("pools_32bit", {}))
    for key, app in built["iis"]["apps"].items():
        entry = {k: (str(parse_path(v)) if k in ("physical_path", "isapi") else v) for k, v in app.items()}
        iis["apps"][key] = entry
    com = state.setdefault("com", {"servers": {}, "classes": {}})
    com["servers"].update(built["com"]["servers"])
    com["classes"].update({k: str(parse_path(v)) for k, v in built["com"]["classes"].items()})
    com.setdefault("machines", {}).update(built["com"].get("machines", {}))
    state.setdefault("programs", {}).update(built["programs"])
    state.setdefault("products", {}).update(built["products"])
    state.setdefault("ports", {}).update(built["ports"])
    host.changed("Sage CRM installed (simulation)")
