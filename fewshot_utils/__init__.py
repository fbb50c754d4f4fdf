"""fewshot_utils: the helper package of the few-shot learning course.

One module per idea of the course, in the order the notebooks teach them:

* :mod:`~fewshot_utils.data`, :mod:`~fewshot_utils.glyphs`: Omniglot and the offline Glyphs;
* :mod:`~fewshot_utils.episodes`: N-way K-shot episodes;
* :mod:`~fewshot_utils.backbone`, :mod:`~fewshot_utils.pretraining`: Conv4 and f(x);
* :mod:`~fewshot_utils.cosine_similarity`, :mod:`~fewshot_utils.prototypes`;
* :mod:`~fewshot_utils.fine_tuning`: the three tricks;
* :mod:`~fewshot_utils.evaluation`: accuracy with 95% confidence intervals.
"""

import os

# On a shared 2-core CPU (Binder, a busy laptop) OpenMP threads that spin while they
# wait made small training steps up to 10x slower; waiting passively keeps two threads
# fast. It only takes effect if set before torch is imported, hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _reuse_freed_memory() -> None:
    """Let glibc keep freed blocks of up to 64 MB for reuse instead of returning them.

    By default every large tensor (a batch's activations) is a fresh ``mmap`` that
    the kernel must fault in page by page; measured here, that was 30-50% of the CPU
    time of pretraining and embedding (system time), for about 80 MB more memory.
    Linux with glibc only; elsewhere nothing changes.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (e.g. musl): leave the allocator alone
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 64 << 20)
    libc.mallopt(m_trim_threshold, 128 << 20)


_reuse_freed_memory()


def release_freed_memory() -> None:
    """Hand memory that is free inside the process back to the system (glibc's ``malloc_trim``).

    The price of :func:`_reuse_freed_memory`: after pretraining or embedding, the freed
    activations stay in the process (500 MB after notebook 02's pretraining, measured
    here), so the next big step adds its own on top. ``pretrain``, ``pretrain_siamese``
    and ``embed`` call this when they finish (a few milliseconds), which took notebook
    02's peak from 1.5 to 1.14 GB as a script. Linux with glibc only; elsewhere nothing.
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        return


__version__ = "0.1.0"
