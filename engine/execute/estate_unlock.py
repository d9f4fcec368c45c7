"""`cutover unlock --estate -i INV`: remove the estate's lock markers a run left on its hosts.

A run that was killed (SIGKILL, a controller lost) cannot release its markers
(engine/execute/estate_markers.py); its own `resume` takes them again, anyone else is refused with
the holder named and, once the freshest heartbeat is older than the estate's `stale_after`, told
it looks stale. Removing them is an operator's decision, so it is explicit and recorded: the
markers of every host are read first; when a holder's freshest heartbeat (over all its hosts: a
host busy with a long step may miss beats) is still fresh the unlock is refused unless `--force`;
then each marker is removed naming its holder, and the journal gets a run of kind `unlock` (who,
when, whose markers, on which hosts, forced or not) that `cutover runs` and `cutover show` list.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.api.module import utcnow
from engine.api.primitives import Remote
from engine.core.errors import CutoverError, RefusedError
from engine.core.model import Inventory
from engine.execute.estate_markers import Found, age_of, each_host, holder_text, inspect_all, settings_of
from engine.execute.hosts import HostConnections
from engine.journal.store import Journal

#: what the journal calls an unlock (a row of `runs`, so `cutover runs` and `show` list it)
UNLOCK_KIND = "unlock"


@dataclass
class Unlocked:
    """What an unlock did: the journal's record id, the markers removed, the hosts it could not ask."""

    record: str | None = None
    removed: list[Found] = field(default_factory=list)
    unreachable: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def unlock_estate(
    inventory: Inventory,
    connections: HostConnections,
    state_dir: str | Path,
    operator: str,
    *,
    force: bool = False,
) -> Unlocked:
    """Remove every marker of the estate (RefusedError while a holder is fresh, unless `force`)."""
    from engine.execute.session import new_run_id

    settings = settings_of(inventory)
    found = inspect_all(inventory, connections, settings)
    done = Unlocked(unreachable=[f for f in found if f.error])
    markers = [f for f in found if f.holder is not None]
    if not markers:
        return done
    freshest: dict[str, float | None] = {}
    for marker in markers:
        run = str(marker.holder.get("run_id"))
        age = age_of(marker.holder)
        if run not in freshest or (age is not None and (freshest[run] is None or age < freshest[run])):
            freshest[run] = age
    fresh = [run for run, age in freshest.items() if age is not None and age <= settings.stale_after]
    if fresh and not force:
        shown = "; ".join(
            f"{m.host}: {holder_text(m.holder)}" for m in markers if str(m.holder.get("run_id")) in fresh
        )
        raise RefusedError(
            f"estate {inventory.name!r}: the lock is held by a live run ({shown}): its heartbeat is under the "
            f"{settings.stale_after:.0f} s limit. Stop that run, or wait; --force removes the markers anyway"
        )

    def remove(marker: Found) -> Found | None:
        try:
            Remote(connections.get(marker.host)).call(
                "lock.release", path=marker.path, run_id=str(marker.holder.get("run_id")), force=True
            )
        except CutoverError as err:
            marker.error = str(err)
            return None
        return marker

    done.removed = [m for m in each_host(markers, remove) if m is not None]
    failed = [m for m in markers if m.error]
    done.notes = [
        f"removed the estate lock marker of {holder_text(m.holder)} on {m.host} ({m.path})"
        for m in done.removed
    ] + [f"could not remove the marker on {m.host} ({m.path}): {m.error}" for m in failed]
    if fresh:
        done.notes.append("forced (--force): the holder's heartbeat was fresh")
    done.notes += [f"not asked: {m.host} could not be reached ({m.error})" for m in done.unreachable]
    done.record = _record(
        inventory,
        state_dir,
        operator,
        done.notes,
        new_run_id(),
        "failed" if failed else "succeeded",
        {"force": force},
    )
    if failed:
        raise RefusedError(f"estate {inventory.name!r}: " + "; ".join(done.notes[len(done.removed) :]))
    return done


def _record(
    inventory: Inventory,
    state_dir: str | Path,
    operator: str,
    notes: list[str],
    run_id: str,
    status: str,
    args: dict[str, Any],
) -> str:
    """The unlock as a run of kind `unlock` in the state directory's journal."""
    journal = Journal(Path(state_dir) / "runs.db")
    try:
        journal.start_run(
            run_id,
            playbook="",
            inventory=inventory.path,
            estate=inventory.name,
            operator=operator,
            controller=socket.gethostname(),
            pid=os.getpid(),
            args=args,
            check_mode=0,
            kind=UNLOCK_KIND,
            notes=notes,
            inventory_hash=inventory.content_hash,
        )
        journal.update_run(run_id, status=status, ended=utcnow())
    finally:
        journal.close()
    return run_id
