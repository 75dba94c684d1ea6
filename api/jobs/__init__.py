"""GraphQL: jobs."""
