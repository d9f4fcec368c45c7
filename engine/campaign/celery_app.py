"""The Celery application of a fleet: one task, `cutover.estate`, and the settings long runs need.

An estate's run can take hours and its task stays unacknowledged all that time (acks_late), so:

- `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged when the estate's
  run has ended, and handed back if the pool process running it is killed, so no estate is lost
  with a worker (Celery, "Should I use retry or acks_late?" and the task_reject_on_worker_lost
  setting);
- `worker_prefetch_multiplier = 1`: a worker reserves no estate beyond those it runs, which
  would otherwise wait behind a long run while another worker is idle ("Prefetch limits");
- Redis `visibility_timeout` (broker_transport_options) longer than any estate (default 48 h):
  Redis delivers again a message not acknowledged within it ("Redis caveats: visibility
  timeout"); a too-short value only causes harmless duplicates here, but noisy ones;
- RabbitMQ instead closes the channel of a delivery not acknowledged within `consumer_timeout`
  (30 min by default, PRECONDITION_FAILED "delivery acknowledgement on channel ... timed out"):
  raise it on the broker (rabbitmq.conf `consumer_timeout`) above the longest estate, see
  docs/fleet.md;
- `worker_cancel_long_running_tasks_on_connection_loss = False`: a broker restart must not
  stop estates that are running; their leases keep them single.

Nothing here decides what runs: that is the estate's lease and the journal (engine.campaign.worker).
"""

from __future__ import annotations

from typing import Any

from engine.campaign.model import BackendSettings

TASK = "cutover.estate"


def celery_settings(settings: BackendSettings) -> dict[str, Any]:
    """The Celery configuration of a fleet (also what the docs show)."""
    config: dict[str, Any] = {
        "broker_url": settings.broker,
        "task_default_queue": settings.queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "task_serializer": "json",
        "accept_content": ["json"],
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        "enable_utc": True,
    }
    if settings.broker and settings.broker.startswith(("redis://", "rediss://")):
        config["broker_transport_options"] = {
            "visibility_timeout": settings.visibility_timeout,
            # the transport's own socket timeouts, so a broker restart is noticed and survived
            "socket_timeout": 30,
            "socket_connect_timeout": 10,
            "retry_on_timeout": True,
        }
    return config


def make_app(settings: BackendSettings) -> Any:
    from celery import Celery

    from engine.core.errors import UserError

    if not settings.broker:
        raise UserError("the celery backend needs a broker URL",
                        hint="backend: {broker: redis://host:6379/0} in the campaign file, [campaign] broker in cutover.toml, "
                        "or CUTOVER_BROKER_URL")
    app = Celery("cutover", set_as_current=False)
    app.conf.update(celery_settings(settings))
    return app


def send(app: Any, queue: str, campaign: str, estate: str) -> bool:
    """Send one estate's task; False when the broker cannot be reached (the tick sends it again)."""
    from kombu import Queue

    try:
        app.send_task(TASK, args=[campaign, estate], queue=Queue(queue), retry=True,
                      retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1, "interval_max": 2})
    except Exception:  # noqa: BLE001 - kombu raises the transport's own errors; the estate stays queued
        return False
    return True
