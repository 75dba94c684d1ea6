"""Bounds on what one request may ask for (SPEC §6: depth, alias and size limits; issue 11),
and what the caller's role may see (api.visibility), checked before execution.

A document is measured before graphql-core validates it, in time linear in its
text: each fragment is measured once and a spread reuses that measure (times the
number of spreads), so 39 levels of fragments that each spread the previous twice
cost 39 steps, not 2**39. Measured: the depth (introspection fields exempt), the
fields selected after expanding every fragment, and the aliases after expanding.
A document over any bound is refused with BAD_USER_INPUT naming the bound, and is
never validated. Validation of the rest runs under its own time budget, read at
every node and, inside graphql-core's overlapping-fields rule (whose pairwise comparisons
happen within one node), every 256 units of the work it counts; graphql-core's own
"Validation aborted." is answered as TOO_COMPLEX, which names the limit. Its
result and the role's document check are cached per document text and role (as
strawberry's ValidationCache did, without hashing the whole AST on every request)
unless the budget ran out.

Extensions are given as factories: strawberry builds one per operation, so no
state is shared between concurrent requests. Tokens are capped while parsing
(`parse_document`, which api.view also uses to tell a mutation before the token check),
the body size by Starlette (413) and a connection's `first` by
api.pagination.MAX_PAGE.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OverlappingFieldsCanBeMergedRule,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    parse,
)
from graphql.validation.rules.overlapping_fields_can_be_merged import RuleContext
from graphql.validation.validate import ValidationAbortedError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from api.pagination import MAX_PAGE
from api.visibility import refusals
from models.enums import Role

# Enough for agreements/edges/node/timeEntries/invoice/lines and a bit; introspection is exempt.
MAX_DEPTH = 10
MAX_ALIASES = 20
# GraphiQL's introspection query is about 400 tokens.
MAX_TOKENS = 4000
# Fields selected once every fragment is expanded: graphql-core's introspection query
# (GraphiQL's) selects 220, the customer portal's largest document 35.
MAX_FIELDS = 2000
# graphql-core's own rules on a document within the bounds above; past this, refused. CPU time
# of the validating thread (a busy machine mostly does not count; see UNTIMED_FIELDS).
VALIDATION_BUDGET_SECONDS = 0.5
# A document of at most this many fields (fragments expanded) is validated without the
# budget: its rules' work is bounded by the square of its fields (measured: 600 same-named
# `company { id }`, 1,203 fields, took 2.1 s of CPU to validate, 148 of them, 299 fields, 0.08 s),
# and an ordinary document must never be refused because the thread lost time to something
# else (seen on a loaded machine: `{ agreementTypes { id } }` refused for "500 ms"). The
# documents real clients send are below it: graphql-core's introspection query (GraphiQL's)
# selects 220 fields, the customer portal's largest document 35.
UNTIMED_FIELDS = 300

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_FIELDS",
    "MAX_PAGE",
    "MAX_TOKENS",
    "VALIDATION_BUDGET_SECONDS",
    "Measure",
    "limit_extensions",
    "measure",
]


@dataclass(frozen=True)
class Measure:
    depth: int
    fields: int
    aliases: int


_NOTHING = Measure(0, 0, 0)


class _Measurer:
    """Measures selection sets; each fragment once (memoised), a cycle counts as nothing."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, Measure] = {}
        self.in_progress: set[str] = set()

    def fragment(self, name: str) -> Measure:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:
            return _NOTHING  # unknown fragments and cycles are graphql-core's to report
        self.in_progress.add(name)
        result = self.selection_set(definition.selection_set)
        self.in_progress.discard(name)
        self.done[name] = result
        return result

    def selection_set(self, selection_set: SelectionSetNode | None) -> Measure:
        depth = fields = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                inner = self.selection_set(selection.selection_set)
                fields += 1 + inner.fields
                aliases += (1 if selection.alias else 0) + inner.aliases
                if selection.selection_set and not selection.name.value.startswith("__"):
                    depth = max(depth, 1 + inner.depth)
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                fields, aliases, depth = (
                    fields + inner.fields,
                    aliases + inner.aliases,
                    max(depth, inner.depth),
                )
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                fields, aliases, depth = (
                    fields + inner.fields,
                    aliases + inner.aliases,
                    max(depth, inner.depth),
                )
        return Measure(depth, fields, aliases)


def measure(document: DocumentNode) -> dict[str, Measure]:
    """Each operation's measure (the anonymous one under ""), in time linear in the document."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    measurer = _Measurer(fragments)
    return {
        (d.name.value if d.name else ""): measurer.selection_set(d.selection_set)
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    }


def over_limits(document: DocumentNode) -> tuple[list[GraphQLError], int]:
    """BAD_USER_INPUT errors naming each bound the document exceeds, and the most fields any
    of its operations selects once expanded."""
    try:
        measures = measure(document)
    except RecursionError:
        return [GraphQLError("the document nests too deeply to be measured")], 0
    errors: list[GraphQLError] = []
    total_aliases = 0
    for name, found in measures.items():
        label = f"'{name}'" if name else "the operation"
        if found.depth > MAX_DEPTH:
            errors.append(
                GraphQLError(f"{label} exceeds maximum operation depth of {MAX_DEPTH} (it has {found.depth})")
            )
        if found.fields > MAX_FIELDS:
            errors.append(
                GraphQLError(
                    f"{label} selects {found.fields} fields once its fragments are expanded: "
                    f"the limit is {MAX_FIELDS}"
                )
            )
        total_aliases += found.aliases
    if total_aliases > MAX_ALIASES:
        errors.append(GraphQLError(f"{total_aliases} aliases found. Allowed: {MAX_ALIASES}"))
    return errors, max((found.fields for found in measures.values()), default=0)


class _OutOfTime(Exception):
    def __init__(self, errors: list[GraphQLError]) -> None:
        super().__init__("validation ran out of time")
        self.errors = errors


def _budget_spent() -> GraphQLError:
    return ValidationAbortedError(
        f"the document took longer than the validation budget of "
        f"{int(VALIDATION_BUDGET_SECONDS * 1000)} ms to validate"
    )


def _deadline_rule(deadline: float) -> type[ASTValidationRule]:
    class ValidationDeadline(ValidationRule):
        """Checked at every node: graphql-core's rules stop once the budget is spent."""

        def enter(self, *_args: object) -> None:
            if time.thread_time() > deadline:
                raise _budget_spent()

    return ValidationDeadline


# How many units of graphql-core's overlap work pass between two looks at the clock.
_CLOCK_EVERY = 256


class _OverlapWorkOnTheClock(RuleContext):
    """graphql-core's overlapping-fields rule does its pairwise comparisons inside one visit
    of a selection set, where ValidationDeadline never looks; it counts that work in
    `remaining_complexity_budget`, so the clock is read there too."""

    __slots__ = ("_deadline", "_remaining", "_spends")

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._spends = 0
        super().__init__()

    @property
    def remaining_complexity_budget(self) -> int:
        return self._remaining

    @remaining_complexity_budget.setter
    def remaining_complexity_budget(self, value: int) -> None:
        self._remaining = value
        self._spends += 1
        if self._spends % _CLOCK_EVERY == 0 and time.thread_time() > self._deadline:
            raise _budget_spent()


def _overlap_rule(deadline: float) -> type[ASTValidationRule]:
    class OverlapsOnTheClock(OverlappingFieldsCanBeMergedRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.rule_context = _OverlapWorkOnTheClock(deadline)

    return OverlapsOnTheClock


# graphql-core's own bounds on validation work (overlap comparisons, fragment work,
# recursion) end with this message, which names none of them.
_GRAPHQL_CORE_ABORT = "Validation aborted."
TOO_COMPLEX = (
    "the document is too complex to validate: it asks for more comparisons of its "
    "fields or fragments than the server makes"
)


def _validate(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...], *, fields: int
) -> list[GraphQLError]:
    """graphql-core's rules, within the budget unless the document is small (UNTIMED_FIELDS);
    raises _OutOfTime when the budget ran out (never cached)."""
    if fields <= UNTIMED_FIELDS:
        errors = validate_document(schema, document, rules)
    else:
        deadline = time.thread_time() + VALIDATION_BUDGET_SECONDS
        timed = tuple(
            _overlap_rule(deadline) if rule is OverlappingFieldsCanBeMergedRule else rule for rule in rules
        )
        errors = validate_document(schema, document, (*timed, _deadline_rule(deadline)))
        if any("validation budget" in error.message for error in errors):
            raise _OutOfTime(errors)
    return [GraphQLError(TOO_COMPLEX) if e.message == _GRAPHQL_CORE_ABORT else e for e in errors]


# Documents longer than this are checked afresh each time rather than kept in the cache.
CACHED_QUERY_CHARS = 10_000


class _Document:
    """A parsed document keyed by its text: hashing the text is cheap and cached by Python,
    where graphql-core's frozen AST nodes hash their whole tree on every lookup."""

    __slots__ = ("node", "text")

    def __init__(self, text: str, node: DocumentNode) -> None:
        self.text = text
        self.node = node

    def __hash__(self) -> int:
        return hash(self.text)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Document) and other.text == self.text


def _check(
    schema: GraphQLSchema, document: _Document, rules: tuple[type[ASTValidationRule], ...], role: Role | None
) -> list[GraphQLError]:
    """The limits (linear, before any rule explores the document), graphql-core's rules, then
    what the role may see (api.visibility). Raises _OutOfTime when validation ran out of time."""
    errors, fields = over_limits(document.node)
    if not errors:
        errors = _validate(schema, document.node, rules, fields=fields)
    if not errors and role is not None:
        errors = refusals(schema, document.node, role)
    return errors


# Per document text and role: a repeated document costs one lookup (bench B1's balance check).
_cached_check = functools.lru_cache(maxsize=512)(_check)


def validation_cache() -> functools._lru_cache_wrapper[list[GraphQLError]]:
    return _cached_check


def _parse(query: str) -> DocumentNode:
    return parse(query, max_tokens=MAX_TOKENS)


_cached_parse = functools.lru_cache(maxsize=512)(_parse)


def parse_document(query: str) -> DocumentNode:
    """The document of `query`, parsed under the token cap (a GraphQLSyntaxError past it);
    the last 512 texts of up to CACHED_QUERY_CHARS are kept parsed."""
    return _cached_parse(query) if len(query) <= CACHED_QUERY_CHARS else _parse(query)


class BoundedValidation(SchemaExtension):
    """Parsing under the token cap, from a cache; then the limits (linear, before any rule
    explores the document), validation and the document check, cached per document text
    and role unless validation ran out of time. One extension for all of it: strawberry
    runs every extension's hooks on every request."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is None and context.query:
            context.graphql_document = parse_document(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            text = context.query or ""
            principal = getattr(context.context, "principal", None)
            check = _cached_check if len(text) <= CACHED_QUERY_CHARS else _check
            try:
                context.pre_execution_errors = check(
                    context.schema._schema,
                    _Document(text, document),
                    tuple(context.validation_rules),
                    principal.role if principal is not None else None,
                )
            except _OutOfTime as out_of_time:
                context.pre_execution_errors = out_of_time.errors
        yield


def limit_extensions() -> list[Callable[[], SchemaExtension]]:
    return [BoundedValidation]
