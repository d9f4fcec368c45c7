"""The durable record the execute stage writes: runs, node transitions, results, artifacts, findings, gates."""
