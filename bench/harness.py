"""What every benchmark shares: the scratch database, Redis, real processes, load, figures.

- `Target`: where a run points (the scratch PostgreSQL database, a Redis database).
- `prepare_database` / `flush_redis`: an empty, migrated database; no stale messages.
- `Server`, `Worker`, `Baseline`: `blocktime serve`, `blocktime worker` and the bench
  baseline as real processes in their own process groups, stopped with SIGTERM.
- `peak_rss_mb`: VmHWM from /proc of a process and of its children (dramatiq forks).
- `load`: a closed-loop HTTP/1.1 keep-alive load generator on raw asyncio streams, run
  in its own process(es) so that Blocktime and the baseline meet the same client.
- `percentile`, `Latency`: nearest-rank percentiles in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.pool import NullPool

from testkit.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/blocktime_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/6"
# Databases and Redis databases other people's test runs use on this machine.
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}
FORBIDDEN_REDIS_DBS = {0, 1}


@dataclass(frozen=True)
class Target:
    database_url: str
    redis_url: str
    logs: Path

    def __post_init__(self) -> None:
        database = make_url(self.database_url).database
        if not self.database_url.startswith("postgresql") or database in FORBIDDEN_DATABASES:
            raise SystemExit(
                f"refusing to benchmark on {database!r}: point DATABASE_URL at a scratch database"
            )
        if redis_db(self.redis_url) in FORBIDDEN_REDIS_DBS:
            raise SystemExit(
                f"refusing Redis database {redis_db(self.redis_url)}: use a scratch one (e.g. /6)"
            )

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a Blocktime process: this target, no SMTP, no inherited dramatiq options."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "dramatiq_", "BLOCKTIME_"))}
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, LOG_LEVEL="INFO")
        env.update(extra)
        return env


def redis_db(url: str) -> int:
    path = url.rsplit("/", 1)[-1] if url.count("/") > 2 else ""
    return int(path) if path.isdigit() else 0


# --- database and Redis ----------------------------------------------------------------


def admin_engine(url: str) -> Engine:
    return create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )


def prepare_database(url: str) -> None:
    """Create the scratch database if missing, then empty it and migrate it to head."""
    from migrations.runner import upgrade
    from models.db import dispose_engines

    dispose_engines()
    name = make_url(url).database
    admin = admin_engine(url)
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists is None:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    upgrade(engine)
    engine.dispose()


def empty_database(url: str) -> None:
    """Empty every table of a database `prepare_database` migrated (quicker than migrating again)."""
    from models import Base
    from models.db import dispose_engines

    dispose_engines()
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


def drop_database(url: str) -> None:
    admin = admin_engine(url)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    admin.dispose()


def flush_redis(url: str) -> None:
    """Forget dramatiq's queues in the bench's Redis database (messages of earlier runs)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter("dramatiq:*"):
            client.delete(key)
    finally:
        client.close()


# --- machine -----------------------------------------------------------------------


def machine(target: Target) -> dict[str, str]:
    import redis

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError):
        mem_kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
    engine = create_engine(target.database_url, poolclass=NullPool)
    with engine.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar_one()
    engine.dispose()
    client = redis.Redis.from_url(target.redis_url)
    redis_version = client.info("server")["redis_version"]
    client.close()
    commit = _git("rev-parse", "--short", "HEAD")
    if _git("status", "--porcelain", "--untracked-files=no"):
        commit += " (with uncommitted changes)"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "RAM": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": str(pg),
        "Redis": str(redis_version),
        "git commit": commit,
    }


def _git(*args: str) -> str:
    try:
        return subprocess.run(  # noqa: S603 - git with fixed arguments
            ["git", *args],  # noqa: S607
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


# --- processes ---------------------------------------------------------------------


class Process:
    """A child in its own process group; `stop()` sends SIGTERM to the group and waits."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out = log.open("wb")
        self.popen = subprocess.Popen(  # noqa: S603 - our own programs with fixed arguments
            list(argv), env=env, cwd=ROOT, stdout=self._out, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited ({self.popen.returncode}):\n{self.log_text()[-3000:]}")

    def peak_rss_mb(self) -> RSS:
        return peak_rss_mb(self.pid)

    def stop(self) -> None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(10)
        self._out.close()

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class HTTPProcess(Process):
    """A process serving HTTP on 127.0.0.1:`port`; waits for GET /healthz."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], log: Path, port: int) -> None:
        super().__init__(name, argv, env, log)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            self.check_alive()
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not answer /healthz:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)


def serve(target: Target, log: Path, *, workers: int = 1) -> HTTPProcess:
    """`blocktime serve` under uvicorn, with REDIS_URL: the API and the outbox relay."""
    port = free_port()
    argv = [str(BIN / "blocktime"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        argv += ["--workers", str(workers)]
    return HTTPProcess("blocktime serve", argv, target.env(), log, port)


def baseline(target: Target, log: Path, *, workers: int = 1) -> HTTPProcess:
    """bench/baseline.py under uvicorn with the settings `blocktime serve` uses."""
    return _uvicorn("baseline", "bench.baseline:create_app", target, log, workers=workers)


def api_alone(target: Target, log: Path, *, workers: int = 1) -> HTTPProcess:
    """Blocktime's API under uvicorn as the baseline runs, without `serve`'s background half
    (no outbox relay): what the API itself costs, its outbox rows left PENDING like the baseline's."""
    return _uvicorn("Blocktime API alone", "api.app:create_app", target, log, workers=workers)


def floor(target: Target, log: Path, *, workers: int = 1) -> HTTPProcess:
    """bench/floor.py under uvicorn as the baseline runs: strawberry executing the baseline's SQL."""
    return _uvicorn("stack floor", "bench.floor:create_app", target, log, workers=workers)


def _uvicorn(name: str, factory: str, target: Target, log: Path, *, workers: int) -> HTTPProcess:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        factory,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--workers",
        str(workers),
    ]
    return HTTPProcess(name, argv, target.env(), log, port)


class Worker(Process):
    """`blocktime worker`; `ready()` waits until every dramatiq process is ready for action."""

    def __init__(self, target: Target, log: Path, *, processes: int, threads: int) -> None:
        argv = [str(BIN / "blocktime"), "worker", "--processes", str(processes), "--threads", str(threads)]
        super().__init__("blocktime worker", argv, target.env(), log)
        self.processes = processes

    def ready(self) -> Worker:
        deadline = time.monotonic() + 60
        while self.log_text().count("ready for action") < self.processes:
            self.check_alive()
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start:\n{self.log_text()[-3000:]}")
            time.sleep(0.1)
        return self


@contextlib.contextmanager
def stack(
    target: Target, name: str, *, processes: int, threads: int, serve_workers: int = 1
) -> Iterator[tuple[HTTPProcess, Worker]]:
    """`blocktime worker` and `blocktime serve`, started side by side, stopped together."""
    with (
        Worker(target, target.logs / f"{name}-worker.log", processes=processes, threads=threads) as worker,
        serve(target, target.logs / f"{name}-serve.log", workers=serve_workers) as server,
    ):
        worker.ready()
        yield server, worker


# --- memory ------------------------------------------------------------------------


@dataclass(frozen=True)
class RSS:
    """Peak resident set sizes (VmHWM): the largest single process and the tree's sum."""

    largest_mb: float
    total_mb: float
    processes: int

    def __str__(self) -> str:
        if self.processes == 1:
            return f"{self.largest_mb:.0f} MB"
        return f"{self.largest_mb:.0f} MB (largest of {self.processes}; sum {self.total_mb:.0f} MB)"


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids.extend(process_tree(int(child)))
    return pids


def _vm_hwm_kb(pid: int) -> int:
    with contextlib.suppress(OSError, IndexError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def peak_rss_mb(pid: int) -> RSS:
    """VmHWM of `pid` and every descendant (read it before the processes exit)."""
    peaks = [kb for kb in (_vm_hwm_kb(p) for p in process_tree(pid)) if kb]
    return RSS(max(peaks, default=0) / 1024, sum(peaks) / 1024, len(peaks))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of `pid` and its descendants so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def per_process_cpu(pid: int) -> list[float]:
    """CPU seconds of each process of the tree (to see how uvicorn workers shared the load)."""
    return [cpu_seconds_one(p) for p in process_tree(pid)]


def cpu_seconds_one(pid: int) -> float:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


# --- figures -----------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil(n * p / 100)
    return ordered[int(rank) - 1]


@dataclass
class Latency:
    """Milliseconds."""

    values: list[float]

    @property
    def p50(self) -> float:
        return percentile(self.values, 50)

    @property
    def p99(self) -> float:
        return percentile(self.values, 99)

    @property
    def worst(self) -> float:
        return max(self.values)


# --- load ----------------------------------------------------------------------------


def graphql_request(port: int, token: str, query: str, variables: dict[str, object]) -> bytes:
    """The bytes of one keep-alive POST /graphql."""
    body = json.dumps({"query": query, "variables": variables}, separators=(",", ":")).encode()
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nAccept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class LoadResult:
    """What a load run saw in its measured window, and every success by request index."""

    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    successes: Counter[int] = field(default_factory=Counter)  # over the whole run, warm-up included

    @property
    def completed(self) -> int:
        """Successful requests over the whole run, warm-up included."""
        return sum(self.successes.values())

    @property
    def requests_per_second(self) -> float:
        return len(self.latencies_ms) / self.duration if self.duration else 0.0

    @property
    def latency(self) -> Latency:
        return Latency(self.latencies_ms)

    def record(self, index: int, status: int, body: bytes, *, latency_ms: float, measured: bool) -> None:
        """One answer: a success counts for its request; inside the measured window its
        latency (or its error) counts too."""
        ok = status == 200 and b'"errors"' not in body
        if ok:
            self.successes[index] += 1
        elif len(self.error_samples) < 5:
            self.error_samples.append(f"HTTP {status}: {body[:300]!r}")
        if measured:
            if ok:
                self.latencies_ms.append(latency_ms)
            else:
                self.errors += 1

    def merge(self, other: LoadResult) -> None:
        self.latencies_ms.extend(other.latencies_ms)
        self.errors += other.errors
        self.error_samples.extend(other.error_samples[: max(0, 5 - len(self.error_samples))])
        self.successes.update(other.successes)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if "content-length" in headers:
        return status, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    raise RuntimeError("response without a length")


async def _connection(
    port: int,
    requests: Sequence[bytes],
    seed: int,
    start: float,
    measure_from: float,
    stop_at: float,
    result: LoadResult,
    opened: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None,
) -> None:
    rng = random.Random(seed)
    reader, writer = opened or await asyncio.open_connection("127.0.0.1", port)
    try:
        while True:
            index = rng.randrange(len(requests))
            began = time.perf_counter()
            if began >= stop_at:
                return
            writer.write(requests[index])
            status, body = await _read_response(reader)
            ended = time.perf_counter()
            result.record(
                index, status, body, latency_ms=(ended - began) * 1000, measured=began >= measure_from
            )
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


PROBE = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def connection_owner(server_port: int, client_port: int, pids: Sequence[int]) -> int | None:
    """The pid among `pids` holding the server end of the TCP connection 127.0.0.1:client_port ->
    127.0.0.1:server_port (from /proc/net/tcp's socket inode and the processes' open files)."""
    local, remote = f"0100007F:{server_port:04X}", f"0100007F:{client_port:04X}"
    inode = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                inode = fields[9]
                break
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) == target:
                        return pid
    return None


async def _spread_connections(
    port: int, count: int, server_pids: Sequence[int], workers: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """`count` connections, as evenly spread over the `workers` server processes as the
    accepts allow: each new connection is probed (GET /healthz), its owner looked up in
    /proc, and it is closed and made again while its process already has its share."""
    share = -(-count // workers)
    held: Counter[int] = Counter()
    connections = []
    for _ in range(count):
        for attempt in range(100):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(PROBE)
            await _read_response(reader)
            owner = connection_owner(port, writer.get_extra_info("sockname")[1], server_pids)
            if owner is None or held[owner] < share or attempt == 99:
                break
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await asyncio.sleep(0.01)
        held[owner or 0] += 1
        connections.append((reader, writer))
    return connections


def _load_process(
    port: int,
    requests: Sequence[bytes],
    connections: int,
    warmup: float,
    duration: float,
    seed: int,
    spread: tuple[list[int], int] | None = None,
) -> LoadResult:
    async def main() -> LoadResult:
        result = LoadResult(duration=duration)
        opened = await _spread_connections(port, connections, *spread) if spread else None
        start = time.perf_counter()
        measure_from, stop_at = start + warmup, start + warmup + duration
        await asyncio.gather(
            *(
                _connection(
                    port,
                    requests,
                    seed * 1000 + n,
                    start,
                    measure_from,
                    stop_at,
                    result,
                    opened[n] if opened else None,
                )
                for n in range(connections)
            )
        )
        return result

    return asyncio.run(main())


def load(
    port: int,
    requests: Sequence[bytes],
    *,
    connections: int,
    duration: float,
    warmup: float = 2.0,
    processes: int = 1,
    seed: int = 1,
    server: tuple[int, int] | None = None,
) -> LoadResult:
    """`connections` clients, each sending a random one of `requests` and waiting for the
    answer, for warmup + duration seconds, spread over `processes` client processes.

    With `server=(pid, workers)` (a `serve --workers N`), the connections are spread
    evenly over the server's worker processes (`_spread_connections`) before the clock
    starts: one listening socket shared by N processes otherwise hands a burst of
    connects to whichever process wakes first.

    A response counts as a success when it is HTTP 200 without "errors" in its body.
    Latencies and the request rate cover the measured window only; `successes` counts
    every success (warm-up included) per request index, for checking the effects.
    """
    shares = [connections // processes + (1 if n < connections % processes else 0) for n in range(processes)]
    total = LoadResult(duration=duration)
    spread = (process_tree(server[0]), server[1]) if server and server[1] > 1 else None
    with ProcessPoolExecutor(max_workers=processes, mp_context=get_context("fork")) as pool:
        futures = [
            pool.submit(_load_process, port, list(requests), share, warmup, duration, seed + n, spread)
            for n, share in enumerate(shares)
            if share
        ]
        for future in futures:
            total.merge(future.result())
    return total


# --- open-loop load ------------------------------------------------------------------


async def _open_loop_main(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    warmup: float,
    duration: float,
    seed: int,
    max_connections: int,
) -> LoadResult:
    """Request k is due at start + k / rate whatever happened to the earlier ones; its
    latency runs from when it was due (so time spent waiting for a free connection, when
    the server falls behind, counts: no coordinated omission)."""
    rng = random.Random(seed)
    result = LoadResult(duration=duration)
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    opened: list[asyncio.StreamWriter] = []
    slots = asyncio.Semaphore(max_connections)
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + duration

    async def one(index: int, due: float) -> None:
        async with slots:
            if idle.empty():
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                opened.append(writer)
            else:
                reader, writer = idle.get_nowait()
            writer.write(requests[index])
            status, body = await _read_response(reader)
            ended = time.perf_counter()
            idle.put_nowait((reader, writer))
        # From when the request was due, not when it was sent: a server falling behind shows.
        result.record(index, status, body, latency_ms=(ended - due) * 1000, measured=due >= measure_from)

    tasks: list[asyncio.Task[None]] = []
    k = 0
    while True:
        due = start + k / rate
        if due >= stop_at:
            break
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(rng.randrange(len(requests)), due)))
        k += 1
    await asyncio.gather(*tasks)
    for writer in opened:
        writer.close()
    return result


def _open_loop_process(
    port: int,
    requests: Sequence[bytes],
    rate: float,
    warmup: float,
    duration: float,
    seed: int,
    max_connections: int,
) -> LoadResult:
    return asyncio.run(_open_loop_main(port, requests, rate, warmup, duration, seed, max_connections))


def open_loop(
    port: int,
    requests: Sequence[bytes],
    *,
    rate: float,
    duration: float,
    warmup: float = 2.0,
    max_connections: int = 64,
    seed: int = 1,
) -> LoadResult:
    """A fixed arrival rate (requests/s), whatever the answers' speed: the latency a client
    sees at that load, not the queue a closed loop builds. One client process."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("fork")) as pool:
        return pool.submit(
            _open_loop_process, port, list(requests), rate, warmup, duration, seed, max_connections
        ).result()


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """`with timed() as t: ...` then t[0] is the elapsed seconds."""
    box: list[float] = []
    began = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - began)


# --- reporting -----------------------------------------------------------------------


@dataclass
class Row:
    """One line of the results table."""

    bench: str
    measure: str
    value: str
    baseline: str = ""
    goal: str = ""
    met: bool | None = None
    # An outcome (no errors, balances right), not a timing: the smoke test asserts these.
    check: bool = False


@dataclass
class Run:
    """What a benchmark module needs: where to point, how long, how big, where to log."""

    target: Target
    duration: float = 20.0
    smoke: bool = False
    client_processes: int = 1
    serve_workers: int = 1
    b3_entries: list[int] = field(default_factory=lambda: [100_000, 1_000_000])
    notes: list[str] = field(default_factory=list)

    def log(self, name: str) -> Path:
        return self.target.logs / f"{name}.log"

    def size(self, full: int, smoke: int) -> int:
        return smoke if self.smoke else full

    @property
    def warmup(self) -> float:
        return 0.5 if self.smoke else 2.0

    def say(self, message: str) -> None:
        print(f"    {message}", flush=True)
