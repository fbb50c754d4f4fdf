"""A JupyterLab server on 127.0.0.1 and a headless Chromium page that drives it as a person does.

Used by ``test_widgets_in_browser.py``. It knows nothing of the course's package: it
starts JupyterLab on a temporary copy of the notebooks, opens a notebook, runs all its
cells, and reads what the page shows. The JupyterLab parts that are not plain DOM
(commands, the notebook's model, the kernel's status) go through ``window.jupyterapp``,
which JupyterLab exposes when started with ``--LabApp.expose_app_in_browser=True``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = os.environ.get("FEWSHOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# JupyterLab settings for the test's own (temporary) settings folder: every cell stays in
# the DOM (no virtual scrolling), no news or update checks (there is no network).
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def strip_outputs(source: Path, target: Path) -> None:
    """Copy a notebook without its saved outputs and widget state: what the page shows
    afterwards comes from this run only."""
    notebook = json.loads(source.read_text(encoding="utf-8"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    notebook.get("metadata", {}).pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


class LabServer:
    """``python -m jupyterlab`` on a free port of 127.0.0.1 with a token, serving ``root``."""

    def __init__(self, root: Path, home: Path, env: dict[str, str], log: Path) -> None:
        self.root, self.home, self.log = root, home, log
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        settings = home / "lab-settings"
        for name, values in LAB_SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")
        self.env = {
            **env,
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
            "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
            "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
            "IPYTHONDIR": str(home / "ipython"),
            "MPLCONFIGDIR": str(home / "matplotlib"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_remote_access=False",
            "--ServerApp.allow_root=True",  # CI runs as root
            "--LabApp.extension_manager=readonly",  # no extension look-ups on PyPI
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--ServerApp.shutdown_no_activity_timeout=1800",
        ]
        self.out = open(self.log, "w", encoding="utf-8")  # closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self.out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kernels are stopped with it
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.api("status"), timeout=5) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer in {timeout:.0f} s:\n{self.tail()}")

    def api(self, path: str) -> str:
        return f"{self.url}/api/{path}?token={self.token}"

    def lab_url(self) -> str:
        return f"{self.url}/lab?token={self.token}"

    def tail(self, characters: int = 4000) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-characters:]
        except OSError:
            return ""

    def stop(self, timeout: float = 20) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)  # the server shuts its kernels down
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:  # whatever of this process group is left (a kernel that did not stop)
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.out.close()


@contextmanager
def lab_server(notebooks: list[Path], workdir: Path, env: dict[str, str]):
    """A running :class:`LabServer` on ``workdir/notebooks``, a copy of ``notebooks``
    without outputs; always stopped afterwards."""
    root = workdir / "notebooks"
    root.mkdir(parents=True)
    for notebook in notebooks:
        strip_outputs(notebook, root / notebook.name)
    server = LabServer(root, workdir / "home", env, workdir / "jupyterlab.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir / "home" / "jupyter-runtime", ignore_errors=True)


# ----------------------------------------------------------------------------
# The page
# ----------------------------------------------------------------------------

# JavaScript run in the page. `app` is window.jupyterapp.
OPEN_NOTEBOOK = """async (path) => {
    const app = window.jupyterapp;
    const panel = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
    await panel.context.ready;
    await panel.sessionContext.ready;
    app.shell.activateById(panel.id);
    window.__testPanel = panel;
    // Every error and stderr the kernel sends, also those of widget callbacks (a comm
    // message's error has no cell to show it in).
    window.__testKernelErrors = [];
    // Restarts, lost connections: told when a run does not finish.
    const events = window.__testKernelEvents = [];
    const t0 = Date.now(), when = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';
    panel.sessionContext.statusChanged.connect((_, status) => {
        if (status !== 'busy' && status !== 'idle') events.push(`${when()}: kernel ${status}`);
    });
    panel.sessionContext.connectionStatusChanged.connect((_, status) => {
        events.push(`${when()}: connection ${status}`);
    });
    panel.sessionContext.kernelChanged.connect(() => events.push(`${when()}: new kernel`));
    panel.sessionContext.iopubMessage.connect((_, message) => {
        const type = message.header.msg_type, content = message.content;
        const from = `kernel (${message.parent_header?.msg_type})`;
        if (type === 'error') {
            window.__testKernelErrors.push(`${from}: ${content.ename}: ${content.evalue}\\n` +
                                           (content.traceback || []).join('\\n'));
        } else if (type === 'stream' && content.name === 'stderr' &&
                   /Traceback|Error/.test(content.text)) {
            window.__testKernelErrors.push(`${from} stderr: ${content.text.slice(0, 3000)}`);
        }
    });
    return panel.id;
}"""

RUN_ALL = """async () => {
    const app = window.jupyterapp;
    const panel = window.__testPanel;
    app.shell.activateById(panel.id);
    // wait for a kernel to be connected before running
    for (let i = 0; i < 600 && !(panel.sessionContext.session?.kernel); i++) {
        await new Promise(r => setTimeout(r, 100));
    }
    // Not awaited: the command's promise settles only when the last cell has run.
    app.commands.execute('notebook:run-all-cells').catch(
        (error) => { window.__testRunError = String(error); });
}"""

# The run's state: kernel status, code cells not yet run, errors in the outputs.
NOTEBOOK_STATE = """() => {
    const panel = window.__testPanel;
    const kernel = panel.sessionContext.session?.kernel;
    const cells = panel.content.widgets;
    let pending = 0, code = 0;
    const errors = [];
    cells.forEach((cell, index) => {
        const model = cell.model;
        if (model.type !== 'code') return;
        if (model.sharedModel.getSource().trim() === '') return;
        code += 1;
        if (model.executionCount === null || model.executionState === 'running') pending += 1;
        for (const output of model.outputs.toJSON()) {
            if (output.output_type === 'error') {
                errors.push(`cell ${index}: ${output.ename}: ${output.evalue}\\n` +
                            (output.traceback || []).join('\\n'));
            } else if (output.output_type === 'stream' && output.name === 'stderr' &&
                       /Traceback|Error/.test(String(output.text))) {
                errors.push(`cell ${index} stderr: ${String(output.text).slice(0, 3000)}`);
            }
        }
    });
    if (window.__testRunError) errors.push(`Run All failed: ${window.__testRunError}`);
    // Those of widget callbacks (cells' own errors are in their outputs, above).
    for (const error of window.__testKernelErrors || []) {
        if (!error.startsWith('kernel (execute_request)')) errors.push(error);
    }
    return {status: kernel ? kernel.status : 'no kernel', pending, code, errors,
            connection: kernel ? kernel.connectionStatus : null, kernel: kernel ? kernel.id : null,
            events: window.__testKernelEvents || [],
            running: cells.findIndex(c => c.model.type === 'code' &&
                                          c.model.executionState === 'running')};
}"""

CLOSE_NOTEBOOK = """async () => {
    const panel = window.__testPanel;
    window.__testPanel = null;
    window.__testRunError = null;
    window.__testKernelErrors = [];
    if (!panel) return;
    try { await panel.sessionContext.shutdown(); } catch (e) {}
    panel.context.model.dirty = false;
    panel.dispose();
}"""

# Texts that mean a widget did not render as a widget.
NOT_RENDERED = (
    "FloatProgress(",
    "IntProgress(",
    "HBox(children",
    "VBox(children",
    "Error displaying widget",
    "Error rendering",
)


class LabPage:
    """One Chromium page on the JupyterLab server."""

    def __init__(self, page, server: LabServer) -> None:
        self.page, self.server = page, server
        self.last_area = None  # the output area a driver worked on (for a screenshot)

    def evaluate(self, script: str, arg=None, timeout: float = 60):
        """``page.evaluate`` of an (async) function, rejected after ``timeout`` seconds
        (Playwright's own evaluate waits for ever)."""
        bounded = f"""async (arg) => {{
            let timer;
            const limit = new Promise((_, reject) => {{
                timer = setTimeout(() => reject(new Error('timed out after {timeout:g} s')),
                                   {timeout * 1000:.0f});
            }});
            try {{ return await Promise.race([({script})(arg), limit]); }}
            finally {{ clearTimeout(timer); }}
        }}"""
        return self.page.evaluate(bounded, arg)

    def load(self, timeout: float = 120) -> None:
        self.page.goto(self.server.lab_url(), timeout=timeout * 1000)
        self.page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.started !== undefined"
            " && document.querySelector('#jp-main-dock-panel')",
            timeout=timeout * 1000,
        )
        self.evaluate(
            "async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }",
            timeout=timeout,
        )

    def open(self, name: str, timeout: float = 60) -> None:
        self.evaluate(OPEN_NOTEBOOK, name, timeout=timeout)
        self.notebook().wait_for(state="visible", timeout=timeout * 1000)

    def notebook(self):
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first

    def state(self) -> dict:
        return self.evaluate(NOTEBOOK_STATE, timeout=30)

    def run_all(self, timeout: float) -> float:
        """Run all cells; wait until every code cell has run and the kernel is idle.
        Returns the seconds it took; raises on an error output or the timeout."""
        start = time.monotonic()
        self.evaluate(RUN_ALL, timeout=60)
        deadline = start + timeout
        idle_since = None
        while True:
            state = self.state()
            if state["errors"]:
                raise AssertionError("error in the notebook:\n" + "\n".join(state["errors"]))
            self.assert_no_error_in_page()
            done = state["pending"] == 0 and state["status"] == "idle"
            now = time.monotonic()
            if done:
                idle_since = idle_since or now
                if now - idle_since > 1.0:  # idle for a second: comm messages settled
                    return idle_since - start
            else:
                idle_since = None
            if now > deadline:
                raise TimeoutError(
                    f"not finished after {timeout:.0f} s: {state}\n"
                    f"JupyterLab's log ends:\n{self.server.tail()}"
                )
            self.page.wait_for_timeout(250)

    def assert_no_error_in_page(self) -> None:
        stderr = self.page.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        for i in range(stderr.count()):
            text = stderr.nth(i).inner_text(timeout=5000)
            assert "Traceback" not in text and "Error" not in text, f"stderr in the page:\n{text}"
        dialogs = self.page.locator(".jp-Dialog")
        if dialogs.count():
            raise AssertionError(f"dialog in the page:\n{dialogs.first.inner_text()}")
        state = self.state()
        assert not state["errors"], "error in the notebook:\n" + "\n".join(state["errors"])

    def assert_widgets_rendered(self) -> None:
        outputs = self.notebook().locator(".jp-OutputArea-output")
        for i in range(outputs.count()):
            text = outputs.nth(i).inner_text(timeout=5000)
            for sign in NOT_RENDERED:
                assert sign not in text, f"a widget shown as text ({sign!r}):\n{text[:2000]}"

    def widget_cell(self, selector: str):
        """The output area of the (one) cell whose output holds ``selector``."""
        areas = (
            self.notebook().locator(".jp-Cell-outputArea").filter(has=self.page.locator(selector))
        )
        count = areas.count()
        assert count == 1, f"{count} cells have an output with {selector!r}"
        self.last_area = areas.first
        return areas.first

    def screenshot(self, path: Path) -> None:
        """The last widget's output area (or the page) as a PNG, for a person to look at."""
        target, self.last_area = self.last_area, None
        try:
            if target is None:  # a run that did not finish: show its running cell
                self.evaluate(
                    """() => { const cells = window.__testPanel?.content.widgets || [];
                        const cell = cells.find(c => c.model.executionState === 'running');
                        if (cell) cell.node.scrollIntoView(); }""",
                    timeout=10,
                )
            (target or self.page).screenshot(path=str(path), timeout=10_000)
        except Exception as error:  # a screenshot is a help, never the failure
            print(f"no screenshot {path.name}: {error}")

    def close(self) -> None:
        self.evaluate(CLOSE_NOTEBOOK, timeout=30)


def snapshot(area) -> str:
    """What the widgets' output (``Output``, ``interactive_output``) in an output area shows:
    its pictures' sources and its text. Not the controls: a slider's readout changes in
    the page before the kernel has redrawn anything."""
    return area.evaluate(
        """(node) => {
            const outputs = [...node.querySelectorAll('.widget-output')];
            return (outputs.length ? outputs : [node]).map(output =>
                [...output.querySelectorAll('img')].map(i => i.src).join('|') +
                '\\n' + output.innerText).join('\\n--\\n');
        }"""
    )


def wait_changed(
    page, area, before: str, timeout: float = 60, what: str = "", shows: str | None = None
) -> float:
    """Seconds until ``snapshot(area)`` differs from ``before`` (and holds ``shows``, a
    CSS selector, where given), then stays so for half a second with the kernel idle.

    The kernel's idle status alone proves little: ipykernel also reports busy/idle for
    control and comm messages while a cell or a callback still runs."""
    start = time.monotonic()
    deadline = start + timeout
    changed_at, last = None, None
    while True:
        now = snapshot(area)
        ready = now != before and "Loading" not in now
        if ready and shows is not None:
            ready = area.locator(f".widget-output {shows}").count() > 0
        if ready and now == last and page.state()["status"] == "idle":
            if time.monotonic() - changed_at >= 0.5:
                return changed_at - start
        elif ready and now != last:
            changed_at = time.monotonic()
        last = now if ready else None
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: the output did not change in {timeout:.0f} s")
        page.page.wait_for_timeout(100)
