"""cutover: a declarative playbook engine that upgrades and rolls back CRM estates.

The package is imported by the CLI on every start, so it must stay free of heavy imports:
everything below is loaded lazily by the command that needs it.
"""

__version__ = "0.1.0"
