"""Simulated Windows hosts (file system, registry, services, programs, IIS, faults, presets) and simulated CRM
databases. Not part of the engine: the `sim` connection finds this package by import, and a run without
simulated hosts never imports it. Everything here is labelled a simulation wherever it appears."""
