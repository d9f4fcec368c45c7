"""Modules for files on a host: copy, file, stat, template, archive, unarchive."""
