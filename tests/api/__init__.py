"""The GraphQL API through HTTP (httpx ASGI transport)."""
