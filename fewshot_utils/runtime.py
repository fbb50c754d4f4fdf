"""How the course runs on this computer: threads, memory and (later) the device.

:mod:`fewshot_utils` calls :func:`prepare_process` when it is imported, before torch is:

* ``OMP_WAIT_POLICY=PASSIVE``: on a shared 2-core CPU (Binder, a busy laptop), OpenMP
  threads that spin while they wait for each other made small training steps several
  times slower; waiting passively keeps two threads fast (the README gives the figures).
  It only takes effect if set before torch is imported;
* glibc keeps freed blocks of up to 64 MB for reuse (:func:`reuse_freed_memory`), and
  :func:`release_freed_memory` hands them back after the big steps.
"""

from __future__ import annotations

import ctypes
import os
import sys


def prepare_process() -> None:
    """Set what must be set before torch loads (see the module docstring)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    reuse_freed_memory()


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): leave the allocator alone
        return None


def reuse_freed_memory() -> None:
    """Let glibc keep freed blocks of up to 64 MB for reuse instead of returning them.

    By default every large tensor (a batch's activations) is a fresh ``mmap`` that
    the kernel must fault in page by page, which cost a large share of the CPU time of
    pretraining and embedding (system time). Linux with glibc only; elsewhere nothing
    changes.
    """
    libc = _glibc()
    if libc is None:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 64 << 20)
    libc.mallopt(m_trim_threshold, 128 << 20)


def release_freed_memory() -> None:
    """Hand memory that is free inside the process back to the system (glibc's ``malloc_trim``).

    The price of :func:`reuse_freed_memory`: after pretraining or embedding, the freed
    activations stay in the process, so the next big step would add its own on top.
    Pretraining and ``embed`` call this when they finish (a few milliseconds). Linux with
    glibc only; elsewhere nothing.
    """
    libc = _glibc()
    if libc is None:
        return
    try:
        libc.malloc_trim(0)
    except AttributeError:  # not glibc
        return
