"""What cutover knows about a 1CRM estate: the inventory section's model, estate rules, plan policies."""
