"""1CRM: the product's modules (onecrm_*), its estate model, rules and plan policies (product/); playbooks in playbooks/onecrm.

This file is the product's declaration to the engine (engine/api/plugins.py) and holds nothing
else: the engine reads it to know the `onecrm:` section and the modules, and imports the section's
schema, rules and policies only for an inventory that has the section.
"""

from engine.api.plugins import Plugin

PLUGIN = Plugin(
    "onecrm",
    modules=(__name__,),
    section_description="1CRM estate section (see docs/onecrm.md).",
    section_schema="modules.onecrm.product.estate:SECTION_SCHEMA",
    estate_rules=("modules.onecrm.product.rules:check_onecrm",),
    policies=("modules.onecrm.product.policies:onecrm_procedure",),
    probes=("modules.onecrm._probe:probe_host",),
    data_written=("modules.onecrm.product.data_written:written_since_backup",),
)
