"""Blocks of work on every core: worker threads, each with a single-threaded BLAS.

Used by the convolutions (blocks of images, :mod:`npae.layers.correlation`), pooling and upsampling
(:mod:`npae.layers.pooling`) and the kNN searches (blocks of queries, :mod:`npae.knn`).  The Numba kernels
that run inside a block release the GIL (``release_gil=True``).
"""
import concurrent.futures
import itertools
import os
import threading

from . import blas


def in_blocks(blocks, work):
    """work(index, start, stop, slot) for every (start, stop) block of rows (images of a batch, queries of a
    kNN search), on WORKERS threads at once (``slot`` < WORKERS names the thread's own scratch arrays), each
    with a single-threaded BLAS.

    Why threads over blocks rather than OpenBLAS' own threads: OpenBLAS splits each product into fixed
    shares and waits for the slowest, so on a machine whose cores also run other programs every product
    waits for a descheduled thread (the paper's step: 12.9 s against 3.8 s, load ~18 on 2 cores); here a
    thread that is held up simply takes fewer blocks.  The numbers do not depend on which thread took
    which block (every block's product runs on one BLAS thread; sums over blocks are added in block
    order), so a seeded run stays bitwise reproducible.  The Numba kernels release the GIL.
    """
    if WORKERS == 1 or len(blocks) == 1:
        for index, (start, stop) in enumerate(blocks):
            work(index, start, stop, 0)
        return
    with blas.single_threaded():
        pending = [_executor().submit(_in_worker, work, index, start, stop) for index, (start, stop) in enumerate(blocks)]
        for job in pending:
            job.result()   # re-raises a worker's exception here


def parallel_blocks(rows, bytes_per_row, block_bytes):
    """(start, stop) blocks of about ``block_bytes`` of scratch each, and at least 2 WORKERS blocks when
    there are that many rows (so that a held-up thread leaves work for the others)."""
    per_block = max(1, min(block_bytes // max(bytes_per_row, 1), -(-rows // (2 * WORKERS))))
    return [(start, min(start + per_block, rows)) for start in range(0, rows, per_block)]


WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_workers = None
_slots = threading.local()
_slot_counter = itertools.count()


def _executor():
    global _workers
    if _workers is None:
        _workers = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="npae-blocks")
    return _workers


def _in_worker(work, index, start, stop):
    slot = getattr(_slots, "slot", None)
    if slot is None:
        slot = _slots.slot = next(_slot_counter) % WORKERS
    work(index, start, stop, slot)
