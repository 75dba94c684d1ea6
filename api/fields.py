"""Resolvers with a description, typed as the decorators they are.

`@strawberry.field(description=...)` and `@strawberry.mutation(description=...)` are
typed `-> Any` by strawberry (the keyword-only overload doubles as a dataclass
field's default), which would make every resolver under them untyped to mypy. These
return the StrawberryField that strawberry returns; applied to a resolver it is
that field. Bare `@strawberry.field` and `@strawberry.mutation` are typed already.
"""

from __future__ import annotations

import strawberry
from strawberry.types.field import StrawberryField


def resolver(*, description: str) -> StrawberryField:
    """`@strawberry.field(description=...)` over a resolver."""
    field: StrawberryField = strawberry.field(description=description)
    return field


def mutation(*, description: str) -> StrawberryField:
    """`@strawberry.mutation(description=...)` over a resolver."""
    field: StrawberryField = strawberry.mutation(description=description)
    return field
