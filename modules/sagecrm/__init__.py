"""Sage CRM: the product's modules (crm_*), its estate model, rules and plan policies (product/); playbooks in playbooks/sagecrm.

This file is the product's declaration to the engine (engine/api/plugins.py) and holds nothing
else: the engine reads it to know the `sagecrm:` section and the modules, and imports the section's
schema, rules and policies only for an inventory that has the section.
"""

from engine.api.plugins import Plugin

PLUGIN = Plugin(
    "sagecrm",
    modules=(__name__,),
    section_description="Sage CRM estate section (see docs/sagecrm.md).",
    section_schema="modules.sagecrm.product.estate:SECTION_SCHEMA",
    estate_rules=("modules.sagecrm.product.rules:check_sagecrm",),
    policies=(
        "modules.sagecrm.product.policies:sagecrm_policy",
        "modules.sagecrm.product.offsite_policy:backups_off_servers",
    ),
    probes=("modules.sagecrm._probe:probe_host",),
    probe_checks=("modules.sagecrm._probe:check_inventory",),
    estate_locks=("modules.sagecrm.product.estate_lock:take_application_lock",),
    data_written=("modules.sagecrm.product.data_written:written_since_backup",),
)
