"""1CRM: the product's modules (onecrm_*), its estate model, rules and plan policies (product/); playbooks in playbooks/onecrm."""
