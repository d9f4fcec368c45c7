"""Modules that steer a run: assert, fail, gate, set_fact, debug, wait_for, command, shell."""
