"""The Sage CRM simulation as a plug-in of simulated hosts: what it adds when a host opens.

The `sagecrm` preset lists this module in the host's `plugins`, so every process that opens such
a host (a run, a `resume` in a fresh process, the WinRM test endpoint) imports it and calls
`plug_in()`, each time the host opens. It plugs in, from the simulation's side:
- the simulated installer, `setup.exe` (`setup_program.setup_exe`, and the fresh install of a new
  server, `fresh_install.setup_or_install`, for a `Mode=Install` response file);
- the builder of the simulated CRM database (`crm_database.build_for_estate`), which the Sage CRM
  modules call the first time a simulated estate's database is needed
  (`sagecrm.simulation.create_database: true`).
"""

from __future__ import annotations

from modules.sagecrm._sagecrm import provide_simulated_database
from simulation.programs import register_program
from simulation.sagecrm.crm_database import build_for_estate
from simulation.sagecrm.fresh_install import setup_or_install


def plug_in() -> None:
    """Register the simulated setup.exe and the CRM database builder (again: idempotent)."""
    register_program("setup.exe", setup_or_install)
    provide_simulated_database(build_for_estate)
