"""The Sage CRM side of the simulation: the `sagecrm` preset, its plug-in, the simulated setup.exe and CRM database."""
