"""Database modules over engine/db: verified backups, guarded restores, queries, sessions, maintenance."""
