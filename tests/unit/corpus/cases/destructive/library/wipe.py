"""Test module: destroys a folder (the corpus checks the planner refuses it without a backup)."""

from engine.api.module import Module


class Wipe(Module):
    schema = {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
        "additionalProperties": False,
    }
    destructive = True

    def destroys(self, args, host):
        return [f"files:{host.name}:{args['path']}"]
