"""Accented names (French estates) through every kind of primitive, over the real pywinrm client
against the project's WinRM endpoint and the simulated Windows host behind it.

Issue 15 item 5: install names, server names and file names survive every primitive whatever the
host's OEM code page; every frame is UTF-8 (base64 of UTF-8 JSON, engine/connect/winrm_framing.py).
A program's own output is in the code page of its console: the helper starts it without a console
window, so it gets a console of its own in the system's OEM code page (850 on French and German
servers, 437 on US ones: https://learn.microsoft.com/windows/console/console-code-pages, "console
programs usually use the OEM code page": https://devblogs.microsoft.com/oldnewthing/20050308-00/?p=36253),
and process.run decodes it with that code page (processes.ps1 `Get-CutoverOemEncoding`, the
OEMCP of HKLM\\SYSTEM\\CurrentControlSet\\Control\\Nls\\CodePage); the simulated host does the same
with its `windows: {oem_codepage: N}`.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest

from engine.api.primitives import Remote
from simulation.programs import register_program, unregister_program
from tests.support.winrm_client import winrm_connect_fixture  # noqa: F401 - fixture
from tests.support.winrm_endpoint import WinRMEndpoint, winrm_endpoint_fixture  # noqa: F401 - fixture

INSTALL = "CRM_Société"
#: The 32-bit Sage CRM's key, read through the 32-bit view of a 64-bit server (WOW6432Node).
CONFIG = f"HKLM\\SOFTWARE\\eWare\\Config\\/{INSTALL}"
TEXT = "Société Générale — é, è, ç, ü, œ"
#: What a console program prints: the characters code pages 850 and 437 both have.
OEM_TEXT = "Société Générale: réussi, déjà, ç, ü"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def open_remote(winrm_endpoint, connect, oem: int = 850) -> tuple[WinRMEndpoint, Remote]:
    initial = {
        "preset": "sagecrm",
        "install_name": INSTALL,
        "windows": {"oem_codepage": oem},
        "services": {"Indexation Société": {"display_name": "Indexation des documents — Société"}},
        "iis": {"sites": {"Extranet Société": "started"}},
    }
    endpoint = winrm_endpoint("web1", auth="ntlm", initial=initial)
    return endpoint, Remote(connect(endpoint))


@pytest.fixture
def oem_program() -> Iterator[None]:
    """`écho-société.exe`: prints its arguments and OEM_TEXT as a console program does, in the
    host's OEM code page (bytes), and exits 0."""

    def run(host, argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
        page = f"cp{host.state['windows']['oem_codepage']}"
        return 0, (" | ".join(argv[1:]) + "\r\n" + OEM_TEXT + "\r\n").encode(page), "échec évité".encode(page)

    register_program("écho-société.exe", run)
    yield
    unregister_program("écho-société.exe")


def test_the_install_key_and_accented_value_names_and_data_survive_the_registry_primitives(
    winrm_endpoint, connect
) -> None:
    _endpoint, remote = open_remote(winrm_endpoint, connect)

    found = remote.call("registry.get", key=CONFIG, name="InstallName", view="32")
    remote.call("registry.set", key=CONFIG, name="Libellé société", data=TEXT, type="REG_SZ", view="32")
    remote.call("file.mkdir", path="C:\\Sauvegardes\\Société", parents=True)
    export = remote.call(
        "registry.export", key=CONFIG, dest="C:\\Sauvegardes\\Société\\config-é.reg", view="32"
    )
    remote.call("registry.set", key=CONFIG, name="Libellé société", data="changé", type="REG_SZ", view="32")
    remote.call("registry.import", path="C:\\Sauvegardes\\Société\\config-é.reg", replace=True, view="32")
    back = remote.call("registry.get", key=CONFIG, name="Libellé société", view="32")

    assert found["exists"] is True
    assert next(iter(found["values"].values()))["data"] == INSTALL
    assert export["size"] > 0
    assert back["values"] == {"Libellé société": {"type": "REG_SZ", "data": TEXT}}


def test_a_service_with_an_accented_name_is_read_and_set(winrm_endpoint, connect) -> None:
    endpoint, remote = open_remote(winrm_endpoint, connect)

    remote.call("service.set", name="Indexation Société", state="stopped")
    got = remote.call("service.get", name="Indexation Société")

    assert (got["exists"], got["state"]) == (True, "stopped")
    record = endpoint.sim.state["services"]["Indexation Société"]
    assert record["display_name"] == "Indexation des documents — Société"


@pytest.mark.parametrize("oem", [850, 437])
def test_process_run_passes_accented_argv_and_decodes_the_oem_code_page_output(
    oem: int, oem_program, winrm_endpoint, connect
) -> None:
    _endpoint, remote = open_remote(winrm_endpoint, connect, oem)

    ran = remote.call("process.run", argv=["C:\\Outils\\écho-société.exe", INSTALL, "Données à migrer"])

    assert ran["rc"] == 0
    assert ran["stdout"] == f"{INSTALL} | Données à migrer\r\n{OEM_TEXT}\r\n"
    assert ran["stderr"] == "échec évité"


def test_accented_member_names_survive_zip_list_and_extract(winrm_endpoint, connect) -> None:
    _endpoint, remote = open_remote(winrm_endpoint, connect)
    remote.call("file.mkdir", path="C:\\Données\\Modèles", parents=True)
    remote.call("file.write", path="C:\\Données\\Modèles\\lettre-été.txt", content_b64=b64(TEXT.encode()))
    remote.call("file.write", path="C:\\Données\\reçu.txt", content_b64=b64(b"ok"))

    remote.call("file.mkdir", path="C:\\Sauvegardes-é", parents=True)
    remote.call("archive.create", src="C:\\Données", dest="C:\\Sauvegardes-é\\données.zip")
    listing = remote.call("archive.list", path="C:\\Sauvegardes-é\\données.zip")
    remote.call("archive.extract", src="C:\\Sauvegardes-é\\données.zip", dest="C:\\Restauré")
    read = remote.call("file.read", path="C:\\Restauré\\Modèles\\lettre-été.txt")

    names = sorted(str(entry.get("name", entry.get("path"))) for entry in listing["entries"])
    assert any(name.endswith("lettre-été.txt") for name in names)
    assert any(name.endswith("reçu.txt") for name in names)
    assert base64.b64decode(read["content_b64"]).decode("utf-8") == TEXT


def test_the_accented_install_name_is_the_iis_application_and_its_path_and_a_site_name_survives(
    winrm_endpoint, connect
) -> None:
    _endpoint, remote = open_remote(winrm_endpoint, connect)

    state = remote.call("iis.state")
    app = f"Default Web Site/{INSTALL}"
    path = remote.call("iis.get_path", site="Default Web Site", app=INSTALL)["physical_path"]
    remote.call("file.mkdir", path=f"C:\\Nouveau-{INSTALL}\\WWWRoot", parents=True)
    remote.call("iis.set_path", site="Default Web Site", app=INSTALL, path=f"C:\\Nouveau-{INSTALL}\\WWWRoot")
    after = remote.call("iis.get_path", site="Default Web Site", app=INSTALL)["physical_path"]

    remote.call("iis.set_state", kind="site", name="Extranet Société", state="stopped")
    sites = remote.call("iis.state")["sites"]

    assert app in state["apps"]
    assert path.endswith(f"\\{INSTALL}\\WWWRoot")
    assert after == f"C:\\Nouveau-{INSTALL}\\WWWRoot"
    assert (state["sites"]["Extranet Société"], sites["Extranet Société"]) == ("started", "stopped")
