"""Helpers for the real-browser tests (tests/test_browser.py, tests/test_voila.py): start
JupyterLab or Voila on a free local port with fresh config dirs, drive Debian's Chromium
through Playwright, move an explorer the way a student does (`exercise`), and check after
each move that the page shows what the notebook's own kernel computes at the values the page
shows (`Explorer.check`, through a second client of the kernel: `KernelProbe`), timing each
redraw in the page (`timed`).

Nothing here downloads anything: Playwright drives /usr/bin/chromium (installed by .ci/run),
never a browser of its own.
"""

from __future__ import annotations

import contextlib
import fnmatch
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


def start_voila(notebook: Path, home: Path, log: Path, preheat: bool = False) -> Server:
    """Voila on `notebook`. preheat: the classroom set-up of README — the notebook runs in a
    pooled kernel as soon as the server starts, and the first page gets that kernel (no
    refill afterwards: one page per server here)."""
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
        f"--Voila.connection_dir_root={home / 'runtime'}",  # KernelProbe finds the kernel
    ]
    if preheat:
        args += [
            "--VoilaConfiguration.preheat_kernel=True",
            "--VoilaConfiguration.default_pool_size=1",
            "--VoilaKernelManager.fill_delay=86400",
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


@contextlib.contextmanager
def browser_context(profile_dir: Path):
    """A headless Chromium (Debian's) on a fresh profile; needs `require_chromium()`."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = launch_chromium(p, profile_dir)
        context.set_default_timeout(WIDGET_TIMEOUT * 1000)
        try:
            yield context
        finally:
            context.close()


# -- reading and moving a widget ------------------------------------------------------------


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


def report(config, lines) -> None:
    """Print `lines` to the terminal even while pytest captures output (fixture teardown)."""
    capture = config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n".join(lines), flush=True)


# -- the kernel's side: what `compute` says at the values the page shows ---------------------

# Sent once to a notebook's kernel (a second client, beside the browser's). Names start with
# `_mexit_probe` so they cannot clash with a notebook's own. `tag` gives every control of an
# explorer a CSS class (`mx--<explorer>--<control>`), so the page can be read control by
# control whatever the labels say; `at_page` turns what the page shows (a slider's readout, a
# dropdown's label, a checkbox state) back into control values and prints
# `explorer.summary(explorer.compute(**values))`.
PROBE = r'''
import json as _mexit_probe_json


def _mexit_probe_spec(explorer):
    out = {}
    for name, c in explorer.controls.items():
        spec = {"kind": type(c).__name__, "description": getattr(c, "description", "")}
        for attr in ("min", "max", "step", "base"):
            if hasattr(c, attr):
                spec[attr] = getattr(c, attr)
        if hasattr(c, "_options_labels"):
            spec["options"] = list(c._options_labels)
        out[name] = spec
    return out


def _mexit_probe_tag(explorer, prefix):
    for name, c in explorer.controls.items():
        c.add_class(f"{prefix}--{name}")
    print(_mexit_probe_json.dumps(_mexit_probe_spec(explorer)))


def _mexit_probe_number(text):
    """A slider readout as a number: '0.35', '1,000', '2.5e+2', '40%', '3.2k'."""
    text = text.replace(",", "").replace("\u2212", "-").strip()
    scale = 1.0
    if text.endswith("%"):
        text, scale = text[:-1], 0.01
    elif text and text[-1] in "kMGmµu":
        text, scale = text[:-1], {"k": 1e3, "M": 1e6, "G": 1e9, "m": 1e-3}.get(text[-1], 1e-6)
    return float(text) * scale


def _mexit_probe_value(c, shown):
    """The control value a student sees on the page (`shown`: a checkbox state, an option's
    label, or a slider's {readout, position}: the readout, snapped to the slider's grid;
    the handle's position where the readout is not a number)."""
    import math

    if isinstance(shown, bool):
        return shown
    if isinstance(shown, dict):  # a slider
        readout, position = shown["readout"], shown["position"]
        if hasattr(c, "_options_labels"):  # SelectionSlider: the readout is the label
            return dict(zip(c._options_labels, c._options_values))[readout]
        try:
            x = _mexit_probe_number(readout)
        except ValueError:
            x = float(position)
            if hasattr(c, "base"):
                x = c.base**x
    elif hasattr(c, "_options_labels"):  # Dropdown, ToggleButtons, RadioButtons
        return dict(zip(c._options_labels, c._options_values))[shown]
    else:
        x = _mexit_probe_number(shown)
    if type(c).__name__.startswith("Int"):
        return int(round(x))
    if hasattr(c, "base"):  # FloatLogSlider: the step is in the exponent
        k = round((math.log(x, c.base) - c.min) / c.step)
        value = c.base ** (c.min + k * c.step)
    else:
        value = c.min + round((x - c.min) / c.step) * c.step
    # the same number, with the representation the widget holds (0.35 vs 0.35000000000000003)
    return c.value if math.isclose(c.value, value, rel_tol=1e-9, abs_tol=1e-12) else value


def _mexit_probe_at_page(explorer, shown):
    values = {n: _mexit_probe_value(explorer.controls[n], v) for n, v in shown.items()}
    widget = {n: c.value for n, c in explorer.controls.items()}
    print(_mexit_probe_json.dumps({
        "summary": explorer.summary(explorer.compute(**values)),
        "values": {n: repr(v) for n, v in values.items()},
        "widget": {n: repr(v) for n, v in widget.items()},
    }))
'''


class KernelProbe:
    """A second client of a running kernel (Lab's or Voila's), from its connection file."""

    def __init__(self, connection_file: Path):
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient()
        self.client.load_connection_file(str(connection_file))
        self.client.start_channels()
        self.client.wait_for_ready(timeout=WIDGET_TIMEOUT)
        self.run(PROBE)

    def run(self, code: str) -> str:
        """Execute `code`; its stdout; AssertionError with the traceback if it raised."""
        out, errors = [], []

        def hook(msg):
            kind, content = msg["header"]["msg_type"], msg["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else errors).append(content["text"])
            elif kind == "error":
                errors.append("\n".join(content["traceback"]))

        reply = self.client.execute_interactive(
            code, store_history=False, timeout=WIDGET_TIMEOUT, output_hook=hook
        )
        if reply["content"]["status"] != "ok" or errors:
            raise AssertionError(f"the kernel failed on {code[:200]!r}:\n{''.join(errors)}")
        return "".join(out)

    def json(self, code: str):
        return json.loads(self.run(code).strip().splitlines()[-1])

    def close(self) -> None:
        self.client.stop_channels()


def kernel_connection_file(runtime_dir: Path, kernel_id: str | None = None) -> Path:
    """The connection file of kernel `kernel_id` (or of the only kernel) in `runtime_dir`."""
    files = sorted(runtime_dir.rglob(f"kernel-{kernel_id or '*'}.json"))
    assert len(files) == 1, f"expected one kernel file for {kernel_id} in {runtime_dir}: {files}"
    return files[0]


# -- the page's side: control values, shown text, and the redraw latency -----------------------

_READ_JS = """
(root, prefix) => {
  const controls = {};
  for (const el of root.querySelectorAll(`[class*="${prefix}--"]`)) {
    const name = [...el.classList].find(c => c.startsWith(prefix + '--')).slice(prefix.length + 2);
    let value = null;
    const readout = el.querySelector('.widget-readout');
    const select = el.querySelector('select');
    const box = el.querySelector('input[type=checkbox]');
    const active = el.querySelector('.mod-active, input[type=radio]:checked');
    if (readout) {
      const handle = el.querySelector('.noUi-handle');
      value = {readout: readout.textContent.trim(),
               position: handle ? handle.getAttribute('aria-valuenow') : null};
    }
    else if (select) value = select.selectedOptions.length ? select.selectedOptions[0].value : null;
    else if (box) value = box.checked;
    else if (el.classList.contains('widget-toggle-button')) {
      value = el.classList.contains('mod-active');
    }
    else if (active) value = (active.closest('label') || active).textContent.trim();
    controls[name] = value;
  }
  const isControl = n => n.closest('[class*="' + prefix + '--"]');
  const texts = [...root.querySelectorAll('pre, .widget-html-content, .widget-htmlmath-content')]
    .filter(n => !isControl(n)).map(n => n.innerText);
  const imgs = [...root.querySelectorAll('img, canvas')].filter(n => !isControl(n));
  return {controls, text: texts.join('\\n'), images: imgs.length};
}
"""

# MutationObserver on an explorer's output: `arm()` waits for the next input event inside
# it (key, pointer release, click, change) and stamps it; every later mutation outside the
# controls (the plot, the text) moves `last`. Latency = last - t0 once the page is quiet.
_WATCH_JS = """
(root, prefix) => {
  if (root.__mexit) return;
  const st = root.__mexit = {armed: false, t0: null, first: null, last: null, n: 0};
  const inControl = n => {
    const el = n.nodeType === 1 ? n : n.parentElement;
    return el && el.closest('[class*="' + prefix + '--"]');
  };
  new MutationObserver(ms => {
    const now = performance.now();
    if (st.t0 === null) return;
    if (ms.some(m => !inControl(m.target))) {
      if (st.first === null) st.first = now;
      st.last = now; st.n += 1;
    }
  }).observe(root, {subtree: true, childList: true, characterData: true, attributes: true,
                     attributeFilter: ['src', 'style']});
  for (const type of ['keydown', 'pointerup', 'mouseup', 'click', 'change']) {
    document.addEventListener(type, e => {
      if (st.armed && root.contains(e.target)) {
        st.armed = false; st.t0 = performance.now(); st.first = st.last = null; st.n = 0;
      }
    }, true);
  }
}
"""
_ARM_JS = "root => { const s = root.__mexit; s.armed = true; s.t0 = s.first = s.last = null; }"
_STATE_JS = "root => ({...root.__mexit, now: performance.now()})"
MIN_TRACK = 80  # px: a slider's track a student can drag (the page is 1400 px wide)
QUIET = 0.4  # s without a mutation after the last one: the redraw is over


def watch(root, prefix: str) -> None:
    root.evaluate(_WATCH_JS, prefix)


def read_page(root, prefix: str) -> dict:
    return root.evaluate(_READ_JS, prefix)


def timed(root, action) -> tuple | None:
    """Run `action` (one input event in `root`), wait until the explorer has redrawn and gone
    quiet; (ms from the input event to the output's last mutation, ms to its first), or None
    when nothing in the output changed (within 10 s)."""
    root.evaluate(_ARM_JS)
    action()
    start = time.monotonic()
    while True:
        s = root.evaluate(_STATE_JS)
        waited = time.monotonic() - start
        if s["last"] is not None and (s["now"] - s["last"]) / 1000 > QUIET:
            return s["last"] - s["t0"], s["first"] - s["t0"]
        if s["last"] is None and waited > (WIDGET_TIMEOUT if s["t0"] is None else 10):
            assert s["t0"] is not None, "the input event never reached the explorer"
            return None
        if waited > WIDGET_TIMEOUT:
            raise AssertionError(f"the explorer kept redrawing for {WIDGET_TIMEOUT} s")
        time.sleep(0.05)


def normalise(text: str) -> str:
    """Text as a reader compares it: HTML tags and entities out, runs of blanks as one."""
    import html

    text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return " ".join(text.split())


# -- an explorer on the page -------------------------------------------------------------------


def control_key(spec: dict, pattern: str, case) -> str:
    keys = [k for k in spec if fnmatch.fnmatchcase(k, pattern)]
    assert keys, f"{case}: no control matches {pattern!r}; explorer.controls has {list(spec)}"
    return keys[0]


class Explorer:
    """An explorer on the page: its output area, its controls (tagged with CSS classes by
    the kernel), and the check that the page shows what `compute` says."""

    def __init__(self, page, probe: KernelProbe, case, moves: list, shots: str = ""):
        self.page, self.probe, self.case = page, probe, case
        self.prefix = f"mx--{case.explorer}"
        self.spec = probe.json(f"_mexit_probe_tag({case.explorer}, {self.prefix!r})")
        self.slider = control_key(self.spec, case.slider, case)
        self.toggle = control_key(self.spec, case.toggle, case)
        tagged = self.page.locator(f".{self.prefix}--{self.slider}")
        tagged.first.wait_for(state="attached", timeout=WIDGET_TIMEOUT * 1000)
        self.root = self.page.locator(".jp-Cell-outputArea").filter(has=tagged)
        assert self.root.count() == 1, f"{case}: {self.root.count()} output areas hold it"
        self.root.scroll_into_view_if_needed()
        watch(self.root, self.prefix)
        self.moves, self.shots, self.shot_prefix = moves, 0, shots

    def control(self, key: str):
        return self.root.locator(f".{self.prefix}--{key}")

    def check(self, what: str) -> dict:
        """The page's summary equals `summary(compute(values read from the page))`; a page
        still catching up gets a few seconds."""
        deadline = time.monotonic() + 10
        while True:
            shown = read_page(self.root, self.prefix)
            missing = sorted(set(self.spec) - set(shown["controls"]))
            assert not missing, f"{self.case}: controls not on the page: {missing}"
            arg = json.dumps(shown["controls"])
            got = self.probe.json(
                f"_mexit_probe_at_page({self.case.explorer}, _mexit_probe_json.loads({arg!r}))"
            )
            if normalise(got["summary"]) in normalise(shown["text"]):
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.case} after {what}: the page shows\n  {normalise(shown['text'])!r}\n"
                    f"but compute at the page's values {got['values']} says\n"
                    f"  {normalise(got['summary'])!r}\n(the kernel's widgets: {got['widget']})"
                )
            time.sleep(0.5)
        self.shots += 1
        name = f"{self.shot_prefix}{self.case}"
        self.root.screenshot(path=str(ARTIFACTS / f"{name}-{self.shots}-{what}.png"))
        return shown

    def move(self, what: str, action) -> dict:
        self.moves.append(timed(self.root, action))
        return self.check(what)


def handle_of(control):
    return control.locator(".noUi-handle").first


def exercise(ex: Explorer, arrows: int = 3) -> None:
    """Move an explorer as a student does, checking the page against `compute` after each
    move: the main slider by mouse (to the far side), by `arrows` arrow keys and by End/Home,
    then the placement control by mouse and back (a checkbox by the Space key, a dropdown by
    mouse); the controls and the numbers must come back."""
    page, spec, case = ex.page, ex.spec, ex.case
    start = ex.check("start")

    # the main slider: by mouse, to the far side of where it is
    slider = ex.control(ex.slider)
    assert slider.locator(".noUi-handle").count() == 1, f"{case}: {ex.slider} is not a slider"
    box = slider.locator(".noUi-base").first.bounding_box()
    assert box["width"] >= MIN_TRACK, f"{case}: the track of {ex.slider!r} is {box['width']:.0f} px"
    handle = handle_of(slider)
    position = float(handle.get_attribute("aria-valuenow"))
    low, high = (
        float(handle.get_attribute("aria-valuemin")),
        float(handle.get_attribute("aria-valuemax")),
    )
    up = position < (low + high) / 2
    target = 0.85 if up else 0.15
    dragged = ex.move("mouse", lambda: drag_slider(page, slider, target))
    assert dragged["controls"][ex.slider] != start["controls"][ex.slider], "the drag did nothing"

    # by keyboard on the focused handle: `arrows` arrow steps back toward the middle, then the end
    handle.focus()
    step = -1 if up else 1
    for _ in range(arrows):
        value = float(handle.get_attribute("aria-valuenow"))
        if (step < 0 and value <= low) or (step > 0 and value >= high):
            step = -step  # a short range (an IntSlider of 3 stages): turn at its end
        key = "ArrowLeft" if step < 0 else "ArrowRight"
        ex.move("key", lambda key=key: page.keyboard.press(key))
    end = "End" if float(handle.get_attribute("aria-valuenow")) < high else "Home"
    keyed = ex.move("end", lambda: page.keyboard.press(end))
    assert keyed["controls"][ex.slider] != dragged["controls"][ex.slider]
    shown = {normalise(state["text"]) for state in (start, dragged, keyed)}
    assert len(shown) >= 2, f"{case}: the slider never changed the numbers: {shown}"

    # the placement control: by mouse, then back by keyboard
    toggle = ex.control(ex.toggle)
    kind = spec[ex.toggle]["kind"]
    before = keyed
    if "options" in spec[ex.toggle]:
        select = toggle.locator("select")
        assert select.count() == 1, f"{case}: {ex.toggle} ({kind}) has no <select>"
        options = spec[ex.toggle]["options"]
        assert len(options) >= 2, f"{case}: {ex.toggle} has one option"
        now = before["controls"][ex.toggle]
        other = options[(options.index(now) + 1) % len(options)]
        ex.move("toggle-mouse", lambda: select.select_option(label=other))
        # back by mouse too: in JupyterLab the arrow keys on a focused dropdown move the
        # notebook's cell selection (command mode) and never reach the <select>
        back = ex.move("toggle-back", lambda: select.select_option(label=now))
    else:
        box = toggle.locator("input[type=checkbox]")
        assert box.count() == 1, f"{case}: {ex.toggle} ({kind}) is not a checkbox"
        ex.move("toggle-mouse", lambda: box.click())
        box.focus()
        back = ex.move("toggle-key", lambda: page.keyboard.press("Space"))
    changed = {
        k: (before["controls"].get(k), v)
        for k, v in back["controls"].items()
        if before["controls"].get(k) != v
    }
    assert not changed, f"{case}: toggling {ex.toggle} back did not restore {changed}"
    assert normalise(back["text"]) == normalise(before["text"]), "and restore the numbers"
    timings = [m for m in ex.moves if m is not None]
    assert len(timings) >= 5, f"{case}: only {len(timings)} moves redrew: {ex.moves}"
