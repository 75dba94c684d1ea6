"""Domain errors, each carrying the contract's error code; api/ maps them once."""

from __future__ import annotations


class DomainError(Exception):
    code = "BAD_USER_INPUT"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    code = "BAD_USER_INPUT"


class NotFound(DomainError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind


class InsufficientBalance(DomainError):
    code = "INSUFFICIENT_BALANCE"


class Conflict(DomainError):
    code = "CONFLICT"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class UnbalancedEntry(DomainError):
    """A journal entry whose debits and credits differ: a bug, never posted."""

    code = "INTERNAL_SERVER_ERROR"
