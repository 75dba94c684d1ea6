"""GraphQL: billing."""
