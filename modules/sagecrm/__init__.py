"""Sage CRM: the product's modules (crm_*), its estate model, rules and plan policies (product/); playbooks in playbooks/sagecrm."""
