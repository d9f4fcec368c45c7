"""Stage 1, load: YAML with file:line:col marks, JSON Schemas, playbooks, inventories (native and Ansible), templating, vault."""
