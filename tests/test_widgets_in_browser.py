"""The notebooks' widgets in a real browser: JupyterLab on 127.0.0.1, headless Chromium.

Each notebook with a widget is opened in JupyterLab, run top to bottom (Run All), and
its widgets are driven as a learner does: a slider moved with the keyboard, a toggle
button pressed, a dropdown option chosen, images uploaded through the upload button's
file chooser. After each interaction the widget's output must change, and neither the
page nor the kernel may show an error. tqdm's progress bars (notebooks 01 and 02) must
render as widgets, not as text such as ``FloatProgress(...)``.

The server serves a temporary copy of the notebooks (outputs stripped), so nothing in
the repository is touched. The seconds each notebook and each interaction take are
printed at the end and written as JSON to ``$FEWSHOT_BROWSER_TIMINGS`` (default: a
``browser-timings.json`` in pytest's temporary folder).

Skipped, with one line saying why, where Playwright or Chromium is missing. Deselect
with ``-m "not browser"``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from browser_lab import CHROMIUM, CHROMIUM_ARGS, LabPage, lab_server, snapshot, wait_changed

pytestmark = pytest.mark.browser

REPOSITORY = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPOSITORY / "notebooks"
EXAMPLE_IMAGES = REPOSITORY / "data" / "example_images"
# The environment as pytest was started (tests/conftest.py hides the shared data from
# each test; the notebooks should see what a learner's JupyterLab would).
ENVIRONMENT = dict(os.environ)

# Where to keep a PNG of each driven widget after the test (unset: none).
SCREENSHOTS = (
    Path(os.environ["FEWSHOT_BROWSER_SCREENSHOTS"])
    if os.environ.get("FEWSHOT_BROWSER_SCREENSHOTS")
    else None
)

# Seconds for one notebook's Run All (25-65 s each on an idle 2-core machine).
RUN_TIMEOUT = float(os.environ.get("FEWSHOT_BROWSER_RUN_TIMEOUT", 240))
INTERACTION_TIMEOUT = 90  # seconds for one widget to redraw

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None


def missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install playwright)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


# ----------------------------------------------------------------------------
# One server, one browser for the whole module
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timings(request, tmp_path_factory):
    record: dict[str, dict] = {}
    start = time.monotonic()
    yield record
    if not record:  # skipped
        return
    record["total"] = {"seconds": round(time.monotonic() - start, 1)}
    path = Path(
        os.environ.get("FEWSHOT_BROWSER_TIMINGS")
        or tmp_path_factory.getbasetemp() / "browser-timings.json"
    )
    path.write_text(json.dumps(record, indent=1), encoding="utf-8")
    lines = ["", "== widgets in the browser: seconds"]
    for notebook, entry in record.items():
        if notebook in ("total", "startup"):
            lines.append(f"{notebook}: {entry['seconds']} s")
            continue
        lines.append(
            f"{notebook}: {entry.get('seconds', '-')} s in all, of which run all "
            f"{entry.get('run_all', '-')} s"
        )
        for what, seconds in entry.get("interactions", {}).items():
            lines.append(f"    {what}: {seconds}" + (" s" if isinstance(seconds, float) else ""))
    lines.append(f"(written to {path})")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print("\n".join(lines))
    else:  # pragma: no cover
        print("\n".join(lines))


@pytest.fixture(scope="module")
def lab(timings, tmp_path_factory):
    reason = missing()
    if reason:
        pytest.skip(reason)
    workdir = tmp_path_factory.mktemp("browser-lab")
    names = [spec[0] for spec in WIDGET_NOTEBOOKS]
    # The kernels import this checkout's package (on CI the same as the installed one).
    path = os.pathsep.join(filter(None, [str(REPOSITORY), ENVIRONMENT.get("PYTHONPATH")]))
    env = {**ENVIRONMENT, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1"}
    start = time.monotonic()
    with lab_server([NOTEBOOKS / name for name in names], workdir, env) as server:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000
            )
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                context.set_default_timeout(30_000)
                page = LabPage(context.new_page(), server)
                page.load()
                timings["startup"] = {"seconds": round(time.monotonic() - start, 1)}
                yield page
            finally:
                browser.close()


# ----------------------------------------------------------------------------
# Driving the widgets
# ----------------------------------------------------------------------------


def timed(record: dict, what: str, seconds: float) -> None:
    record[what] = round(seconds, 1)


def press_slider(page: LabPage, area, slider, key: str, what: str, record: dict) -> None:
    """Focus a slider's handle, press ``key``; wait for the widget's output to redraw."""
    before = snapshot(area)
    value_before = slider.locator(".widget-readout").inner_text()
    start = time.monotonic()
    slider.locator(".noUi-handle").first.focus()
    slider.locator(".noUi-handle").first.press(key)
    wait_changed(page, area, before, INTERACTION_TIMEOUT, what)
    assert slider.locator(".widget-readout").inner_text() != value_before, what
    timed(record, what, time.monotonic() - start)


def drive_sliders(page: LabPage, record: dict) -> None:
    """A slider widget (03's cosine demo, 04's episode explorer): move the first slider."""
    area = page.widget_cell(".widget-slider")
    assert area.locator("img").count() >= 1, "the widget shows no figure before any change"
    slider = area.locator(".widget-slider").first
    press_slider(page, area, slider, "ArrowRight", "first slider, one step right", record)
    press_slider(page, area, slider, "ArrowLeft", "first slider, one step back", record)


def drive_fine_tuning_explorer(page: LabPage, record: dict) -> None:
    """06's explorer: the dropdown, a toggle button, a selection slider."""
    area = page.widget_cell(".widget-dropdown")
    assert area.locator("img").count() >= 1, "the explorer shows no figure before any change"

    select = area.locator(".widget-dropdown select").first
    options = select.locator("option").all_inner_texts()
    current = select.evaluate("(s) => s.options[s.selectedIndex].text")
    others = [o for o in options if o != current]
    assert others, f"the dropdown has one option only: {options}"
    # The smallest setting redraws fastest (the options read "N-way K-shot").
    choice = min(
        others, key=lambda o: [int("".join(c for c in w if c.isdigit()) or 0) for w in o.split()]
    )
    before = snapshot(area)
    start = time.monotonic()
    select.select_option(label=choice)
    wait_changed(page, area, before, INTERACTION_TIMEOUT, "dropdown")
    timed(record, f"dropdown -> {choice}", time.monotonic() - start)

    buttons = area.locator(".widget-toggle-buttons").first.locator("button")
    active = buttons.evaluate_all("(all) => all.map(b => b.classList.contains('mod-active'))")
    assert not all(active), "every toggle button is pressed already"
    button = buttons.nth(active.index(False))  # by position: its class changes on click
    label = button.inner_text()
    before = snapshot(area)
    start = time.monotonic()
    button.click()
    wait_changed(page, area, before, INTERACTION_TIMEOUT, "toggle button")
    assert "mod-active" in (button.get_attribute("class") or "")
    timed(record, f"toggle button -> {label}", time.monotonic() - start)

    slider = area.locator(".widget-slider").first
    press_slider(page, area, slider, "ArrowLeft", "selection slider, one step left", record)


def choose_files(page: LabPage, upload, files: list[Path]) -> str:
    """Press an upload button and set ``files`` on the ``<input type=file>`` it opens
    (ipywidgets 8 keeps that input out of the DOM, so it is reached as a file chooser).
    Returns the button's text once it counts the files."""
    count_before = upload.inner_text()
    with page.page.expect_file_chooser(timeout=15_000) as chooser:
        upload.click()
    chooser.value.set_files([str(f) for f in files])
    page.page.wait_for_function(
        "([node, before]) => node.innerText !== before",
        arg=[upload.element_handle(), count_before],
        timeout=15_000,
    )
    return upload.inner_text()


def drive_upload(page: LabPage, record: dict) -> None:
    """08's upload widget: two classes of images added to the support set, a query
    uploaded and classified."""
    area = page.widget_cell(".widget-upload")
    uploads = area.locator(".widget-upload")
    assert uploads.count() == 2, f"{uploads.count()} upload buttons (class images, query)"
    class_upload, query_upload = uploads.nth(0), uploads.nth(1)
    text = area.locator(".widget-text input").first
    add = area.locator("button", has_text="add to support set").first
    classify = area.locator("button", has_text="classify").first
    status = area.locator(".widget-label").last  # the Label under the first row

    classes = sorted(p for p in (EXAMPLE_IMAGES / "support").iterdir() if p.is_dir())[:2]
    assert len(classes) == 2, "data/example_images/support/ needs two class folders"
    for folder in classes:
        images = sorted(folder.glob("*.jpg")) + sorted(folder.glob("*.png"))
        before = status.inner_text()
        start = time.monotonic()
        text.fill(folder.name)
        chosen = choose_files(page, class_upload, images)
        add.click()
        # Done when the callback has answered and reset the row: a new status, an empty
        # class name, the upload button no longer counting these files.
        page.page.wait_for_function(
            """([status, text, upload, before, chosen]) => status.innerText !== before &&
                text.value === '' && upload.innerText !== chosen""",
            arg=[
                status.element_handle(),
                text.element_handle(),
                class_upload.element_handle(),
                before,
                chosen,
            ],
            timeout=INTERACTION_TIMEOUT * 1000,
        )
        assert folder.name in status.inner_text(), status.inner_text()
        timed(record, f"add class {folder.name} ({len(images)} images)", time.monotonic() - start)

    query = sorted((EXAMPLE_IMAGES / "queries").glob(f"{classes[0].name}.*"))[:1]
    assert query, f"no query image for {classes[0].name}"
    before = snapshot(area)
    start = time.monotonic()
    choose_files(page, query_upload, query)
    classify.click()
    wait_changed(page, area, before, INTERACTION_TIMEOUT, "classify", shows="img")
    timed(record, "upload a query, classify", time.monotonic() - start)


def check_progress_bars(page: LabPage, record: dict) -> None:
    """01, 02: tqdm's bars render as progress widgets, and the finished ones turned green
    (tqdm's "success" style: the kernel's updates reached the page). That no output reads
    ``FloatProgress(...)`` is checked for every notebook."""
    bars = page.notebook().locator(".jp-OutputArea-output .widget-hprogress")
    assert bars.count() >= 1, "no progress bar widget in the notebook's outputs"
    finished = bars.locator(".progress-bar-success")
    assert finished.count() >= 1, "no progress bar reached its end"
    cells = page.notebook().locator(".jp-Cell-outputArea")
    page.last_area = cells.filter(has=page.page.locator(".widget-hprogress")).first
    record["progress bars"] = f"{bars.count()} shown, {finished.count()} finished"


# In this order: the widget notebooks first, so they use the shipped backbone as on a
# fresh clone (notebook 01 saves checkpoints/conv4.pt in the temporary copy).
WIDGET_NOTEBOOKS = [
    ("03_cosine_similarity.ipynb", drive_sliders),
    ("04_prototype_classifier.ipynb", drive_sliders),
    ("06_init_and_entropy.ipynb", drive_fine_tuning_explorer),
    ("08_putting_it_together.ipynb", drive_upload),
    ("01_pretraining.ipynb", check_progress_bars),
    ("02_siamese_pretraining.ipynb", check_progress_bars),
]

SELECTED = [
    spec
    for spec in WIDGET_NOTEBOOKS
    if not os.environ.get("FEWSHOT_BROWSER_NOTEBOOKS")
    or spec[0][:2] in os.environ["FEWSHOT_BROWSER_NOTEBOOKS"].split(",")
]


@pytest.mark.parametrize("name, drive", SELECTED, ids=[spec[0][:2] for spec in SELECTED])
def test_notebook_widgets_in_browser(lab, timings, name, drive):
    entry = timings.setdefault(name, {"interactions": {}})
    start = time.monotonic()
    lab.open(name)
    try:
        entry["run_all"] = round(lab.run_all(RUN_TIMEOUT), 1)
        lab.assert_widgets_rendered()
        entry["progress_bars"] = lab.notebook().locator(".widget-hprogress").count()
        drive(lab, entry["interactions"])
        lab.assert_widgets_rendered()
        lab.assert_no_error_in_page()
    finally:
        if SCREENSHOTS:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            lab.screenshot(SCREENSHOTS / f"{Path(name).stem}.png")
        lab.close()
        entry["seconds"] = round(time.monotonic() - start, 1)
