"""Nothing a learner made is lost or half-written: Ctrl-C, two processes building one
cache, downloads that break off, extractions that stop half-way, doomed runs.

The interrupt and concurrency tests run real ``python -m fewshot_utils`` / ``python -c``
processes on the tiny test data (``tests/conftest.py``).
"""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch

from fewshot_utils.cli import main
from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.data.omniglot import OmniglotUnavailable, safe_extract
from fewshot_utils.models.checkpoints import load_backbone, save_checkpoint
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.paths import shown
from fewshot_utils.storage import load_tensors


def environment(**changes) -> dict:
    """This process's environment without the CI's data, with ``changes``."""
    unwanted = ("FEWSHOT_OMNIGLOT_ZIPS", "FEWSHOT_DATA_DIR")
    env = {k: v for k, v in os.environ.items() if k not in unwanted}
    env.setdefault("PYTHONPATH", str(Path(__file__).resolve().parents[1]))
    return {**env, **changes}


def data_arguments(root: Path, zips) -> list[str]:
    return ["--dataset", "omniglot", "--data-dir", str(root), "--zips", *map(str, zips)]


# ----------------------------------------------------------------------------
# A doomed run fails before any work starts
# ----------------------------------------------------------------------------


def test_a_doomed_pretrain_fails_at_once_before_any_work(tmp_path, tiny_omniglot_zips, capsys):
    (tmp_path / "a_file").write_text("in the way")
    fresh = tmp_path / "fresh_data"
    start = time.perf_counter()
    code = main(
        ["pretrain", *data_arguments(fresh, tiny_omniglot_zips), "--epochs", "20"]
        + ["--out", str(tmp_path / "a_file" / "conv4.pt")]
    )
    seconds = time.perf_counter() - start
    assert code == 2 and "is a file, not a folder" in capsys.readouterr().err
    assert seconds < 1.0  # the arguments are checked first: nothing was loaded or trained
    assert not fresh.exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_pretrain_into_a_read_only_folder_fails_before_training(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["pretrain", "--out", str(locked / "conv4.pt")]) == 2
        assert "no permission to write" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


# ----------------------------------------------------------------------------
# Ctrl-C
# ----------------------------------------------------------------------------


def ctrl_c_as_in_a_terminal() -> None:
    """In the child: SIGINT back to its default. A test suite started in the background
    by a shell inherits SIGINT *ignored*, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_when(arguments: list[str], marker: bytes, env: dict, timeout: float = 240):
    """Start ``python -m fewshot_utils *arguments``, send it SIGINT (Ctrl-C) once
    ``marker`` shows on its stderr; return ``(exit status, stdout, stderr)``."""
    process = subprocess.Popen(
        [sys.executable, "-m", "fewshot_utils", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=ctrl_c_as_in_a_terminal,
    )
    err, out = bytearray(), bytearray()
    seen = threading.Event()

    def read(stream, into, watch):
        for chunk in iter(lambda: stream.read1(4096), b""):
            into.extend(chunk)
            if watch and marker in into:
                seen.set()

    readers = [
        threading.Thread(target=read, args=(process.stderr, err, True), daemon=True),
        threading.Thread(target=read, args=(process.stdout, out, False), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        assert seen.wait(timeout), f"never saw {marker!r}: {bytes(err[-2000:])!r}"
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=120)  # Python takes a few seconds to tidy up
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after Ctrl-C: {bytes(err[-3000:])!r}") from None
    finally:
        if process.poll() is None:
            process.kill()
    for reader in readers:
        reader.join(timeout=10)
    return code, out.decode(errors="replace"), err.decode(errors="replace")


@pytest.fixture
def ready_data(tmp_path, tiny_omniglot_zips):
    """A data folder with the tiny Omniglot extracted and cached, as after a first run."""
    root = tmp_path / "data"
    load_dataset("omniglot", root=root, zips=tiny_omniglot_zips, download=False)
    return root


def test_ctrl_c_during_pretraining_keeps_the_previous_checkpoint(
    tmp_path, ready_data, tiny_omniglot_zips
):
    out = tmp_path / "mine" / "conv4.pt"
    save_checkpoint(out, Conv4(channels=8), Preprocessing(), [{"epoch": 1}])
    before = out.read_bytes()
    arguments = ["pretrain", *data_arguments(ready_data, tiny_omniglot_zips)]
    code, _, err = interrupt_when(
        [*arguments, "--epochs", "1000", "--out", str(out)], b"pretraining", environment()
    )
    assert code == 130, err
    assert "Traceback" not in err
    kept = out.parent / "conv4.last-epoch.pt"  # the finished epochs (tests/test_resume.py)
    said = f"wrote {shown(kept)}" if kept.exists() else "nothing written"
    assert (
        err.strip().splitlines()[-1].startswith(f"interrupted: {said}; {shown(out)} is unchanged")
    )
    assert out.read_bytes() == before and load_backbone(out).history == [{"epoch": 1}]
    left = {p.name for p in out.parent.iterdir()}
    assert left - {"conv4.last-epoch.pt"} == {"conv4.pt"}  # no temporary file left


def test_ctrl_c_during_a_benchmark_writes_nothing(
    tmp_path, ready_data, tiny_omniglot_zips, tiny_checkpoint
):
    results, table = tmp_path / "results.json", tmp_path / "table.md"
    table.write_text("last week's table\n")
    arguments = ["benchmark", "--checkpoint", str(tiny_checkpoint)]
    arguments += [*data_arguments(ready_data, tiny_omniglot_zips), "--episodes", "100000"]
    arguments += ["--settings", "2x1", "--methods", "finetune-all"]
    arguments += ["--json", str(results), "--markdown", str(table)]
    code, out, err = interrupt_when(arguments, b"W = M + entropy + cosine", environment())
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: nothing written; {shown(results)} was not created; "
        f"{shown(table)} is unchanged"
    )
    assert table.read_text() == "last week's table\n" and "wrote" not in out
    assert {p.name for p in tmp_path.iterdir()} == {"data", "table.md"}


def test_ctrl_c_during_evaluate_says_what_was_kept(
    tmp_path, ready_data, tiny_omniglot_zips, tiny_checkpoint, monkeypatch, capsys
):
    """The same, in this process: Ctrl-C while the episodes are being evaluated."""
    from fewshot_utils.fewshot import evaluation

    results = tmp_path / "results.json"
    results.write_text("{}\n")

    def pressed_ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate", pressed_ctrl_c)
    arguments = ["evaluate", "--checkpoint", str(tiny_checkpoint), "--ways", "2"]
    arguments += [*data_arguments(ready_data, tiny_omniglot_zips), "--json", str(results)]
    assert main(arguments) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"interrupted: nothing written; {shown(results)} is unchanged"
    )
    assert results.read_text() == "{}\n"


def test_ctrl_c_inside_a_save_takes_effect_once_the_file_is_whole(tmp_path, monkeypatch):
    """A SIGINT that lands inside torch.save (CI saw it break the zip writer and hide the
    Ctrl-C behind a RuntimeError) is held until the checkpoint is renamed into place."""
    from fewshot_utils import storage

    real_save = torch.save

    def save_with_ctrl_c(obj, file):
        os.kill(os.getpid(), signal.SIGINT)  # delivered here, in the main thread
        real_save(obj, file)

    monkeypatch.setattr(storage.torch, "save", save_with_ctrl_c)
    before = signal.getsignal(signal.SIGINT)
    out = tmp_path / "conv4.last-epoch.pt"
    with pytest.raises(KeyboardInterrupt):
        storage.save_atomically({"kind": "test", "weights": torch.arange(5.0)}, out)
    monkeypatch.undo()
    assert torch.equal(storage.load_tensors(out, "test")["weights"], torch.arange(5.0))
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary file left
    assert signal.getsignal(signal.SIGINT) is before  # the handler it found is back


# ----------------------------------------------------------------------------
# Two processes building the same cache at once
# ----------------------------------------------------------------------------

BUILD_CACHES = """
import torch
from fewshot_utils.data import glyphs
from fewshot_utils.data.datasets import load_dataset
from fewshot_utils.data.splits import FewShotSplit
from fewshot_utils.models.checkpoints import PretrainedBackbone
from fewshot_utils.models.conv4 import Conv4, Preprocessing
from fewshot_utils.models.features import split_features


def small_glyphs(seed=0, image_size=28, progress=False):  # drawing real ones takes seconds
    images = torch.randint(0, 256, (80, image_size, image_size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(seed))
    classes = [str(c) for c in range(4)]
    return tuple(FewShotSplit("glyphs", split, images, torch.arange(80) % 4, classes, ["a"] * 4)
                 for split in ("background", "evaluation"))


glyphs.generate_glyphs = small_glyphs
omniglot = load_dataset("omniglot", root=ROOT, zips=ZIPS, download=False)  # extract + cache
print(omniglot.describe())
background, _ = glyphs.load_glyphs(root=ROOT)  # the Glyphs cache
print(background.describe(), background.images.sum().item())
torch.manual_seed(0)
backbone = PretrainedBackbone(Conv4(channels=16).eval(), Preprocessing())
print(split_features(backbone, omniglot.evaluation).sum().item())  # the feature cache
"""

START = """
import os, sys, time
from pathlib import Path
ROOT, ZIPS = Path(sys.argv[1]), sys.argv[2:]
import fewshot_utils.data, fewshot_utils.models  # imported before the start, like torch
(ROOT.parent / f"ready-{os.getpid()}").touch()
while not (ROOT.parent / "go").exists():
    time.sleep(0.002)
"""


def test_two_processes_building_the_same_caches_both_succeed(tmp_path, tiny_omniglot_zips):
    """Two learners press Run All at the same moment on one fresh data folder: both
    extract and cache Omniglot, cache Glyphs and cache the features at the same time;
    both succeed with the same data, and every cache is whole."""
    root = tmp_path / "shared" / "data"
    root.parent.mkdir()
    arguments = [str(root), *map(str, tiny_omniglot_zips)]
    env = environment(FEWSHOT_DATA_DIR=str(root))
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", START + BUILD_CACHES, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(2)
    ]
    deadline = time.monotonic() + 240
    while len(list(root.parent.glob("ready-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
        assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
    (root.parent / "go").touch()  # both start building at the same moment
    outputs = [p.communicate(timeout=240) for p in processes]
    for process, (_, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err
        assert "Traceback" not in err
    assert outputs[0][0] == outputs[1][0]  # the same data in both
    caches = {
        "omniglot": sorted(root.glob("omniglot-py/cache/*.pt")),
        "glyphs": sorted(root.glob("glyphs/*.pt")),
        "features": sorted(root.glob("features/*.pt")),
    }
    assert [len(found) for found in caches.values()] == [2, 1, 1], caches
    for cache in sum(caches.values(), []):
        assert load_tensors(cache, torch.load(cache, weights_only=True)["kind"])  # whole
    assert [p for p in root.rglob("*") if p.name.startswith(".")] == []  # nothing half-made


# ----------------------------------------------------------------------------
# Downloads that break off, extractions that stop
# ----------------------------------------------------------------------------


class CutShort(http.server.SimpleHTTPRequestHandler):
    """Serves a file's headers (its full length) and only the first half of its bytes."""

    def copyfile(self, source, outputfile):
        data = source.read()
        outputfile.write(data[: len(data) // 2])
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def zip_server(tiny_omniglot_zips, monkeypatch):
    """Serve the tiny zips from 127.0.0.1 under torchvision's names, with their md5."""
    from torchvision.datasets import Omniglot
    from torchvision.datasets.utils import calculate_md5

    servers = []

    def serve(handler=CutShort):
        handler = functools.partial(handler, directory=str(tiny_omniglot_zips[0].parent))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        monkeypatch.setattr(
            Omniglot, "download_url_prefix", f"http://127.0.0.1:{server.server_port}"
        )
        monkeypatch.setattr(
            Omniglot, "zips_md5", {z.stem: calculate_md5(str(z)) for z in tiny_omniglot_zips}
        )

    yield serve
    for server in servers:
        server.shutdown()


def assert_nothing_kept(root: Path) -> None:
    base = root / "omniglot-py"
    kept = sorted(p.name for p in base.iterdir()) if base.exists() else []
    assert kept == [], kept  # no zip, no .part file, no half folder


def test_a_download_cut_short_never_becomes_a_zip(tmp_path, zip_server):
    zip_server(CutShort)
    with pytest.raises(OmniglotUnavailable, match="could not download") as raised:
        load_dataset("omniglot", root=tmp_path)
    assert "broke off" in str(raised.value) or "cut short" in str(raised.value)
    assert_nothing_kept(tmp_path)


def test_a_download_with_the_wrong_checksum_is_not_kept(tmp_path, zip_server, monkeypatch):
    from torchvision.datasets import Omniglot

    zip_server(http.server.SimpleHTTPRequestHandler)
    monkeypatch.setattr(Omniglot, "zips_md5", {s: "0" * 32 for s in Omniglot.zips_md5})
    with pytest.raises(OmniglotUnavailable, match="checksum does not match"):
        load_dataset("omniglot", root=tmp_path)
    assert_nothing_kept(tmp_path)


def test_an_interrupted_download_leaves_nothing(tmp_path, zip_server, monkeypatch):
    from torchvision.datasets import utils

    zip_server(http.server.SimpleHTTPRequestHandler)

    def interrupted(url, filename, chunk_size=32768):
        Path(filename).write_bytes(b"PK\x03\x04 the first bytes")
        raise KeyboardInterrupt

    monkeypatch.setattr(utils, "_urlretrieve", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset("omniglot", root=tmp_path)
    assert_nothing_kept(tmp_path)


def test_an_interrupted_extraction_leaves_no_half_folder(tmp_path, tiny_omniglot_zips, monkeypatch):
    original = zipfile.ZipFile._extract_member
    calls = []

    def stop_half_way(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 20:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "_extract_member", stop_half_way)
    target = tmp_path / "omniglot-py"
    with pytest.raises(KeyboardInterrupt):
        safe_extract(tiny_omniglot_zips[0], target)
    assert list(target.iterdir()) == []


def test_a_zip_damaged_inside_is_refused_and_nothing_extracted(tmp_path, tiny_omniglot_zips):
    damaged = tmp_path / "zips" / "images_background.zip"
    damaged.parent.mkdir()
    data = bytearray(tiny_omniglot_zips[0].read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)  # a member's data, not the directory at the end
    damaged.write_bytes(bytes(data))
    assert zipfile.is_zipfile(damaged)  # it still looks like a zip from the outside
    with pytest.raises(OmniglotUnavailable, match="not a readable zip file"):
        load_dataset("omniglot", root=tmp_path / "data", zips=[damaged], download=False)
    assert_nothing_kept(tmp_path / "data")


def test_extracting_again_keeps_the_folder_already_there(tmp_path, tiny_omniglot_zips):
    """What a second process does when the first finished extracting a moment before."""
    target = tmp_path / "omniglot-py"
    safe_extract(tiny_omniglot_zips[0], target)
    first = sorted(p.relative_to(target) for p in target.rglob("*.png"))
    stamp = next(target.rglob("*.png")).stat().st_mtime_ns
    safe_extract(tiny_omniglot_zips[0], target)
    assert sorted(p.relative_to(target) for p in target.rglob("*.png")) == first
    assert next(target.rglob("*.png")).stat().st_mtime_ns == stamp  # kept, not replaced
    assert [p.name for p in target.iterdir()] == ["images_background"]
