"""Wrong credentials, an expired password, a locked account: one clear line, exit 1, no retry storm.

Every refused NTLM or Basic logon counts towards the account's lockout threshold ("Account lockout
threshold", https://learn.microsoft.com/windows/security/threat-protection/security-policy-settings/
account-lockout-threshold), so a run whose credentials were refused never tries them again: the
first refusal is the answer for every later step of that host, even one with `retries`. Over NTLM
Windows answers 401 alike to a wrong or expired password and to a locked or disabled account
(the reason is only in the server's Security log, event 4625), and the line says so. Over Kerberos
the KDC names the reason (RFC 4120 error codes, in MIT krb5's words); those are mapped here from
the texts the GSSAPI libraries raise (no KDC runs here: this part is held only to those texts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.connect.winrm import WinRMConnection
from engine.connect.winrm_errors import AUTH_FAILED, translate
from engine.connect.winrm_settings import WinRMSettings
from engine.core.errors import ConnectionFailed
from engine.core.model import Host
from tests.support.runs import run_cli, write_yaml
from tests.support.winrm_endpoint import winrm_endpoint_fixture  # noqa: F401 - fixture

WRONG = "Not-the-Passw0rd"


@pytest.mark.parametrize("auth", ["basic", "ntlm"])
def test_refused_credentials_are_tried_once_per_run_whatever_the_retries(
    tmp_path: Path, winrm_endpoint, auth: str
) -> None:
    endpoint = winrm_endpoint("web1", auth=auth)
    single = WinRMConnection(endpoint.host(password=WRONG))
    with pytest.raises(ConnectionFailed):
        single.open()
    one_logon = endpoint.stats["auth_rejected"]
    settings = {**endpoint.settings(), "password": WRONG}
    write_yaml(tmp_path / "inv.yml", {"estate": "creds", "hosts": {"web1": settings}})
    tasks = [
        {"name": f"stat {i}", "win_stat": {"path": f"C:\\x{i}"}, "retries": 3, "delay": 0} for i in range(3)
    ]
    write_yaml(tmp_path / "pb.yml", [{"name": "p", "hosts": "all", "tasks": tasks}])

    run = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)

    assert run.rc == 1
    assert endpoint.stats["auth_rejected"] - one_logon == one_logon  # the run logged on once, like `single`
    # one failed step (the first); the later ones are blocked, never tried (the end-of-run summary
    # repeats the reason once more)
    summary = [line for line in run.out.splitlines() if line.strip().startswith("web1: FAILED at stat 0:")]
    assert len(summary) == 1 and "authentication failed for user cutover" in summary[0]
    assert run.out.count("authentication failed for user cutover") == 2, run.out  # the step, and the summary
    assert "no other attempt is made, so the account is not locked out by retries" in run.out
    assert WRONG not in run.out + run.err
    assert "Traceback" not in run.out + run.err
    assert endpoint.stats["create"] == 0


def test_a_refusal_says_what_windows_cannot_tell_apart_over_ntlm(winrm_endpoint) -> None:
    endpoint = winrm_endpoint("web1", auth="ntlm")
    conn = WinRMConnection(endpoint.host(password=WRONG))

    with pytest.raises(ConnectionFailed) as caught:
        conn.open()
    conn.close()

    assert caught.value.kind == AUTH_FAILED
    assert str(caught.value) == (
        f"web1: authentication failed for user cutover (transport ntlm) at {endpoint.url}: the password is "
        "wrong or has expired, or the account is locked out or disabled (Windows answers 401 to each; the "
        "server's Security log, event 4625, says which); no other attempt is made, so the account is not "
        "locked out by retries"
    )


def _kerberos() -> WinRMSettings:
    host = Host(
        "web1",
        "web1.crm.local",
        "winrm",
        settings={"user": "svc@CRM.LOCAL", "winrm": {"transport": "kerberos"}},
    )
    return WinRMSettings.from_host(host)


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        ("Password has expired (KDC_ERR_KEY_EXPIRED)", "the password has expired"),
        ("Clients credentials have been revoked", "the account is locked out or disabled"),
        ("Preauthentication failed", "the password is wrong"),
        ("Client not found in Kerberos database", "the user is unknown"),
        ("No Kerberos credentials available (default cache: FILE:/tmp/krb5cc_0)",
         "there is no Kerberos ticket (run kinit, or give a password)"),
    ],
)  # fmt: skip
def test_kerberos_failures_give_the_reason_the_kdc_named(raised: str, reason: str) -> None:
    class GSSError(Exception):
        """What a GSSAPI binding raises, with MIT krb5's message."""

    try:
        try:
            raise GSSError(f"Major (851968): Unspecified GSS failure, Minor (2529638936): {raised}")
        except GSSError as inner:
            raise RuntimeError("kerberos authentication failed") from inner
    except RuntimeError as outer:
        failed = translate(outer, _kerberos())

    assert str(failed) == (
        f"web1: Kerberos authentication failed for user svc@CRM.LOCAL at https://web1.crm.local:5986/wsman: {reason}"
    )
    assert failed.kind == AUTH_FAILED


# --- a protection turned off is said at every run -----------------------------------------------------


def test_a_protection_turned_off_is_warned_at_every_run_and_kept_in_the_report(
    tmp_path: Path, winrm_endpoint
) -> None:
    from tests.support.runs import journal_of

    endpoint = winrm_endpoint("web1", auth="basic")
    write_yaml(tmp_path / "inv.yml", {"estate": "insecure", "hosts": {"web1": endpoint.settings()}})
    write_yaml(
        tmp_path / "pb.yml",
        [{"name": "p", "hosts": "all", "tasks": [{"name": "s", "win_stat": {"path": "C:\\x"}}]}],
    )

    first = run_cli(["run", "pb.yml", "-i", "inv.yml"], tmp_path)
    second = run_cli(["run", "pb.yml", "-i", "inv.yml", "--no-report"], tmp_path)

    warning = (
        "INSECURE: host web1: Basic authentication over http sends the password and every message in clear"
    )
    assert first.rc == second.rc == 0
    assert warning in first.out and warning in second.out
    runs = journal_of(tmp_path).runs()
    assert all(warning in run["notes"] for run in runs)
    reports = list((tmp_path / ".cutover" / "reports").glob("*/report.json"))
    assert reports and warning in reports[0].read_text(encoding="utf-8")


def test_certificate_checks_off_are_named_for_https_hosts() -> None:
    from engine.connect.winrm_settings import insecure_notes

    https = Host("web1", "web1", "winrm", settings={"winrm": {"validate_certs": False}})
    sealed = Host("web2", "web2", "winrm", settings={"winrm": {"scheme": "http", "transport": "ntlm"}})

    assert insecure_notes([https, sealed]) == [
        "INSECURE: host web1: winrm.validate_certs is false, so the server's TLS certificate is not checked "
        "(anyone between here and it can read the session)"
    ]
