"""The per-operation context every resolver receives, and the one `Info` alias."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, TypeVar

import strawberry
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from accounting.access import Principal
from api.loaders import Loaders
from models.settings import Settings

if TYPE_CHECKING:
    from api.metrics import Metrics


@dataclass
class Context:
    """Built on the event loop by the view; filled in the worker thread that runs the operation.

    `principal` is set after the bearer token is checked and `session` by the unit of
    work (api.transaction.run_operation) for the attempt: a reader for queries, a writer
    (`writer`) for mutations. `loaders` are built on first use, once per attempt.
    """

    request: Request
    response: Response
    settings: Settings
    engine: Engine
    metrics: Metrics
    request_id: str
    token: str | None
    principal: Principal | None = None
    current_session: Session | None = None
    jobs_enqueued: list[str] = field(default_factory=list)
    # The transient database failure that ended the last attempt (api.transaction).
    transient: BaseException | None = None
    writer: bool = False
    _loaders: Loaders | None = field(default=None, init=False, repr=False)

    def fresh_attempt(self) -> None:
        """Forget what an attempt that rolled back had read, checked or enqueued."""
        self.transient = None
        self.principal = None
        self.current_session = None
        self.jobs_enqueued.clear()
        self._loaders = None

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(session=lambda: self.session, principal=lambda: self.viewer)
        return self._loaders

    @property
    def session(self) -> Session:
        if self.current_session is None:
            raise RuntimeError("no unit of work is open: resolvers run only inside an operation")
        return self.current_session

    @property
    def viewer(self) -> Principal:
        if self.principal is None:
            raise RuntimeError("the operation runs without an authenticated principal")
        return self.principal


Info = strawberry.Info[Context, None]

R = TypeVar("R", contravariant=True)
T = TypeVar("T", covariant=True)


class FromModel(Protocol[R, T]):
    def from_model(self, row: R, /) -> T: ...


def wrap(info: Info, cls: FromModel[R, T], row: R) -> T:
    """A GraphQL object for one row, its relations registered with the loaders."""
    info.context.loaders.register([row])
    return cls.from_model(row)


def wrap_all(info: Info, cls: FromModel[R, T], rows: Iterable[R]) -> list[T]:
    """GraphQL objects for sibling rows: their relations load together, once."""
    rows = list(rows)
    info.context.loaders.register(rows)
    return [cls.from_model(row) for row in rows]
