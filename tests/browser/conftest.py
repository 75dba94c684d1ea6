"""A real Chromium (Debian's `chromium`, driven by Playwright) against the app served on a free port.

No browser is downloaded: Playwright launches the system Chromium through
`executable_path` (BLOCKTIME_CHROMIUM, else `chromium` on PATH). Without one the
tests are skipped with the reason, except under CI=true, where `.ci/run` installs
it with apt-get and its absence is a failure.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from starlette.applications import Starlette

from accounting.demo import seed_demo
from api.app import create_app
from models.db import unit_of_work
from models.settings import Settings
from tests.conftest import server_unreachable
from tests.processes import free_port, wait_until_healthy

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path() -> str:
    configured = os.environ.get("BLOCKTIME_CHROMIUM")
    if configured:
        if not Path(configured).is_file():
            server_unreachable(f"BLOCKTIME_CHROMIUM={configured} does not exist")
        return configured
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    server_unreachable(
        "no Chromium on PATH for the browser tests: apt-get install chromium "
        "(or set BLOCKTIME_CHROMIUM to a Chromium or Chrome binary)"
    )
    raise AssertionError("unreachable")


# Module scope: while Playwright's sync API is open it runs an event loop on this thread,
# and a later test's asyncio.run() would refuse to start.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # the dev dependency group is not installed
        server_unreachable(f"Playwright for Python is not installed: {exc}")
    with sync_playwright() as playwright:
        # --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the tests save their screenshots: BLOCKTIME_SCREENSHOTS if set, else the test's tmp_path."""
    folder = Path(os.environ.get("BLOCKTIME_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def demo(db: Engine) -> Engine:
    """The demo data of `make run` (`blocktime demo`) in the suite's database."""
    with unit_of_work(db) as session:
        seed_demo(session)
    return db


@pytest.fixture
def served(settings: Settings, demo: Engine) -> Iterator[str]:
    """The app, on the suite's database, served by uvicorn on a free port in a thread; its base URL."""
    app: Starlette = create_app(settings)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until_healthy(
        base,
        running=thread.is_alive,
        within=30,
        every=0.1,
        failure=lambda: "uvicorn did not come up for the browser tests",
    )
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=15)
