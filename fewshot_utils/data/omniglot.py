"""The data: real Omniglot, or the offline Glyphs, as in-memory tensors.

**Omniglot** (Lake et al. 2015): 1,623 handwritten characters from 50 alphabets,
20 drawings each. Lake's split, used throughout the course:

* ``images_background``: 30 alphabets, 964 characters -> the *base* classes;
* ``images_evaluation``: 20 alphabets, 659 characters -> the *novel* classes.

The files sit in torchvision's layout,
``<root>/omniglot-py/images_background/<Alphabet>/<character>/*.png``, and are
found in this order:

1. already extracted under ``root`` (default ``data/``);
2. a local zip: the ``zips`` argument, or the environment variable
   ``FEWSHOT_OMNIGLOT_ZIPS`` (a folder holding ``images_background.zip`` and
   ``images_evaluation.zip``, or the zip files themselves separated by ``os.pathsep``);
3. a download with torchvision's URLs and checksums, when the network allows.

Each split becomes one ``uint8 [I, 28, 28]`` tensor, strokes bright on dark
(the scans are dark ink on white paper, so they are inverted), cached in
``<root>/omniglot-py/cache/`` and rebuilt when the source folder changes.

The offline stand-in, Glyphs, is in :mod:`fewshot_utils.data.glyphs`;
:func:`fewshot_utils.data.load_dataset` chooses between them.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import socket
import tempfile
import urllib.error
import uuid
import zipfile
import zlib
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from fewshot_utils.data.images import to_dataset_image
from fewshot_utils.data.splits import SPLITS, FewShotSplit
from fewshot_utils.paths import data_root
from fewshot_utils.storage import CorruptFileError, load_tensors, save_atomically
from fewshot_utils.validation import InputError, check_input_file

ZIPS_VARIABLE = "FEWSHOT_OMNIGLOT_ZIPS"
OMNIGLOT_FOLDER = "omniglot-py"
DOWNLOAD_TIMEOUT_SECONDS = 10.0
CACHE_VERSION = 1
HOW_TO_GET_OMNIGLOT = (
    "connect to the internet once and run `python -m fewshot_utils data --dataset omniglot`, "
    f"or set {ZIPS_VARIABLE} to a folder holding images_background.zip and images_evaluation.zip"
)


class OmniglotUnavailable(RuntimeError):
    """Omniglot is neither extracted, nor in a local zip, nor downloadable."""


class BadZip(OmniglotUnavailable, InputError):
    """A zip a learner named (``--zips``) is missing, misnamed or damaged: a bad input,
    and Omniglot cannot be had from it (it is never swapped for Glyphs)."""


# ----------------------------------------------------------------------------
# Finding Omniglot: extracted folder, local zip, download
# ----------------------------------------------------------------------------


def omniglot_folder(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / OMNIGLOT_FOLDER / f"images_{split}"


def _zips_from_environment() -> tuple[list[Path], list[str]]:
    """The zips ``$FEWSHOT_OMNIGLOT_ZIPS`` names, and a note for each part that is missing."""
    value = os.environ.get(ZIPS_VARIABLE, "")
    paths, notes = [], []
    for part in filter(None, value.split(os.pathsep)):
        part = Path(part)
        if part.is_dir():
            paths.extend(sorted(part.glob("images_*.zip")))
        elif part.is_file():
            paths.append(part)
        else:
            notes.append(f"{ZIPS_VARIABLE} names {part}, which does not exist")
    return paths, notes


def check_zips(zips) -> list[Path]:
    """The local zips a learner named (``--zips``), checked before any work starts.

    Each must be ``images_background.zip`` or ``images_evaluation.zip``, or a folder
    holding them, and a zip archive. Returns the zip files; raises :class:`BadZip`
    saying what to fix.
    """
    if isinstance(zips, (str, os.PathLike)):
        zips = [zips]
    names = ", ".join(f"images_{split}.zip" for split in SPLITS)
    found = []
    for given in zips:
        path = Path(given)
        if path.is_dir():
            inside = sorted(path.glob("images_*.zip"))
            if not inside:
                raise BadZip(
                    f"Omniglot zip folder {path} holds no {names}: put the zips there or "
                    "name the zip files themselves"
                )
            found.extend(inside)
            continue
        try:
            check_input_file(path, "Omniglot zip", hint=f"Omniglot's zips are {names}")
        except InputError as error:
            raise BadZip(str(error)) from None
        if path.stem not in (f"images_{split}" for split in SPLITS):
            raise BadZip(
                f"Omniglot zip {path} is not one of Omniglot's zips ({names}): give those "
                "files (the name says which split a zip holds)"
            )
        if not zipfile.is_zipfile(path):
            raise BadZip(
                f"Omniglot zip {path} is not a readable zip file (damaged or cut short): "
                "delete it and get it again"
            )
        found.append(path)
    return found


def _zip_for_split(split: str, zips: list[Path]) -> Path | None:
    for path in zips:
        if Path(path).name == f"images_{split}.zip" and Path(path).is_file():
            return Path(path)
    return None


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike) -> None:
    """Extract a zip into ``target``, refusing members whose path leaves ``target``.

    Every member is extracted (and its CRC checked) in a temporary folder beside
    ``target`` and moved into place only when all of them are, so an interrupted or
    failed extraction (a damaged zip, a full disk) leaves no half folder. A top-level
    folder that already exists is kept, not replaced: it was moved there whole, by an
    earlier extraction or by another process extracting the same zip at the same moment
    (20 learners pressing Run All), which may be reading it.
    """
    target = Path(target).resolve()
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            destination = (target / member.filename).resolve()
            if member.filename.startswith(("/", "\\")) or not destination.is_relative_to(target):
                raise ValueError(
                    f"{archive}: refusing to extract {member.filename!r}, whose path leaves "
                    f"{target}; the archive is unsafe, get it again from its source"
                )
        staging = Path(tempfile.mkdtemp(prefix=".extracting-", dir=target))
        try:
            zipped.extractall(staging)
            for item in staging.iterdir():
                final = target / item.name
                if final.is_dir() and item.is_dir():
                    try:
                        final.rmdir()  # an empty folder is replaced
                    except OSError:
                        continue  # not empty: already there, whole (see above)
                try:
                    os.replace(item, final)
                except OSError:
                    if not (final.is_dir() and item.is_dir()):
                        raise  # not the race above: a real problem
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _download_problem(error: BaseException, timeout: float) -> str:
    """Why a download failed, in a learner's words."""
    if isinstance(error, RuntimeError) and "corrupted" in str(error):
        return "the file arrived damaged or cut short (its checksum does not match)"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s"
    if isinstance(error, http.client.HTTPException):
        return "the download broke off before the end"
    if isinstance(error, urllib.error.HTTPError):
        return f"the server answered {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        if isinstance(reason, socket.gaierror):
            return "no internet connection (the server's name cannot be looked up)"
        if isinstance(reason, ConnectionRefusedError):
            return "the server refused the connection"
        if isinstance(reason, (socket.timeout, TimeoutError)):
            return f"no answer within {timeout:g} s"
        return "the server cannot be reached"
    if isinstance(error, OSError):
        return f"the file cannot be written ({error.strerror or 'input/output error'})"
    return "the download failed"


def download_omniglot_zip(split: str, destination: Path, timeout: float) -> Path:
    """Download ``images_<split>.zip`` with torchvision's URL and md5 checksum.

    The zip is downloaded to a temporary ``.part`` file beside its final name, its
    checksum verified, and only then renamed into place: a download that breaks off
    (or is interrupted) never becomes a zip the course would extract. A zip already
    there is kept when its checksum matches.
    """
    from torchvision.datasets import Omniglot
    from torchvision.datasets.utils import check_integrity, download_url

    name = f"images_{split}"
    url = f"{Omniglot.download_url_prefix}/{name}.zip"
    md5 = Omniglot.zips_md5[name]
    final = Path(destination) / f"{name}.zip"
    if check_integrity(str(final), md5):
        return final
    partial = final.with_name(f".{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        download_url(url, str(final.parent), partial.name, md5)
        os.replace(partial, final)
    except Exception as error:
        raise OmniglotUnavailable(
            f"could not download {url}: {_download_problem(error, timeout)}"
        ) from None
    finally:
        socket.setdefaulttimeout(previous)
        partial.unlink(missing_ok=True)
    return final


def ensure_omniglot(
    root: str | os.PathLike | None = None,
    zips: list[str | os.PathLike] | None = None,
    download: bool = True,
    timeout: float = DOWNLOAD_TIMEOUT_SECONDS,
) -> Path:
    """Make sure both Omniglot splits are extracted under ``root``; return the folder.

    Looks in order at the extracted folders, the local zips (``zips`` or
    ``$FEWSHOT_OMNIGLOT_ZIPS``), then downloads. Zips named in ``zips`` are checked
    first (:func:`check_zips`: a missing, misnamed or damaged one is a :class:`BadZip`).
    Raises :class:`OmniglotUnavailable` saying what was tried and how to get the data.
    """
    root = Path(root) if root is not None else data_root()
    tried = []
    if zips:
        local_zips = check_zips(zips)
    else:
        local_zips, tried = _zips_from_environment()
    for split in SPLITS:
        folder = omniglot_folder(root, split)
        if folder.is_dir() and any(folder.iterdir()):
            continue
        tried.append(f"no folder {folder}")
        archive = _zip_for_split(split, local_zips)
        if archive is None and download:
            try:
                archive = download_omniglot_zip(split, root / OMNIGLOT_FOLDER, timeout)
            except OmniglotUnavailable as error:
                tried.append(str(error))
        elif archive is None:
            tried.append(f"no images_{split}.zip among the local zips and downloading is off")
        if archive is None:
            raise OmniglotUnavailable(
                f"Omniglot's {split} split cannot be had: {'; '.join(tried)}. "
                f"To get it, {HOW_TO_GET_OMNIGLOT}."
            )
        try:
            safe_extract(archive, root / OMNIGLOT_FOLDER)
        except (zipfile.BadZipFile, zlib.error, EOFError):
            raise OmniglotUnavailable(
                f"{archive} is not a readable zip file (damaged or cut short; nothing was "
                "extracted); delete it and get it again"
            ) from None
        if not folder.is_dir():
            raise OmniglotUnavailable(
                f"{archive} did not contain the folder images_{split}/ that Omniglot's zips hold"
            )
    return root / OMNIGLOT_FOLDER


# ----------------------------------------------------------------------------
# Loading a split into memory, with a cache
# ----------------------------------------------------------------------------


def _list_images(folder: Path) -> list[tuple[str, str, Path]]:
    """``(alphabet, character, png)`` for every image, sorted: the split's order."""
    rows = []
    for alphabet in sorted(p for p in folder.iterdir() if p.is_dir()):
        for character in sorted(p for p in alphabet.iterdir() if p.is_dir()):
            for png in sorted(character.glob("*.png")):
                rows.append((alphabet.name, character.name, png))
    return rows


def _signature(rows: list[tuple[str, str, Path]], image_size: int) -> str:
    """Changes when any file is added, removed, resized or touched."""
    digest = hashlib.sha1(f"v{CACHE_VERSION} {image_size}px".encode())
    for _, _, png in rows:
        status = png.stat()
        digest.update(f"{png.parent.parent.name}/{png.parent.name}/{png.name}".encode())
        digest.update(f"{status.st_size} {status.st_mtime_ns}".encode())
    return digest.hexdigest()


def load_image_folder(
    folder: str | os.PathLike,
    dataset: str,
    split: str,
    image_size: int = 28,
    invert: bool = True,
    progress: bool = False,
) -> FewShotSplit:
    """Read ``<folder>/<Alphabet>/<character>/*.png`` into a :class:`FewShotSplit`."""
    folder = Path(folder)
    rows = _list_images(folder)
    if not rows:
        raise ValueError(f"{folder} holds no <alphabet>/<character>/*.png images")
    class_names, alphabets, labels = [], [], []
    index_of = {}
    images = torch.empty(len(rows), image_size, image_size, dtype=torch.uint8)
    for i, (alphabet, character, png) in enumerate(
        tqdm(rows, desc=f"reading {split}", unit="img", disable=not progress)
    ):
        key = f"{alphabet}/{character}"
        if key not in index_of:
            index_of[key] = len(class_names)
            class_names.append(key)
            alphabets.append(alphabet)
        labels.append(index_of[key])
        try:
            with Image.open(png) as image:
                images[i] = to_dataset_image(image, image_size, invert)
        except OSError:
            raise ValueError(
                f"cannot read image {png}: it is damaged or cut short; delete the folder "
                f"{folder} and run again (it is extracted again from its zip)"
            ) from None
    return FewShotSplit(
        dataset=dataset,
        split=split,
        images=images,
        labels=torch.tensor(labels, dtype=torch.long),
        class_names=class_names,
        alphabets=alphabets,
    )


def load_omniglot_split(
    split: str,
    root: str | os.PathLike | None = None,
    image_size: int = 28,
    zips: list[str | os.PathLike] | None = None,
    download: bool = True,
    progress: bool = False,
) -> FewShotSplit:
    """One Omniglot split in memory; first time from the PNGs, later from the cache."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: choose one of {', '.join(SPLITS)}")
    base = ensure_omniglot(root, zips=zips, download=download)
    folder = base / f"images_{split}"
    rows = _list_images(folder)
    signature = _signature(rows, image_size)
    cache = base / "cache" / f"images_{split}-{image_size}px.pt"
    if cache.is_file():
        try:
            state = load_tensors(cache, kind="omniglot-cache", required=("signature", "split"))
            if state["signature"] == signature:
                return FewShotSplit.from_state(state["split"])
        except CorruptFileError:
            pass  # rebuilt below
    loaded = load_image_folder(folder, "omniglot", split, image_size, progress=progress)
    state = {"kind": "omniglot-cache", "signature": signature, "split": loaded.state()}
    save_atomically(state, cache)
    return loaded
