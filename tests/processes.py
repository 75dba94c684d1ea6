"""`blocktime` as real processes: the command, a free port, and a served API to talk to."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from testkit.ports import free_port

BLOCKTIME = Path(sys.executable).with_name("blocktime")


def run_blocktime(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run one `blocktime` command with these settings (none inherited for the database or Redis)."""
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environment.update(env)
    return subprocess.run(
        [str(BLOCKTIME), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def blocktime(*args: str, env: dict[str, str], cwd: Path) -> str:
    """Run one `blocktime` command to completion; its stdout."""
    result = subprocess.run(
        [str(BLOCKTIME), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def wait_until_healthy(
    base: str, *, running: Callable[[], bool], within: float, every: float, failure: Callable[[], str]
) -> None:
    """Poll `base`/healthz until it answers 200; fail the test with `failure()` if the
    server stops running or `within` seconds pass."""
    deadline = time.monotonic() + within
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if not running() or time.monotonic() > deadline:
            pytest.fail(failure())
        time.sleep(every)


@contextmanager
def serving(env: dict[str, str], cwd: Path) -> Iterator[str]:
    """`blocktime serve` on a free port until /healthz answers; yields its base URL, stops it after."""
    port = free_port()
    log = cwd / f"serve-{port}.log"
    process = subprocess.Popen(
        [str(BLOCKTIME), "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(
            base,
            running=lambda: process.poll() is None,
            within=60,
            every=0.2,
            failure=lambda: f"blocktime serve did not come up (exit {process.poll()}):\n{log.read_text()}",
        )
        try:
            yield base
        except BaseException:
            print(f"--- {log.name} ---\n{log.read_text()}")  # noqa: T201 - pytest shows it with the failure
            raise
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
