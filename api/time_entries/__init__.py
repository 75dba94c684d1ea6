"""GraphQL: time_entries."""
