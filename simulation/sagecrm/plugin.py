"""The Sage CRM simulation as a plug-in of simulated hosts: what it adds when a host opens.

The `sagecrm` preset lists this module in the host's `plugins`, so every process that opens such
a host (a run, a `resume` in a fresh process, the WinRM test endpoint) imports it. It plugs in,
from the simulation's side:
- the simulated installer, `setup.exe` (`setup_program`);
- the builder of the simulated CRM database (`crm_database.build_for_estate`), which the Sage CRM
  modules call the first time a simulated estate's database is needed
  (`sagecrm.simulation.create_database: true`).
"""

from __future__ import annotations

from modules.sagecrm._sagecrm import provide_simulated_database
from simulation.sagecrm import setup_program  # noqa: F401 - registers setup.exe when imported
from simulation.sagecrm.crm_database import build_for_estate

provide_simulated_database(build_for_estate)
