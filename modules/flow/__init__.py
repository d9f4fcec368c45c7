"""Modules that steer a run: assert, fail, gate, set_fact, debug, wait_for, command, shell."""

from engine.api.plugins import Plugin

PLUGIN = Plugin("flow", modules=(__name__,))
