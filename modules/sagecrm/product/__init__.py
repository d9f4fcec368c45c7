"""What cutover knows about a Sage CRM estate: the inventory section's model, estate rules, plan policies, SQL."""
