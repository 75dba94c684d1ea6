"""The document check: every field a document selects, at any depth, against accounting.access's table.

Run after validation and before execution (api.limits.BoundedValidation), once per
document and role: a field, type or operation the caller's role may not read makes
the whole operation FORBIDDEN, naming the first such field, before any resolver
runs or anything is written. Fragments are visited once, as written, so the check
is linear in the document. Fields hidden as null (TimeEntry.internalNotes) pass
here; their resolvers ask `access.shows`.
"""

from __future__ import annotations

import functools

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    get_named_type,
    visit,
)

from accounting import access
from models.enums import Role

FORBIDDEN = "FORBIDDEN"


@functools.lru_cache(maxsize=512)
def refusals(schema: GraphQLSchema, document: DocumentNode, role: Role) -> list[GraphQLError]:
    type_info = TypeInfo(schema)
    errors: list[GraphQLError] = []

    class Check(Visitor):
        def enter_field(self, node: FieldNode, *_args: object) -> None:
            parent = type_info.get_parent_type()
            name = node.name.value
            if parent is None or name.startswith("__"):
                return
            field = type_info.get_field_def()
            returns = get_named_type(field.type).name if field is not None else None
            reason = access.refusal(role, parent.name, name, returns)
            if reason is not None and not errors:  # the first is enough, and names the field
                errors.append(GraphQLError(reason, [node], extensions={"code": FORBIDDEN}))

    visit(document, TypeInfoVisitor(type_info, Check()))
    return errors
