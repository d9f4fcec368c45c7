"""Modules for files on a host: copy, file, stat, template, archive, unarchive."""

from engine.api.plugins import Plugin

PLUGIN = Plugin("files", modules=(__name__,))
