"""Bounds on what one request may ask for (SPEC §6: depth, alias and size limits).

Extensions are given as factories: strawberry builds one per operation, so no
state is shared between concurrent requests. The body size is capped by
Starlette (413), and a connection's `first` by accounting.queries.MAX_PAGE.
"""

from __future__ import annotations

from collections.abc import Callable

from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from accounting.queries import MAX_PAGE

# Enough for agreements/edges/node/timeEntries/invoice/lines and a bit; introspection is exempt.
MAX_DEPTH = 10
MAX_ALIASES = 20
# GraphiQL's introspection query is about 400 tokens.
MAX_TOKENS = 4000

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_PAGE", "MAX_TOKENS", "limit_extensions"]


# The depth and alias rules of QueryDepthLimiter and MaxAliasesLimiter, built once. Those
# extensions build new rule classes per operation, and strawberry's ValidationCache is keyed
# by the rules, so every request missed it and validated the document again (a third of a
# balance check's time in bench B1's profile).
VALIDATION_RULES = [depth_rule(MAX_DEPTH, None, None), aliases_rule(MAX_ALIASES)]


def limit_extensions() -> list[Callable[[], SchemaExtension]]:
    return [
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(VALIDATION_RULES),
    ]
