"""Database modules over engine/db: verified backups, guarded restores, queries, sessions, maintenance."""

from engine.api.plugins import Plugin

PLUGIN = Plugin("db", modules=(__name__,))
