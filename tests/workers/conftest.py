"""Real parts for the worker tests: an in-process worker, a Redis worker process,
a local webhook endpoint and a local SMTP server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import Engine, func, select

from models import OutboxJob
from models.enums import JobStatus
from models.settings import Settings
from tests.conftest import redis_url
from tests.processes import BLOCKTIME, free_port


def wait_until(predicate: Callable[[], Any], *, timeout: float = 15.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def job_counts(engine: Engine) -> dict[JobStatus, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(OutboxJob.status, func.count()).group_by(OutboxJob.status)).all()
    return {JobStatus(status): count for status, count in rows}


def wait_settled(engine: Engine, *, timeout: float = 20.0) -> dict[JobStatus, int]:
    """Until no job is PENDING, SENT or RUNNING; returns the count per status."""

    def settled() -> dict[JobStatus, int] | None:
        counts = job_counts(engine)
        unfinished = (JobStatus.PENDING, JobStatus.SENT, JobStatus.RUNNING)
        return None if any(counts.get(status) for status in unfinished) else counts or {JobStatus.DONE: 0}

    return wait_until(settled, timeout=timeout, what="the outbox to settle")


# --- a webhook endpoint ------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    at: float  # time.perf_counter() on arrival

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookServer:
    """Records every POST; answers with the scripted statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    on_receive: Callable[[Received], None] | None = None

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = server.statuses.pop(0) if server.statuses else 200
                received = Received(
                    {k.lower(): v for k, v in self.headers.items()}, body, status, time.perf_counter()
                )
                server.received.append(received)
                if server.on_receive is not None:
                    server.on_receive(received)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/blocktime"

    def delivered(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer()
    yield server
    server.close()


# --- an SMTP server -------------------------------------------------------------------


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    host: str
    port: int
    mailbox: Mailbox


@contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, mailbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


# --- the in-process worker (the embedded mode of `blocktime serve`) -----------------------


@dataclass
class InProcess:
    settings: Settings
    engine: Engine
    broker: dramatiq.Broker

    def settle(self, timeout: float = 20.0) -> dict[JobStatus, int]:
        return wait_settled(self.engine, timeout=timeout)

    def deliver_again(self, job_id: int, *, times: int = 1) -> None:
        """The same message as the relay sent, delivered again (at-least-once delivery)."""
        from accounting.outbox import job_arguments

        with self.engine.connect() as conn:
            job = conn.execute(select(OutboxJob).where(OutboxJob.id == job_id)).one()
        actor = self.broker.get_actor(job.actor)
        message = actor.message_with_options(kwargs={**job_arguments(job), "job_id": job.id})  # type: ignore[arg-type]
        for _ in range(times):
            self.broker.enqueue(message)


@pytest.fixture
def in_process_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"redis_url": None, "outbox_sweep_seconds": 0.5})


@pytest.fixture
def in_process(db: Engine, in_process_settings: Settings) -> Iterator[InProcess]:
    """The embedded mode: in-process broker, worker threads and relay, on the test database."""
    from workers.runtime import background

    with background(in_process_settings, schedule=False):
        from workers.broker import current_broker

        yield InProcess(in_process_settings, db, current_broker())


# --- Redis and `blocktime worker` processes -----------------------------------------------


@pytest.fixture(scope="module")
def redis_module_settings(settings: Settings) -> Settings:
    """The test database with the real Redis broker, emptied of earlier modules' messages."""
    url = redis_url()
    client = redis.Redis.from_url(url)
    for key in client.scan_iter("dramatiq:*"):
        client.delete(key)
    client.close()
    return settings.model_copy(update={"redis_url": url, "outbox_sweep_seconds": 1.0})


@pytest.fixture
def redis_settings(redis_module_settings: Settings, db: Engine) -> Settings:
    """A test's view of Redis: its database emptied first (the `db` fixture)."""
    return redis_module_settings


class WorkerProcess:
    """`blocktime worker`: Dramatiq's CLI on workers.actors, in its own process group."""

    def __init__(
        self, settings: Settings, log_path: Path, *, plugins: tuple[str, ...] = (), **env: str
    ) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "dramatiq_"))}
        environment.update(
            DATABASE_URL=settings.database_url,
            REDIS_URL=settings.redis_url or "",
            BLOCKTIME_ENV="test",
            WEBHOOK_TIMEOUT_SECONDS=str(settings.webhook_timeout_seconds),
            OUTBOX_SWEEP_SECONDS=str(settings.outbox_sweep_seconds),
            **(
                {"SMTP_HOST": settings.smtp_host, "SMTP_PORT": str(settings.smtp_port)}
                if settings.smtp_host
                else {}
            ),
        )
        environment.update(env)
        self.log_path = log_path
        self.log = log_path.open("ab")
        # `blocktime worker` runs `python -m dramatiq workers.actors`; a test's plugin
        # modules (tests.workers.hold_jobs) are imported after the actors, in the same way.
        command = [str(BLOCKTIME), "worker"]
        if plugins:
            command = [sys.executable, "-m", "dramatiq", "workers.actors", *plugins]
        self.process = subprocess.Popen(
            [*command, "--processes", "1", "--threads", "2"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_for_log("Worker process is ready for action", timeout=30)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, *, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.output()}")
            return text in self.output()

        wait_until(seen, timeout=timeout, what=f"{text!r} in the worker's log")

    def kill(self) -> None:
        """SIGKILL the whole worker (the CLI and its worker process): a power cut."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.log.close()


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(settings: Settings, *, plugins: tuple[str, ...] = (), **env: str) -> WorkerProcess:
        worker = WorkerProcess(settings, tmp_path / f"worker-{len(started)}.log", plugins=plugins, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def start_holding_worker(start_worker: Callable[..., WorkerProcess]) -> Callable[..., WorkerProcess]:
    """A worker whose jobs of the actors named hold their transaction open once their work
    is done (logging "Job <id> (<actor>) did its work"), to be killed mid-job."""
    from tests.workers.hold_jobs import HOLD_JOBS_ENV

    def start(settings: Settings, *actors: str) -> WorkerProcess:
        return start_worker(
            settings, plugins=("tests.workers.hold_jobs",), **{HOLD_JOBS_ENV: ",".join(actors)}
        )

    return start


class TcpProxy:
    """A local port in front of Redis: forwards while up, refuses connections while down."""

    def __init__(self, target: str) -> None:
        parsed = redis.connection.parse_url(target)
        self.target = (parsed.get("host", "127.0.0.1"), int(parsed.get("port", 6379)))
        self.db = int(parsed.get("db", 0))
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
