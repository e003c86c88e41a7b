"""Serve the crew view through a real ``airflow api-server`` and open it in headless Debian Chromium.

Shared by the browser test and by ``python -m tests.browser.screenshots`` (the pictures in README.md and
docs/operations.md).
The API server is started in a process group of its own and stopped by that group's id, nothing else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.conftest import AIRFLOW_CLI

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = AIRFLOW_CLI
# Offline and quiet: no QUIC, no background fetches, no component updates, no sync, no first-run UI.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
VIEWPORT = {"width": 1440, "height": 960}
PHONE = {"width": 390, "height": 844}  # a common phone's CSS pixels (iPhone 12 to 15)
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium"


def chromium_path() -> str | None:
    return shutil.which("chromium")


def require_chromium(environ: Mapping[str, str] = os.environ, path: str | None = None) -> str:
    """Chromium's path; without it the test fails under CI (``CI=true``) and is skipped elsewhere."""
    import pytest

    found = path if path is not None else chromium_path()
    if found:
        return found
    reason = f"chromium is not installed (Debian: {INSTALL_HINT})"
    if environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as res:
            return res.status == 200
    except OSError:
        return False


@contextmanager
def api_server(env: dict[str, str], log_path: Path, timeout: float = 120.0) -> Iterator[str]:
    """``airflow api-server`` on a free loopback port with ``env`` on top of ours; yields its base URL.

    ``simple_auth_manager_all_admins`` makes every request an admin's (Airflow's own middleware adds a
    token), so the headless browser needs no login while the view's authentication dependency still runs.
    """
    port = free_port()
    full_env = {
        **os.environ,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        **env,
    }
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [str(AIRFLOW), "api-server", "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=ROOT,
        start_new_session=True,  # its workers share the group: stopped together below
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not _answers(f"{base}/api/v2/monitor/health"):
            if proc.poll() is not None:
                raise RuntimeError(f"airflow api-server exited with {proc.returncode}; log: {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"airflow api-server not up after {timeout:.0f} s; log: {log_path}")
            time.sleep(0.5)
        yield base
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


@contextmanager
def browser_context(executable: str, phone: bool = False) -> Iterator[Any]:
    """A Playwright context of Debian's Chromium with a fresh profile directory: a desktop window, or with
    ``phone`` a 390-px touch screen at twice the pixel density (the meta viewport applies, as on a phone)."""
    from playwright.sync_api import sync_playwright

    screen: dict[str, Any] = (
        {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
        if phone
        else {"viewport": VIEWPORT}
    )
    with tempfile.TemporaryDirectory(prefix="crew-view-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            **screen,
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()


def settings_env(dataset: str, bucket: str) -> dict[str, str]:
    """Point the API server's ``get_settings()`` at a dataset and bucket (the same profile otherwise)."""
    return {"BIKESHARE_BQ_DATASET": dataset, "BIKESHARE_GCS_BUCKET": bucket}


def open_view(context: Any, base: str, query: str = "") -> Any:
    """The crew view's page (``query``: e.g. ``?hour=…``), fully loaded (its evaluation PNG included)."""
    page = context.new_page()
    page.goto(f"{base}/crew-view/{query}", wait_until="load")
    return page


def open_engineers(page: Any) -> Any:
    """Unfold the engineers' detail (one click on its summary), as an engineer would."""
    if not page.locator("#engineers").evaluate("d => d.open"):
        page.locator("#engineers > summary").click()
    page.locator("#model-and-performance").wait_for()
    return page


def first_screen(page: Any) -> dict[str, Any]:
    """Where the routes and the map are relative to the first screen, and whether anything overflows sideways."""
    return page.evaluate(
        """() => {
            const box = (sel) => { const r = document.querySelector(sel).getBoundingClientRect();
                                   return {top: r.top + scrollY, bottom: r.bottom + scrollY}; };
            return {height: innerHeight, width: innerWidth, scrollWidth: document.documentElement.scrollWidth,
                    routes: box('#routes'), map: box('svg.plan-map')};
        }"""
    )


def open_in_airflow(context: Any, base: str) -> tuple[Any, Any]:
    """The Airflow UI's page of the plugin's navigation entry, and the view's frame in it (loaded)."""
    page = context.new_page()
    page.goto(f"{base}/plugin/crew-view", wait_until="load")
    page.get_by_text("Rebalancing crews").first.wait_for()  # the navigation entry
    frame = page.frame_locator("iframe[title='Rebalancing crews']")
    frame.locator("#routes").wait_for()
    return page, frame


def screenshot_sections(page: Any, out_dir: Path, prefix: str = "crew-view") -> tuple[Path, Path]:
    """Two pictures: the plan (routes and map), and the engineers' model with live performance (unfolded)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plan = out_dir / f"{prefix}-plan.png"
    model = out_dir / f"{prefix}-model.png"
    page.locator(".plan").screenshot(path=str(plan))
    open_engineers(page)
    page.locator("#model-and-performance").screenshot(path=str(model))
    return plan, model
