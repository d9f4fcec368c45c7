"""Product knowledge: what the engine must know about Sage CRM and 1CRM estates.

Each product contributes estate rules (checked when an inventory with its section loads, see
`engine.estate_rules`), plan policies (ordering the planner enforces, see
`engine.planner.policies`) and, for the simulation, program plug-ins for simulated hosts. They
are imported lazily, only when an inventory has the product's section, so an estate of one
product never pays for the other.
"""
