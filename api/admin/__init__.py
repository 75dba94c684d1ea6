"""GraphQL: changing what was created, tokens, webhooks and retries (part "admin", SPEC §10)."""
