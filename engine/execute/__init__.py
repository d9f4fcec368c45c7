"""Execution: a scheduler walks the plan graph and a pool of workers runs nodes on hosts."""
