"""Secrets never leak: every byte a whole demo upgrade writes is searched for every secret, in every encoding.

The run: the embedded demo (three simulated Sage CRM servers, playbooks/sagecrm/upgrade.yml)
plus a play on a fourth server reached over real WinRM (pywinrm, NTLM) at the test endpoint,
with secrets from the vault: the licence key (`sagecrm.licence_key: !vault`), a database
password (`!vault`, the CRM database target's password and a variable), the WinRM password
(`!vault`), and an operator token from `-e @secrets.yml` (a vault-encrypted value in an extra
vars file), next to plain `-e` values. The secrets are used the ways that reach output:
templated into `debug` messages, facts (`set_fact`, journaled), the `--diff` of a config file an
operator's module previews, a failing step whose error quotes them, and the WinRM login itself.
It runs twice as real processes, with `-v --diff`: once with the console output, once with the
jsonl event stream; then `cutover show`, `runs` and `report` render the journal again.

Searched: every file under each working copy's `.cutover/` (runs.db with its -wal/-shm files,
reports, locks, the simulated hosts' state) and the WinRM endpoint's host state, the captured
stdout and stderr of every command. The playbook writes no secret INTO a host (the config
with the password is only previewed as a diff), so nothing has to be excluded: host state is
searched too. Each secret is looked for raw and as base64 (all three alignments, so a secret
inside a larger base64 payload is found too), JSON-escaped, URL-encoded, HTML-escaped and UTF-16LE.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from engine.load.vault.keyring import VaultEncrypter
from tests.support.runs import REPO, run_cli, spawn_cli
from tests.support.winrm_endpoint import WinRMEndpoint

VAULT_PASSWORD = "vault-Pass&word+7/é"
SECRETS = {
    "licence key": "LIC-73-Ülf+/=Qz8k",
    "database password": 'Db"Pw&<7>é+/x9Q',
    "WinRM password": "Wr$m P@ss\"&é+1'",
    "operator token": "tok_9f8e7d6c&<5b4a>",
    "vault password": VAULT_PASSWORD,
}

EXTRA_PLAY: list[dict[str, Any]] = [
    {"import_playbook": "playbooks/sagecrm/upgrade.yml"},
    {
        "name": "Secrets in use on a server reached over WinRM",
        "hosts": "win4",
        "vars": {"connection_string": "Driver=ODBC;Uid=crm;Pwd={{ db_password }}"},
        "tasks": [
            {"name": "facts", "set_fact": {"conn": "{{ connection_string }}", "key": "{{ licence_key }}",
                                           "token": "{{ operator_token }}"}},
            {"name": "say them", "debug": {"msg": "db={{ db_password }} key={{ licence_key }} "
                                                  "token={{ operator_token }} note={{ note }}"}},
            {"name": "config preview", "config_preview": {"text": "pwd={{ db_password }}\nkey={{ licence_key }}\n"}},
            {"name": "web server started", "win_service": {"name": "W3SVC", "state": "started"}},
            {"name": "a failure quoting them", "ignore_errors": True,
             "fail": {"msg": "login failed with {{ db_password }} and {{ operator_token }}"}},
        ],
    },
]  # fmt: skip


def encodings(secret: str) -> dict[str, bytes]:
    """The byte patterns a secret can take in a file or a stream."""
    raw = secret.encode("utf-8")
    forms = {
        "raw": raw,
        "json": json.dumps(secret)[1:-1].encode(),
        "json-utf8": json.dumps(secret, ensure_ascii=False)[1:-1].encode(),
        "url": urllib.parse.quote(secret, safe="").encode(),
        "url-plus": urllib.parse.quote_plus(secret).encode(),
        "html": html.escape(secret).encode(),
        "utf-16le": secret.encode("utf-16-le"),
    }
    for shift in range(3):  # base64 of the secret at each alignment inside a longer payload
        encoded = base64.b64encode(b"\0" * shift + raw)
        start = (shift * 4 + 2) // 3 + (1 if shift else 0)
        forms[f"base64+{shift}"] = encoded[start : len(encoded) - 4]
    return forms


def vault_block(encrypter: VaultEncrypter, text: str) -> str:
    return encrypter.encrypt(text)


class VaultDumper(yaml.SafeDumper):
    """Writes `Vaulted` values as `!vault |` blocks, as `cutover vault encrypt` would."""


class Vaulted(str):
    pass


VaultDumper.add_representer(
    Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|")
)


#: An operator's module (library/ next to the playbook): shows, as a diff, the config it would write;
#: it writes nothing anywhere. Built-in writers (win_copy...) are destructive, and the planner refuses
#: a destructive step whose arguments hold vault values (they are decrypted only at run time).
CONFIG_PREVIEW = """
from engine.api.module import Module, Result


class ConfigPreview(Module):
    platforms = frozenset({"controller"})
    supports_check = True
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}

    def run(self, ctx, args):
        return Result(changed=True, diff={"before": "", "after": args["text"]}, output={"text": args["text"]})
"""


def demo_with_secrets(work: Path, endpoint: WinRMEndpoint, encrypter: VaultEncrypter) -> None:
    """The demo copied into `work`, its inventory given vault secrets and a fourth (WinRM) server."""
    shutil.copytree(REPO / "examples" / "demo", work / "examples" / "demo")
    shutil.copytree(REPO / "playbooks", work / "playbooks")
    path = work / "examples" / "demo" / "inventory.yml"
    inventory = yaml.safe_load(path.read_text())

    def vaulted(name: str) -> Vaulted:
        return Vaulted(encrypter.encrypt(SECRETS[name]))

    inventory["sagecrm"]["licence_key"] = vaulted("licence key")
    inventory["databases"]["crm"]["password"] = vaulted("database password")
    inventory.setdefault("vars", {}).update({"db_password": vaulted("database password"),
                                             "licence_key": vaulted("licence key")})  # fmt: skip
    settings = endpoint.settings()
    inventory["hosts"]["win4"] = {**settings, "password": vaulted("WinRM password")}
    path.write_text(yaml.dump(inventory, Dumper=VaultDumper, sort_keys=False, allow_unicode=True))
    (work / "secrets.yml").write_text(
        yaml.dump({"operator_token": vaulted("operator token")}, Dumper=VaultDumper, allow_unicode=True)
    )
    (work / "site.yml").write_text(yaml.safe_dump(EXTRA_PLAY, sort_keys=False, allow_unicode=True))
    (work / "vault-pass").write_text(VAULT_PASSWORD + "\n")
    (work / "library").mkdir()
    (work / "library" / "config_preview.py").write_text(CONFIG_PREVIEW)


def cutover(work: Path, *args: str) -> tuple[int, bytes, bytes]:
    """`cutover ARGS` as a real process; (exit code, stdout bytes, stderr bytes)."""
    proc = spawn_cli(list(args), work)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out.encode(), err.encode()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[WinRMEndpoint]:
    server = WinRMEndpoint(
        "win4",
        auth="ntlm",
        password=SECRETS["WinRM password"],
        state_dir=tmp_path / "win4-host",
        initial={"preset": "sagecrm", "roles": ["web"]},
        ntlm_user_file=tmp_path / "ntlm",
    ).start()
    yield server
    server.stop()


def everything_written(roots: list[Path]) -> Iterator[tuple[str, bytes]]:
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                yield str(path), path.read_bytes()


def test_no_secret_in_any_byte_a_whole_upgrade_writes(tmp_path: Path, endpoint: WinRMEndpoint) -> None:
    encrypter = VaultEncrypter(VAULT_PASSWORD)
    outputs: dict[str, bytes] = {}
    roots = [tmp_path / "win4-host"]
    for output in ("console", "jsonl"):
        work = tmp_path / output
        demo_with_secrets(work, endpoint, encrypter)
        run = ["run", "site.yml", "-i", "examples/demo/inventory.yml", "--vault-id", "default@vault-pass",
               "-e", "@secrets.yml", "-e", "note=plain-extra-value", "-e", '{"ticket": "CHG-4711"}',
               "--approve-all", "--approve", "upgrade-log-fixed-crm2=vCompanyPE merged",
               "-v", "--diff", "--output", output]  # fmt: skip
        rc, out, err = cutover(work, *run)
        assert rc == 0, (out + err).decode(errors="replace")[-4000:]
        outputs[f"{output} run stdout"], outputs[f"{output} run stderr"] = out, err
        for extra in (
            ["show", "last"],
            ["show", "last", "--json"],
            ["runs"],
            ["report", "last", "--format", "json"],
        ):
            again = run_cli(extra, work)  # in-process: the journal rendered again, output captured
            assert again.rc == 0, again.err
            outputs[f"{output}: {' '.join(extra)}"] = (again.out + again.err).encode()
        roots.append(work / ".cutover")

    # the secrets were really used: the steps that carry them ran, and their masks are visible
    console = outputs["console run stdout"].decode()
    assert "say them" in console and "note=plain-extra-value" in console
    assert "+pwd=********" in console and "Pwd=********" in console  # --diff and -v, masked
    events = [json.loads(line) for line in outputs["jsonl run stdout"].splitlines() if line.startswith(b"{")]
    ended = {e["task"]: e for e in events if e["event"] == "node_ended" and e.get("host") == "win4"}
    assert ended["web server started"]["status"] in ("ok", "changed")  # the WinRM login worked
    assert ended["a failure quoting them"]["status"] == "failed"
    assert "********" in ended["a failure quoting them"]["error"]

    files = dict(everything_written(roots))
    assert any(name.endswith("runs.db") for name in files) and any(
        name.endswith("report.html") for name in files
    )
    leaks = []
    for where, data in [*files.items(), *outputs.items()]:
        for secret_name, secret in SECRETS.items():
            for form, pattern in encodings(secret).items():
                if pattern and pattern in data:
                    leaks.append(f"{secret_name} ({form}) in {where}")
    assert leaks == []
