"""The steps that order what file order does not: play boundaries and `needs:`.

Barriers are single nodes (N in-edges, M out-edges) standing for "everything before has ended",
which keeps a 100,000-node plan small.
"""

from __future__ import annotations

from engine.core.errors import Location, Problem, closest
from engine.core.model import Playbook, Task
from engine.plan.graph import Node
from engine.plan.state import BuildState, value_location


def play_barriers(state: BuildState) -> None:
    """Each play starts only when the previous one has ended on all its hosts."""
    previous: list[str] = []
    for play in state.playbook.plays:
        heads = state.heads.get(play.index)
        if heads is None:
            continue
        if previous:
            barrier = state.add(
                Node(f"p{play.index}/start", "barrier", play.index, label=f"start of play {play.index + 1}")
            )
            for t in previous:
                state.edge(t, barrier)
            for h in heads:
                state.edge(barrier, h)
        previous = state.tails[play.index] or previous


def needs_barriers(state: BuildState) -> None:
    """`needs: [id]`: wait until the named task (or every task of the named block) has ended on every
    host it targets. An id that is not in this plan (left out by --tags or --limit) is noted."""
    known_ids = _all_ids(state.playbook)
    for task_id, locations in known_ids.items():
        if len(locations) > 1:
            state.problems.append(
                Problem(
                    f"task id {task_id!r} is used twice (first at {locations[0]})",
                    locations[1],
                    hint="ids must be unique in a playbook",
                )
            )
    barriers: dict[str, str] = {}
    reported: set[tuple[str, str]] = set()
    for node_id, needed, where in state.needs:
        if needed not in known_ids:
            if (needed, str(where)) not in reported:
                reported.add((needed, str(where)))
                guess = closest(needed, list(known_ids))
                state.problems.append(
                    Problem(
                        f"needs: no task has id {needed!r}",
                        where,
                        hint=f"did you mean {guess!r}?" if guess else "give the task `id: ...`",
                    )
                )
            continue
        targets = state.by_task_id.get(needed)
        if not targets:
            note = f"needs: {needed!r} is not in this plan (left out by --tags/--limit or no host): nothing to wait for"
            if note not in state.notes:
                state.notes.append(note)
            continue
        barrier = barriers.get(needed)
        if barrier is None:
            barrier = state.add(
                Node(f"needs/{needed}", "barrier", state.nodes[targets[0]].play, label=f"after {needed}")
            )
            for t in targets:
                state.edge(t, barrier)
            barriers[needed] = barrier
        state.edge(barrier, node_id)


def _all_ids(playbook: Playbook) -> dict[str, list[Location | None]]:
    ids: dict[str, list[Location | None]] = {}

    def walk(tasks: tuple[Task, ...]) -> None:
        for t in tasks:
            if t.id:
                ids.setdefault(t.id, []).append(value_location(t, "id"))
            walk(t.block + t.rescue + t.always)

    for play in playbook.plays:
        walk(play.tasks)
        walk(play.handlers)
    return ids
