"""Plan files, Terraform's habit: `cutover plan ... -o FILE` then `cutover run FILE`.

The plan an operator (and the client) reviewed before the window is the plan that runs: the
file holds the plan itself (steps, waves, edges, gates) and what it came from, the sha256 of
the playbook (with every file it imports), of the inventory, and of the variables (`-e`), with
the options it was made with (`--limit`, `--tags`, `--from-run`, ...). `cutover run FILE`
makes the plan again from the same files and options and refuses (exit 3) when an input or the
plan itself is not what the file says: a playbook edited since the sign-off does not run.

The file is canonical JSON (keys sorted) with its own `plan_sha256`, so a client can sign it
(or its sha256) before the window; `engine/schemas/planfile.schema.json` describes it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.core.errors import RefusedError, UserError

PLAN_FILE_FORMAT = "cutover-planfile/1"
#: the plan options a plan file records, as the command line spells them
OPTION_KEYS = ("limit", "tags", "skip_tags", "extra_vars", "from_run", "allow_unprotected", "start_at_task")


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode("utf-8")).hexdigest()


def plan_inputs(plan: Any) -> dict[str, str]:
    """The sha256 of what a plan came from: playbook (with its imports), inventory, variables."""
    return {
        "playbook_sha256": str(plan.playbook.content_hash),
        "inventory_sha256": str(plan.inventory.content_hash),
        "variables_sha256": sha256_of(plan.extra_vars),
    }


def plan_document(plan: Any, options: dict[str, Any], operator: str, created: str) -> dict[str, Any]:
    """The plan file's content."""
    from engine.pipeline.gates_listing import planned_gates
    from engine.plan.render import plan_to_dict

    body = plan_to_dict(plan)
    return {
        "format": PLAN_FILE_FORMAT,
        "created": created,
        "created_by": operator,
        "playbook": str(plan.playbook.path),
        "inventory": str(plan.inventory.path),
        "estate": plan.inventory.name,
        "inputs": plan_inputs(plan),
        "options": {key: options.get(key) for key in OPTION_KEYS},
        "gates": [{"id": g.id, "host": g.host, "asks": g.prompt, "window": g.window} for g in planned_gates(plan)],
        "plan": body,
        "plan_sha256": sha256_of(body),
    }


def write_plan_file(path: str | Path, document: dict[str, Any]) -> None:
    from engine.report import write_atomically

    try:
        write_atomically(Path(path), json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror or err}") from None


def is_plan_file(path: str | Path) -> bool:
    """Whether `path` is a plan file (its first bytes say so), not a playbook."""
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return head.lstrip().startswith("{") and PLAN_FILE_FORMAT in head


def read_plan_file(path: str | Path) -> dict[str, Any]:
    """A plan file checked against its schema: UserError (exit 2) with file:line:col otherwise."""
    from engine.core.errors import Location
    from engine.load.schema import load_schema, validate
    from engine.load.yaml_marks import load_file

    document = load_file(str(path)).value  # JSON is YAML: each value keeps its file:line:col
    problems = validate(document, load_schema("planfile"), Location(str(path)), root="plan file")
    if problems:
        raise UserError.many(problems)
    return json.loads(json.dumps(document, default=str))


def check_unchanged(document: dict[str, Any], plan: Any, path: str) -> None:
    """Refuse (exit 3) a run whose inputs or plan differ from what the plan file recorded."""
    now = plan_inputs(plan)
    changed = [
        what for what, key in (("the playbook (or a file it imports)", "playbook_sha256"),
                               ("the inventory", "inventory_sha256"), ("the variables (-e)", "variables_sha256"))
        if document["inputs"][key] != now[key]
    ]
    from engine.plan.render import plan_to_dict

    if not changed and sha256_of(plan_to_dict(plan)) != document["plan_sha256"]:
        changed.append("the plan made from them (a module or plug-in changed)")
    if changed:
        raise RefusedError(
            f"{path}: {' and '.join(changed)} changed since the plan was written "
            f"({document['created']} by {document['created_by']}); nothing was run. "
            "Make and review a new plan: cutover plan ... -o FILE"
        )
