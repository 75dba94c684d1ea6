"""GraphQL: access."""
