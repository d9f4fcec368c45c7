"""`cutover campaign plan|validate|run|status|serve`: many estates, each in its maintenance window.

`plan` says which estate runs when; `validate` checks every inventory and playbook first;
`run` runs the campaign (local pool by default, Celery workers with `--backend celery`);
`status` and `serve` (a read-only web page) show where it stands from any machine that shares
its journal. See docs/fleet.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

STATE_DIR = os.environ.get("CUTOVER_STATE_DIR", ".cutover")


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser), required=True)
    plan = sub.add_parser("plan", help="which estate runs when (nothing is touched)")
    plan.add_argument("file", metavar="CAMPAIGN", help="campaign file")
    plan.add_argument("--format", choices=["text", "json"], default="text")
    check = sub.add_parser("validate", help="check the campaign, every inventory and every playbook")
    check.add_argument("file", metavar="CAMPAIGN", help="campaign file")
    run = sub.add_parser("run", help="run the campaign's estates in their windows")
    run.add_argument("file", metavar="CAMPAIGN", help="campaign file")
    run.add_argument("--backend", choices=["local", "celery"], help="default: the file's backend.kind, else local")
    run.add_argument("--state-dir", default=STATE_DIR, help="journal, locks and reports (default .cutover)")
    run.add_argument("--operator", help="who runs it (default: the file's operator, $CUTOVER_OPERATOR, login name)")
    run.add_argument("--retry-failed", action="store_true", help="take failed estates up again (their runs resume)")
    run.add_argument("--wait", action="store_true", help="celery: stay until the campaign ends, printing progress")
    for name, text in (("status", "where every estate stands"), ("serve", "a read-only status web page")):
        view = sub.add_parser(name, help=text)
        view.add_argument("campaign", metavar="CAMPAIGN", help="campaign name or file")
        view.add_argument("--state-dir", default=STATE_DIR)
        view.add_argument("--json", action="store_true", help=argparse.SUPPRESS if name == "serve" else "as JSON")
    serve = sub.choices["serve"]
    serve.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8421, help="port (default 8421; 0 picks a free one)")


def execute(args: argparse.Namespace) -> int:
    return {"plan": _plan, "validate": _validate, "run": _run, "status": _status, "serve": _serve}[args.action](args)


def _load(path: str) -> Any:
    from engine.campaign.loader import load_campaign
    from engine.core.errors import UserError

    if not Path(path).is_file():
        raise UserError(f"campaign file not found: {path}")
    return load_campaign(path)


def _plan(args: argparse.Namespace) -> int:
    from engine.campaign.timetable import render_json, render_text, timetable

    campaign = _load(args.file)
    render = render_json if args.format == "json" else render_text
    sys.stdout.write(render(campaign, timetable(campaign)))
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Each estate's playbook and inventory through `cutover validate`, as an operator would."""
    import contextlib
    import io
    import json

    from engine.cli import main

    campaign = _load(args.file)
    failed = 0
    for entry in campaign.estates:
        argv = ["validate", entry.playbook, "-i", entry.inventory]
        if entry.run.extra_vars:
            argv += ["-e", json.dumps(dict(entry.run.extra_vars), default=str)]
        for source in entry.run.vault_id:
            argv += ["--vault-id", source]
        out, err = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        os.chdir(campaign.workdir)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        finally:
            os.chdir(previous)
        text = (out.getvalue() + err.getvalue()).strip()
        if code:
            failed += 1
        print(f"{entry.estate}: {'ok' if code == 0 else 'NOT valid'}")
        for line in text.splitlines():
            print(f"  {line}")
    print(f"campaign {campaign.name}: {len(campaign.estates) - failed} of {len(campaign.estates)} estates valid")
    return 2 if failed else 0


def _run(args: argparse.Namespace) -> int:
    from engine.execute.session import operator_name
    from engine.journal.store import Journal

    campaign = _load(args.file)
    backend = args.backend or campaign.backend.kind
    operator = operator_name(args.operator or campaign.operator)
    if backend == "celery":
        from engine.campaign.fleet import submit

        return submit(campaign, operator, retry_failed=args.retry_failed, wait=args.wait)
    from engine.campaign.local_pool import LocalCampaign

    journal = Journal(Path(args.state_dir) / "runs.db")
    try:
        return LocalCampaign(campaign, journal, args.state_dir, operator, say=_say,
                             retry_failed=args.retry_failed).run()
    finally:
        journal.close()


def _say(text: str) -> None:
    import time

    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def _target(value: str) -> tuple[str, str | None]:
    """(campaign name, its PostgreSQL journal or None) from a name or a campaign file."""
    if value.endswith((".yml", ".yaml")) and Path(value).is_file():
        campaign = _load(value)
        return campaign.name, campaign.backend.journal if campaign.backend.kind == "celery" else None
    return value, None


def open_journal(state_dir: str, url: str | None) -> Any:
    from engine.journal import existing_journal
    from engine.journal.store import Journal

    return Journal(Path(state_dir) / "runs.db", url=url) if url else existing_journal(state_dir)


def _status(args: argparse.Namespace) -> int:
    import json

    from engine.campaign.status import campaign_status, render_text

    name, url = _target(args.campaign)
    journal = open_journal(args.state_dir, url)
    try:
        status = campaign_status(journal, name)
    finally:
        journal.close()
    sys.stdout.write(json.dumps(status, indent=2) + "\n" if args.json else render_text(status))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from engine.campaign.web import serve

    name, url = _target(args.campaign)
    return serve(name, lambda: open_journal(args.state_dir, url), args.bind, args.port)
