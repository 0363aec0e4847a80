"""Each Numba kernel against its NumPy reference, on the shapes of the paper's training step.

Shapes: a batch of 256 MNIST images, (256, 784) float32 (the output layer), (256, 64) for the hidden
layer, and the 50,176 weights of W1 for the optimiser.  For every kernel pair the table shows the median
time per call of both halves, ns per element, and the speed-up; the first call of each kernel (compile or
cache load) is made, and its result checked against the reference, before anything is timed.

    python benchmarks/bench_kernels.py [--repeats 7] [--calls 200]
"""
import argparse
import os
import re
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, table  # noqa: E402
from npae.kernels import REGISTRY  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--repeats", type=int, default=7)
parser.add_argument("--calls", type=int, default=200, help="calls per repeat")
arguments = parser.parse_args()

rng = np.random.default_rng(0)
f32 = np.float32
B, D, H = 256, 784, 64
z = rng.standard_normal((B, D)).astype(f32) * 3
target = rng.uniform(0, 1, (B, D)).astype(f32)
e = np.exp(-np.abs(z))
probabilities = 1 / (1 + e)
bias = rng.standard_normal(D).astype(f32)
hidden = np.maximum(rng.standard_normal((B, H)), 0).astype(f32)
weights = [rng.standard_normal(D * H).astype(f32) for _ in range(3)] + [np.abs(rng.standard_normal(D * H)).astype(f32)]
source = rng.uniform(0, 1, (60000, D)).astype(f32)
indices = rng.permutation(60000)[:B]

BYTES_PER_ELEMENT = {"bias_relu_forward": 8, "bias_identity_forward": 8, "exp_negative_abs": 8, "bias_sigmoid_forward": 8,
                     "sigmoid_bce_from_logits": 12, "mean_squared_error": 12, "sigmoid_backward": 12,
                     "relu_backward": 12, "column_sums": 4, "row_mean_squared_error": 8, "gather_rows": 8,
                     "adam_update": 32, "sgd_momentum_update": 20}   # read + written, float32
CASES = {  # name: (arguments, elements processed per call)
    "bias_relu_forward": (lambda: (hidden.copy(), bias[:H]), B * H),
    "bias_identity_forward": (lambda: (z.copy(), bias), B * D),
    "exp_negative_abs": (lambda: (z, np.empty_like(z)), B * D),
    "bias_sigmoid_forward": (lambda: (z.copy(), bias), B * D),
    "sigmoid_bce_from_logits": (lambda: (z, target, f32(1 / z.size), np.empty_like(z)), B * D),
    "mean_squared_error": (lambda: (probabilities, target, f32(2 / z.size), np.empty_like(z)), B * D),
    "sigmoid_backward": (lambda: (probabilities, target, np.empty_like(z), np.empty(D, f32), False), B * D),
    "relu_backward": (lambda: (hidden, hidden, np.empty_like(hidden), np.empty(H, f32), False), B * H),
    "column_sums": (lambda: (z, np.empty(D, f32), False), B * D),
    "row_mean_squared_error": (lambda: (probabilities, target, np.empty(B)), B * D),
    "gather_rows": (lambda: (source, indices, np.empty((B, D), f32)), B * D),
    "adam_update": (lambda: (*[w.copy() for w in weights], f32(1e-3), f32(0.9), f32(0.999), f32(1e-7),
                             f32(10.0), f32(100.0)), D * H),
    "sgd_momentum_update": (lambda: (*[w.copy() for w in weights[:3]], f32(1e-2), f32(0.9)), D * H),
}


def per_call_seconds(function, arguments_factory):
    arguments_list = arguments_factory()
    times = []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        for _ in range(arguments.calls):
            function(*arguments_list)
        times.append((time.perf_counter() - start) / arguments.calls)
    return statistics.median(times)


def vector_instructions(kernel, example_arguments):
    """(packed, scalar) floating-point arithmetic instructions in the kernel's machine code, and the widest
    register the packed ones use.  Compiled again without the disk cache (Numba cannot show cached code),
    with the kernel's own options."""
    import numba

    fresh = numba.njit(error_model="numpy", fastmath={"contract"} if kernel.fused_multiply_add else False,
                       nogil=kernel.release_gil)(kernel._with_compiled_callees())
    fresh(*example_arguments)
    assembly = "\n".join(fresh.inspect_asm().values()).splitlines()
    arithmetic = r"\s+v(?:add|sub|mul|div|fmadd\w*|fmsub\w*|fnmadd\w*|max|min|sqrt|rsqrt)"
    packed = [re.findall(r"%([xyz])mm", line) for line in assembly if re.match(arithmetic + r"p[sd]\b", line)]
    scalar = [line for line in assembly if re.match(arithmetic + r"s[sd]\b", line)]
    widest = max((register for registers in packed for register in registers), default="-", key="-xyz".find)
    return len(packed), len(scalar), {"x": "xmm (4 float32)", "y": "ymm (8 float32)", "z": "zmm (16 float32)",
                                      "-": "-"}[widest]


def memory_bandwidth():
    """Bytes per ns of a 64 MB copy (read + write), median of the repeats."""
    big, copy = np.ones(16 << 20, f32), np.empty(16 << 20, f32)
    times = []
    for _ in range(arguments.repeats):
        start = time.perf_counter()
        np.copyto(copy, big)
        times.append(time.perf_counter() - start)
    return 2 * big.nbytes / statistics.median(times) / 1e9


print(header("npae kernels: Numba kernel vs NumPy reference, float32, one call"))
print(f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start (other programs may "
      "compete for the cores and memory): compare within this run.")
bandwidth = memory_bandwidth()
rows = []
for name, (factory, elements) in CASES.items():
    pair = REGISTRY[name]
    start = time.perf_counter()
    pair.kernel(*factory())  # compile or load from cache
    first_call = time.perf_counter() - start
    reference = per_call_seconds(pair.reference, factory)
    kernel = per_call_seconds(pair.kernel, factory)
    packed, scalar, widest = vector_instructions(pair.kernel, factory())
    rows.append({"kernel": name, "numpy us": f"{reference * 1e6:.1f}", "numba us": f"{kernel * 1e6:.1f}",
                 "numba ns/elt": f"{kernel / elements * 1e9:.2f}", "elements/ns": f"{elements / kernel / 1e9:.2f}",
                 "memory-bound elements/ns": f"{bandwidth / BYTES_PER_ELEMENT[name]:.2f}",
                 "speed-up": f"{reference / kernel:.2f}x", "packed / scalar FP ops": f"{packed} / {scalar}",
                 "widest vector": widest, "first call s": f"{first_call:.2f}"})
print(table(rows, list(rows[0])))
print(f"\nmemory bandwidth (64 MB copy): {bandwidth:.1f} bytes/ns")
exp_time = per_call_seconds(lambda a, out: np.exp(a, out=out), lambda: (-np.abs(z), np.empty_like(z)))
print(f"for scale: one NumPy np.exp pass over (256, 784) float32: {exp_time * 1e6:.1f} us "
      f"({exp_time / (B * D) * 1e9:.2f} ns/elt)")
