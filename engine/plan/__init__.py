"""Stage 2, plan: the graph of steps built by small transformer steps, its policies, and how it is shown."""
