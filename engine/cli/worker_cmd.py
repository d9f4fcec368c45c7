"""`cutover worker`: a Celery worker that runs campaign estates (start one or more per machine).

Settings: the flags, else the `backend:` section of `--config CAMPAIGN.yml`, else the
environment (CUTOVER_BROKER_URL, CUTOVER_JOURNAL_URL). Passwords belong in the environment or
~/.pgpass, not on the command line (which every user of the machine can read).
"""

from __future__ import annotations

import argparse
import os


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="CAMPAIGN", help="take broker, journal and queue from this campaign file")
    parser.add_argument("--broker", metavar="URL", help="redis://host:6379/0 or amqp://host// (RabbitMQ)")
    parser.add_argument("--journal", metavar="URL", help="the fleet's PostgreSQL journal, postgresql://user@host/db")
    parser.add_argument("--queue", help="Celery queue (default cutover)")
    parser.add_argument("-c", "--concurrency", type=int, default=2, help="estates at once on this worker (default 2)")
    parser.add_argument("--state-dir", default=os.environ.get("CUTOVER_STATE_DIR", ".cutover"),
                        help="local files of the runs (reports, connection state); the journal is the fleet's")
    parser.add_argument("-n", "--name", help="worker name (default cutover-PID@HOST)")
    parser.add_argument("--tick-seconds", type=float, help="how often to look for estates to start (default 15)")
    parser.add_argument("--visibility-timeout", type=int, help="Redis visibility timeout in seconds (default 172800)")
    parser.add_argument("--loglevel", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def execute(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from engine.campaign.model import BackendSettings
    from engine.campaign.worker import run_worker
    from engine.core.errors import UserError

    if args.concurrency < 1:
        raise UserError("--concurrency must be at least 1")
    if args.config:
        from engine.campaign.loader import load_campaign

        settings = load_campaign(args.config).backend
    else:
        settings = BackendSettings(broker=os.environ.get("CUTOVER_BROKER_URL") or None,
                                   journal=os.environ.get("CUTOVER_JOURNAL_URL") or None)
    overrides = {"broker": args.broker, "journal": args.journal, "queue": args.queue,
                 "tick_seconds": args.tick_seconds, "visibility_timeout": args.visibility_timeout}
    settings = replace(settings, kind="celery", **{k: v for k, v in overrides.items() if v is not None})
    return run_worker(settings, args.state_dir, args.concurrency, args.name, args.loglevel)
