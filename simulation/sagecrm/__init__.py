"""The Sage CRM side of the simulation: the simulated setup.exe and the simulated CRM database."""
