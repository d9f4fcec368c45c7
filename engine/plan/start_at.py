"""`--start-at-task NAME`: every task before the first one named NAME is left out of the plan.

The tasks before it get the tag BEFORE_START, which the command adds to the skipped tags; a glob
matches as in Ansible. Whether leaving them out is safe (a backup a later destructive step needs)
is the planner's destructive rule to say, as for any other selection of tasks.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import replace

from engine.core.errors import UserError
from engine.core.model import Playbook, Task

#: the tag given to tasks before `--start-at-task`'s, and skipped (never shown: those tasks are not in the plan)
BEFORE_START = "__before_start_at_task__"


def start_at_task(playbook: Playbook, name: str) -> Playbook:
    """The playbook with every task before the first one named `--start-at-task` tagged to be left out."""
    if not name:
        return playbook
    found = False

    def mark(tasks: tuple[Task, ...]) -> tuple[Task, ...]:
        nonlocal found
        out = []
        for task in tasks:
            if found:
                out.append(task)
            elif task.is_block:
                out.append(replace(task, block=mark(task.block), rescue=mark(task.rescue), always=mark(task.always)))
            elif fnmatch.fnmatchcase(task.label, name) or task.label == name:
                found = True
                out.append(task)
            else:
                out.append(replace(task, tags=(*task.tags, BEFORE_START)))
        return tuple(out)

    plays = tuple(replace(play, tasks=mark(play.tasks)) for play in playbook.plays)
    if not found:
        names = [t.label for p in playbook.plays for t in walk_tasks(p.tasks)]
        from engine.core.errors import closest

        guess = closest(name, names)
        raise UserError(f"--start-at-task: no task is named {name!r}",
                        hint=f"did you mean {guess!r}?" if guess else "`cutover run --list-tasks ...` lists them")
    return replace(playbook, plays=plays)


def walk_tasks(tasks: tuple[Task, ...]) -> Iterator[Task]:
    for task in tasks:
        if task.is_block:
            yield from walk_tasks(task.block + task.rescue + task.always)
        else:
            yield task


