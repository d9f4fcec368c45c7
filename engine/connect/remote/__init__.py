"""Primitives: the small typed remote API that modules call on hosts.

`spec` names every primitive and its arguments; `posix_helper` implements them for POSIX
hosts (run with the target's python3), `powershell/` (one script joined from its parts) for Windows, and `sim` for simulated
hosts. Tests check that all implementations agree with `spec`.
"""
