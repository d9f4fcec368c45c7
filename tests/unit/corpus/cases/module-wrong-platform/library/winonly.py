"""Test module that only runs on Windows hosts."""

from engine.api.module import Module, Result


class WinOnly(Module):
    platforms = frozenset({"windows"})

    def run(self, ctx, args):
        return Result()
