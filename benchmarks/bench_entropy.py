"""npae's arithmetic coder: the Numba kernel against the Python reference, and against zlib and lzma.

Data: codes like the compression experiment's, N rows of q symbols from a peaked distribution (a
discretised Laplace, most mass on a few symbols, a long tail), alphabet 32 (5-bit codes).  Rows:
encode and decode time per symbol (median of ``--repeats`` for the kernel and zlib, one run of the reference and lzma), the output size
against the model's information -sum log2 p (the Shannon bound of the stored tables), and for comparison
zlib (level 9) and lzma (preset 9) over the same symbols stored as one byte each, which know nothing of
the columns' distributions.  The Python reference runs on the first 1/50 of the rows (it is ~100x slower);
its per-symbol time is scaled, not extrapolated.

    python benchmarks/bench_entropy.py [--rows 20000] [--columns 32] [--repeats 5]
"""
import argparse
import lzma
import zlib

from _common import header, median_time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--rows", type=int, default=20000)
parser.add_argument("--columns", type=int, default=32)
parser.add_argument("--repeats", type=int, default=5)
arguments = parser.parse_args()

import numpy as np  # noqa: E402

from npae import entropy_coding as ec  # noqa: E402
from npae._backend import jit  # noqa: E402

print(header("npae.entropy_coding: arithmetic coding of factorised codes"))
rng = np.random.default_rng(0)
alphabet = 32
scales = rng.uniform(0.5, 4.0, arguments.columns)
codes = np.clip(np.rint(rng.laplace(0, scales, (arguments.rows, arguments.columns))) + alphabet // 2,
                0, alphabet - 1).astype(np.int64)
tables = ec.frequency_tables(codes, alphabet)
bound = ec.information_bits(codes, tables) / 8
small = codes[:max(1, arguments.rows // 50)]

stream = ec.encode(codes, tables)       # warm-up: compile (or load from the cache) the kernels
ec.decode(stream, tables, codes.shape[0])
with jit(False):
    small_stream = ec.encode(small, tables)
kernel_encode = median_time(lambda: ec.encode(codes, tables), arguments.repeats)[0] / codes.size
kernel_decode = median_time(lambda: ec.decode(stream, tables, codes.shape[0]), arguments.repeats)[0] / codes.size
with jit(False):
    reference_encode = median_time(lambda: ec.encode(small, tables), 1)[0] / small.size
    reference_decode = median_time(lambda: ec.decode(small_stream, tables, small.shape[0]), 1)[0] / small.size
raw = codes.astype(np.uint8).tobytes()
zlib_time = median_time(lambda: zlib.compress(raw, 9), arguments.repeats)[0] / codes.size
lzma_time = median_time(lambda: lzma.compress(raw, preset=9), 1)[0] / codes.size
print(f"{arguments.rows:,} rows x {arguments.columns} columns = {codes.size:,} symbols, alphabet {alphabet}; "
      f"plain storage {codes.size * 5 / 8:,.0f} bytes (5 bits), the model's bound {bound:,.0f} bytes")
print(f"{'coder':<28}{'encode ns/symbol':>18}{'decode ns/symbol':>18}{'bytes':>12}{'/ bound':>9}")
print(f"{'npae, Numba kernel':<28}{kernel_encode * 1e9:>18.1f}{kernel_decode * 1e9:>18.1f}{len(stream):>12,}"
      f"{len(stream) / bound:>9.4f}")
print(f"{'npae, Python reference':<28}{reference_encode * 1e9:>18.1f}{reference_decode * 1e9:>18.1f}{'':>12}{'':>9}")
print(f"{'zlib -9 (one byte a symbol)':<28}{zlib_time * 1e9:>18.1f}{'':>18}{len(zlib.compress(raw, 9)):>12,}"
      f"{len(zlib.compress(raw, 9)) / bound:>9.4f}")
print(f"{'lzma -9 (one byte a symbol)':<28}{lzma_time * 1e9:>18.1f}{'':>18}{len(lzma.compress(raw, preset=9)):>12,}"
      f"{len(lzma.compress(raw, preset=9)) / bound:>9.4f}")
print(f"kernel / reference: encode {reference_encode / kernel_encode:.0f}x faster, decode "
      f"{reference_decode / kernel_decode:.0f}x faster (the same bytes: tests/test_entropy_coding.py)")
