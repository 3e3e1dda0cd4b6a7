"""Helpers for the real-browser tests (tests/test_browser.py): start JupyterLab or Voila on a
free local port with fresh config dirs, drive Debian's Chromium through Playwright, and read
or move an ipywidgets explorer the way a student does.

Nothing here downloads anything: Playwright drives /usr/bin/chromium (installed by .ci/run),
never a browser of its own.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
# The CPU may be shared (CI runners, other jobs): be generous, a notebook can take a minute.
SERVER_START_TIMEOUT = 90  # s
RUN_ALL_TIMEOUT = 300  # s
WIDGET_TIMEOUT = 60  # s, one kernel round trip (compute + matplotlib figure) under load


def require_chromium() -> None:
    """Skip loudly where Chromium or Playwright is missing; fail instead when CI=true."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium chromium-driver)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -r requirements.txt)")
    if not missing:
        return
    reason = "BROWSER TESTS NOT RUN: missing " + " and ".join(missing)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " — CI=true, so this is an error, not a skip", pytrace=False)
    warnings.warn(reason, stacklevel=2)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_env(home: Path) -> dict:
    """Environment of a server with fresh Jupyter/Lab dirs under `home` and one thread per
    kernel (the kernels inherit it)."""
    dirs = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    env = dict(os.environ)
    for var, name in dirs.items():
        (home / name).mkdir(parents=True, exist_ok=True)
        env[var] = str(home / name)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("JUPYTER_TOKEN", None)
    # JupyterLab user settings: no autosave (the repo's notebooks stay untouched), no news
    # pop-up, no update check, every cell attached to the DOM (no windowing).
    settings = {
        "docmanager-extension/plugin": {"autosave": False},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "notebook-extension/tracker": {"windowingMode": "none"},
    }
    for name, values in settings.items():
        path = home / "lab-settings" / "@jupyterlab" / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return env


class Server:
    """A Jupyter server (Lab or Voila) in its own process group, stopped by its PID."""

    def __init__(self, args: list, home: Path, port: int, log: Path, cwd: Path = REPO):
        self.port, self.log_path = port, log
        self.url = f"http://127.0.0.1:{port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "w")  # closed in stop()
        self.proc = subprocess.Popen(
            args,
            cwd=cwd,
            env=jupyter_env(home),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = SERVER_START_TIMEOUT) -> None:
        """Wait until the server answers HTTP at all (a redirect counts; no page is loaded,
        so Voila does not start executing its notebook for nobody)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.log_tail()}")
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("GET", "/api")
                if conn.getresponse().status < 500:
                    return
            except OSError:
                pass
            finally:
                conn.close()
            time.sleep(0.25)
        raise TimeoutError(f"server not ready in {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        if not self._log.closed:
            self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM the server's process group (it shuts its kernels down), then SIGKILL."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()


def start_lab(home: Path, log: Path) -> Server:
    """JupyterLab over the repository; checkpoints go to `home`, not next to the notebooks."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--allow-root",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={REPO}",
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    server = Server(args, home, port, log)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def start_voila(notebook: Path, home: Path, log: Path) -> Server:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "voila",
        str(notebook),
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        "--show_tracebacks=True",
    ]
    server = Server(args, home, port, log, cwd=notebook.parent)
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


def launch_chromium(playwright, profile_dir: Path):
    """A persistent context on a fresh profile (Chromium refuses --user-data-dir in args)."""
    return playwright.chromium.launch_persistent_context(
        str(profile_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_FLAGS,
        viewport={"width": 1400, "height": 1000},
    )


def shutdown_kernels(context, base_url: str) -> list:
    """Shut every kernel of the server down through its REST API, with the XSRF header
    taken from the `_xsrf` cookie; returns the kernels still running afterwards."""
    xsrf = next((c["value"] for c in context.cookies(base_url) if c["name"] == "_xsrf"), "")
    headers = {"X-XSRFToken": xsrf}
    for kernel in context.request.get(f"{base_url}/api/kernels").json():
        r = context.request.delete(f"{base_url}/api/kernels/{kernel['id']}", headers=headers)
        assert r.status == 204, f"kernel shutdown refused: {r.status} {r.text()}"
    return context.request.get(f"{base_url}/api/kernels").json()


# -- reading and moving a widget ------------------------------------------------------------

_SNAPSHOT_JS = """
(root, label) => {
  const sliders = [...root.querySelectorAll('.widget-slider')].filter(
    s => (s.querySelector('.widget-label') || {}).textContent === label);
  const out = root.querySelector('.widget-output');
  const texts = out ? [...out.querySelectorAll('pre')].map(p => p.textContent.trim()) : [];
  const img = out ? out.querySelector('img') : null;
  return {
    readout: sliders.length ? sliders[0].querySelector('.widget-readout').textContent : null,
    summary: texts.join(' | ') || null,
    plot: img ? img.getAttribute('src') : null,
    fresh: img ? img.dataset.seen !== '1' : false,
    checked: [...root.querySelectorAll('.widget-checkbox input')].map(i => i.checked),
  };
}
"""
_MARK_JS = "root => root.querySelectorAll('.widget-output img').forEach(i => i.dataset.seen = '1')"


def snapshot(root, label: str = "threshold") -> dict:
    """What a student sees of an explorer: the slider's readout, the text it prints (the
    accuracy / cost line), the plot (its PNG data URI), whether the plot was redrawn since
    `mark_seen`, and the checkboxes' states."""
    return root.evaluate(_SNAPSHOT_JS, label)


def mark_seen(root) -> None:
    """Tag the plot shown now; the explorer replaces the <img> each time it redraws."""
    root.evaluate(_MARK_JS)


def wait_for_redraw(root, label: str = "threshold", value: float | None = None) -> dict:
    """Poll until the explorer shows a plot drawn after `mark_seen` and its text (and, if
    given, the slider `label` reads `value`); return the snapshot."""
    deadline = time.monotonic() + WIDGET_TIMEOUT
    now = snapshot(root, label)
    while time.monotonic() < deadline:
        now = snapshot(root, label)
        reads = value is None or abs(float(now["readout"]) - value) < 1e-6
        if now["fresh"] and now["summary"] and reads:
            return now
        time.sleep(0.1)
    raise AssertionError(f"the explorer did not redraw within {WIDGET_TIMEOUT} s: {now}")


def wait_for_render(root, label: str = "threshold") -> dict:
    deadline = time.monotonic() + WIDGET_TIMEOUT
    while time.monotonic() < deadline:
        now = snapshot(root, label)
        if now["summary"] and now["plot"]:
            return now
        time.sleep(0.2)
    raise AssertionError(f"widget never rendered its text and plot: {snapshot(root, label)}")


def slider(root, label: str):
    """The ipywidgets slider whose description is exactly `label`."""
    page = root if hasattr(root, "goto") else root.page
    pattern = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return root.locator(".widget-slider").filter(
        has=page.locator(".widget-label", has_text=pattern)
    )


def drag_slider(page, slider_locator, fraction: float) -> None:
    """Drag the slider's handle with the mouse to `fraction` of its track."""
    handle = slider_locator.locator(".noUi-handle").first
    track = slider_locator.locator(".noUi-base").first
    handle.scroll_into_view_if_needed()
    h, t = handle.bounding_box(), track.bounding_box()
    page.mouse.move(h["x"] + h["width"] / 2, h["y"] + h["height"] / 2)
    page.mouse.down()
    page.mouse.move(t["x"] + fraction * t["width"], h["y"] + h["height"] / 2, steps=8)
    page.mouse.up()
