"""HTTP checks: a URL answers as expected, a login form lets a user in."""

from engine.api.plugins import Plugin

PLUGIN = Plugin("web", modules=(__name__,))
