"""Convolution speed: every layer type and one training step of two convolutional autoencoders, npae (Numba
kernels and NumPy references) against PyTorch CPU and the GEMM floor, in one run.

Layers (forward + backward, batch 150, float32): the five layers of the paper's convolutional denoiser at
its shapes (Conv2D 1->64 and 64->32 valid, Conv2DTranspose 32->32 and 32->64, Conv2D 64->1 same), and
four convolutions and MaxPool2D / UpSampling2D of the small-bottleneck model at its shapes (few channels:
other strategies win there; the paper's model has no pooling).
Training steps: the paper's model (npae.experiments.convolutional.paper_model) and the small-bottleneck
one (small_code_model), Adam, BCE from logits, over ``--steps`` batches of 150 MNIST digits (+ 0.55 N(0, 1)
in, clean out; needs NPAE_DATA), per step; npae through ``fit`` (its buffers reused), PyTorch through the usual zero_grad / backward / step.
Both apply the max-norm constraint of the paper's model after each step.

The GEMM floor: the im2col matrix products of each convolution (forward X_col W_col, dL/dW = X_col^T dL/dz,
dL/dX_col = dL/dz W_col^T; the first layer needs no dL/dx) and nothing else, timed on preallocated arrays
with OpenBLAS' own threads: what an im2col implementation on this BLAS would not go below on a quiet machine.
GFLOP/s count the convolution's multiply-adds (2 N Ho Wo kh kw C_in C_out per product) and are printed
beside the sgemm peak measured in the same run (a 2048^3 float32 product, one thread and all threads).

Strategies: each of the three computations of every layer (npae.layers.correlation: correlate, input_grad,
weight_grad) by each strategy that applies (im2col, taps, shifted, stencil), forced, interleaved: the
measurement behind the rules in npae.layers.correlation.strategy.

Everything runs interleaved (one repeat of every candidate, then the next repeat), with the same thread
count for BLAS, PyTorch and NumPy; medians and spreads (max - min) are printed, with the load average.

    python benchmarks/bench_conv.py [--repeats 5] [--steps 4] [--threads 2] [--skip-layers] [--skip-numpy]
"""
import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per candidate (median reported)")
parser.add_argument("--steps", type=int, default=4, help="training steps per repeat")
parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: all cores)")
parser.add_argument("--skip-layers", action="store_true", help="only the training steps")
parser.add_argument("--skip-numpy", action="store_true", help="skip npae's NumPy-reference path (slow)")
arguments = parser.parse_args()
threads = arguments.threads or os.cpu_count()
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # before NumPy loads BLAS
    os.environ[variable] = str(threads)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import npae  # noqa: E402
from _common import header, table  # noqa: E402
from npae.experiments.convolutional import paper_model, small_code_model  # noqa: E402
from npae.kernels import convolution as kernels  # noqa: E402

try:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
except ImportError:
    torch = None

BATCH = 150
rng = np.random.default_rng(0)


def load_average():
    try:
        return os.getloadavg()[0]
    except OSError:
        return float("nan")


def interleaved(candidates, repeats):
    """{name: (median, spread)} of each ``candidates[name]()``, one call of each per round; one warm-up."""
    for function in candidates.values():
        function()
    times = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, function in candidates.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
            time.sleep(0.05)  # let PyTorch's spinning OpenMP threads go idle before the next candidate
    return {name: (statistics.median(values), max(values) - min(values)) for name, values in times.items()}


def milliseconds(result):
    median, spread = result
    return f"{median * 1e3:9.1f} ms (+-{spread * 1e3:.1f})"


def result_row(first_column, label, result):
    """A table row: npae's times, PyTorch's and the GEMM floor's where measured, and the ratios to them."""
    row = {first_column: label, "npae numba": milliseconds(result["numba"])}
    if "numpy" in result:
        row["npae numpy"] = milliseconds(result["numpy"])
    for peer, column in (("torch", "numba / torch"), ("gemm floor", "numba / floor")):
        if peer in result:
            row[peer] = milliseconds(result[peer])
            row[column] = f"{result['numba'][0] / result[peer][0]:.2f}x"
    return row


# ---------------------------------------------------------------------------------------------- layers
def layer_cases():
    """(label, npae layer factory, input shape, torch function(x, W, b) in NCHW) at the models' shapes."""
    cases = [("Conv2D 1->64 3x3 valid, 28x28", lambda: npae.Conv2D(1, 64, 3, activation="relu"), (28, 28, 1),
              "conv", {}, False),
             ("Conv2D 64->32 3x3 valid, 26x26", lambda: npae.Conv2D(64, 32, 3, activation="relu"), (26, 26, 64),
              "conv", {}, True),
             ("Conv2DTranspose 32->32 3x3, 24x24", lambda: npae.Conv2DTranspose(32, 32, 3, activation="relu"),
              (24, 24, 32), "transpose", {}, True),
             ("Conv2DTranspose 32->64 3x3, 26x26", lambda: npae.Conv2DTranspose(32, 64, 3, activation="relu"),
              (26, 26, 32), "transpose", {}, True),
             ("Conv2D 64->1 3x3 same, 28x28", lambda: npae.Conv2D(64, 1, 3, padding="same"), (28, 28, 64),
              "conv", {"padding": 1}, True),
             # the small-bottleneck model's (small_code_model), where few channels change the winners
             ("Conv2D 16->8 3x3 same, 14x14", lambda: npae.Conv2D(16, 8, 3, padding="same", activation="relu"),
              (14, 14, 16), "conv", {"padding": 1}, True),
             ("Conv2D 8->16 3x3 valid, 16x16", lambda: npae.Conv2D(8, 16, 3, activation="relu"), (16, 16, 8),
              "conv", {}, True),
             ("Conv2D 8->8 3x3 same, 8x8", lambda: npae.Conv2D(8, 8, 3, padding="same", activation="relu"),
              (8, 8, 8), "conv", {"padding": 1}, True),
             ("Conv2D 16->1 3x3 same, 28x28", lambda: npae.Conv2D(16, 1, 3, padding="same"), (28, 28, 16),
              "conv", {"padding": 1}, True),
             ("MaxPool2D 2, 28x28x16", lambda: npae.MaxPool2D(2, padding="same"), (28, 28, 16), "pool", {}, True),
             ("UpSampling2D 2, 14x14x16", lambda: npae.UpSampling2D(2), (14, 14, 16), "upsample", {}, True)]
    return cases


def npae_layer_step(layer, x, grad, need_input_grad):
    def step():
        layer.zero_grad()
        layer.forward(x, training=True)
        if need_input_grad:
            layer.backward(grad)
        else:
            layer.backward(grad, need_input_grad=False)
    return step


def torch_layer_step(kind, layer, x, grad, options, need_input_grad):
    x_t = torch.tensor(x.transpose(0, 3, 1, 2).copy(), requires_grad=need_input_grad)
    grad_t = torch.tensor(grad.transpose(0, 3, 1, 2).copy())
    if kind in ("conv", "transpose"):
        W_t = torch.tensor(layer.W.transpose(3, 2, 0, 1).copy(), requires_grad=True)
        b_t = torch.tensor(layer.b, requires_grad=True)
    function = {"conv": lambda: torch.relu(F.conv2d(x_t, W_t, b_t, **options)) if layer.activation.name == "relu"
                else F.conv2d(x_t, W_t, b_t, **options),
                "transpose": lambda: torch.relu(F.conv_transpose2d(x_t, W_t, b_t)),
                "pool": lambda: F.max_pool2d(x_t, 2, ceil_mode=True),
                "upsample": lambda: F.interpolate(x_t, scale_factor=2, mode="nearest")}[kind]
    if kind in ("pool", "upsample"):
        x_t.requires_grad_(True)

    def step():
        out = function()
        out.backward(grad_t)
    return step


def gemm_floor(layer, x):
    """The three im2col products of a convolution layer at this batch, on preallocated arrays."""
    if not isinstance(layer, (npae.Conv2D, npae.Conv2DTranspose)):
        return None
    batch, height, width, _ = x.shape
    out_h, out_w, _ = layer.output_shape(x.shape[1:])
    kh, kw = layer.kernel_size
    if isinstance(layer, npae.Conv2D):   # rows: output pixels; window kh kw C_in; columns: C_out
        rows, window, channels = batch * out_h * out_w, kh * kw * layer.in_channels, layer.out_channels
    else:                                # rows: input pixels; window kh kw C_out; columns: C_in
        rows, window, channels = batch * height * width, kh * kw * layer.out_channels, layer.in_channels
    columns = rng.standard_normal((rows, window), dtype=np.float32)
    W_col = rng.standard_normal((window, channels), dtype=np.float32)
    small = np.empty((rows, channels), np.float32)
    grad_columns = np.empty_like(columns)
    dW = np.empty_like(W_col)
    first = isinstance(layer, npae.Conv2D) and layer.in_channels == 1

    def products():
        np.matmul(columns, W_col, out=small)
        np.matmul(columns.T, small, out=dW)
        if not first:
            np.matmul(small, W_col.T, out=grad_columns)
    return products


def bench_layers():
    rows = []
    for label, factory, shape, kind, options, need_input_grad in layer_cases():
        layer = factory()
        x = rng.uniform(0, 1, (BATCH,) + shape).astype(np.float32)
        grad = rng.standard_normal((BATCH,) + layer.output_shape(shape), dtype=np.float32)
        layer._reuse_buffers = True  # as inside fit
        step = npae_layer_step(layer, x, grad, need_input_grad)
        candidates = {"numba": lambda step=step: npae.set_jit(True) or step()}
        if not arguments.skip_numpy:
            candidates["numpy"] = lambda step=step: npae.set_jit(False) or step()
        if torch is not None:
            candidates["torch"] = torch_layer_step(kind, layer, x, grad, options, need_input_grad)
        floor = gemm_floor(layer, x)
        if floor is not None:
            candidates["gemm floor"] = floor
        result = interleaved(candidates, arguments.repeats)
        npae.set_jit(True)
        row = result_row("layer (forward + backward, batch 150)", label, result)
        if kind in ("conv", "transpose"):
            products = 3 if need_input_grad else 2
            row["numba GFLOP/s"] = f"{products * layer_flops(layer, shape) / result['numba'][0] / 1e9:.1f}"
        rows.append(row)
        print(f"  measured {label} (load {load_average():.1f})", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- training steps
def torch_model(name):
    nn = torch.nn
    if name == "paper":
        return nn.Sequential(nn.Conv2d(1, 64, 3), nn.ReLU(), nn.Conv2d(64, 32, 3), nn.ReLU(),
                             nn.ConvTranspose2d(32, 32, 3), nn.ReLU(), nn.ConvTranspose2d(32, 64, 3), nn.ReLU(),
                             nn.Conv2d(64, 1, 3, padding=1))
    pool = lambda: nn.MaxPool2d(2, ceil_mode=True)  # noqa: E731  (Keras' "same" pooling of 7 -> 4)
    up = lambda: nn.Upsample(scale_factor=2, mode="nearest")  # noqa: E731
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), pool(), nn.Conv2d(16, 8, 3, padding=1), nn.ReLU(),
                         pool(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), pool(),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), up(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), up(),
                         nn.Conv2d(8, 16, 3), nn.ReLU(), up(), nn.Conv2d(16, 1, 3, padding=1))


def torch_training(name, inputs, targets):
    model = torch_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_function = torch.nn.BCEWithLogitsLoss()
    batches = [(torch.tensor(inputs[start:start + BATCH].transpose(0, 3, 1, 2).copy()),
                torch.tensor(targets[start:start + BATCH].transpose(0, 3, 1, 2).copy()))
               for start in range(0, inputs.shape[0], BATCH)]
    kernels_to_constrain = [m.weight for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))] \
        if name == "paper" else []

    def steps():
        for x, y in batches:
            optimizer.zero_grad()
            loss = loss_function(model(x), y)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # Keras' max_norm(2.0), axis 0 of its layout: the kernel rows (dim 2 here)
                for W in kernels_to_constrain:
                    norms = W.square().sum(dim=2, keepdim=True).sqrt()
                    W.mul_(norms.clamp(0, 2.0) / (1e-7 + norms))
    return steps


def npae_training(build, inputs, targets, jit):
    model = build(seed=0)

    def steps():
        npae.set_jit(jit)
        model.fit(inputs, targets, epochs=1, batch_size=BATCH, shuffle=False, verbose=0)
        npae.set_jit(True)
    return steps


def model_gemm_floor(build, images):
    model = build(seed=0)
    x = images[:BATCH]
    floors = []
    for layer in model.layers:
        floor = gemm_floor(layer, x)
        if floor is not None:
            floors.append(floor)
        x = layer.forward(x)
    return lambda: [floor() for floor in floors] and None


def bench_training():
    """Real batches, as the experiment trains on: MNIST digits + 0.55 N(0, 1) in, the clean digits as targets
    (uniform random images train measurably faster here, in npae and in PyTorch alike)."""
    from npae.datasets import load_mnist

    (x_train, _), _ = load_mnist()
    clean = x_train[:BATCH * arguments.steps].reshape(-1, 28, 28, 1)
    noisy = clean + np.float32(0.55) * rng.standard_normal(clean.shape, dtype=np.float32)
    rows = []
    for name, build in (("paper's denoiser", paper_model), ("small bottleneck (4x4x8)", small_code_model)):
        candidates = {"numba": npae_training(build, noisy, clean, True)}
        if not arguments.skip_numpy:
            candidates["numpy"] = npae_training(build, noisy, clean, False)
        if torch is not None:
            candidates["torch"] = torch_training("paper" if build is paper_model else "small", noisy, clean)
        floor = model_gemm_floor(build, clean)
        candidates["gemm floor"] = lambda: [floor() for _ in range(arguments.steps)]
        result = {key: (median / arguments.steps, spread / arguments.steps)
                  for key, (median, spread) in interleaved(candidates, arguments.repeats).items()}
        rows.append(result_row("training step (batch 150)", name, result))
        print(f"  measured {name} (load {load_average():.1f})", file=sys.stderr, flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- strategies
def layer_flops(layer, shape):
    """2 N Ho Wo kh kw C_in C_out: the multiply-adds of one of the convolution's three products, batch BATCH."""
    kh, kw = layer.kernel_size
    if isinstance(layer, npae.Conv2D):
        out_h, out_w, _ = layer.output_shape(shape)
        return 2.0 * BATCH * out_h * out_w * kh * kw * layer.in_channels * layer.out_channels
    return 2.0 * BATCH * shape[0] * shape[1] * kh * kw * layer.in_channels * layer.out_channels


def sgemm_peak():
    """GFLOP/s of a 2048^3 float32 product: (one BLAS thread, all threads), interleaved medians."""
    from npae.kernels import blas

    a = rng.standard_normal((2048, 2048), dtype=np.float32)
    out = np.empty_like(a)

    def one_thread():
        with blas.single_threaded():
            np.matmul(a, a, out=out)
    result = interleaved({"one thread": one_thread, "all threads": lambda: np.matmul(a, a, out=out)}, arguments.repeats)
    return {name: 2 * 2048 ** 3 / median / 1e9 for name, (median, _) in result.items()}


def bench_strategies(peak):
    from npae.layers import correlation

    rows = []
    for label, factory, shape, kind, _, _ in layer_cases():
        if kind not in ("conv", "transpose"):
            continue
        layer = factory()
        layer._reuse_buffers = True
        transposed = isinstance(layer, npae.Conv2DTranspose)
        x = rng.uniform(0, 1, (BATCH,) + shape).astype(np.float32)
        g = rng.standard_normal((BATCH,) + layer.output_shape(shape), dtype=np.float32)
        geometry = layer._convolution_geometry(*shape[:2])
        source, result = (g, x) if transposed else (x, g)   # the correlation's input and output (module docstring)
        W, dW = layer.W, np.zeros_like(layer.W)
        calls = {"correlate": lambda: correlation.correlate(source, W, geometry, np.empty_like(result), layer.buffer),
                 "input_grad": lambda: correlation.correlate_input_grad(result, W, geometry, np.empty_like(source),
                                                                        layer.buffer),
                 "weight_grad": lambda: correlation.correlate_weight_grad(source, result, geometry, dW, layer.buffer)}
        candidates = {}
        chosen = {computation: correlation.strategy(computation, geometry, W.shape[2], W.shape[3])
                  for computation in correlation.STRATEGIES}
        for computation, names in correlation.STRATEGIES.items():
            for name in names:
                if correlation.applies(name, computation, geometry, W.shape[2], W.shape[3]):
                    def run(computation=computation, name=name):
                        correlation.forced[computation] = name
                        try:
                            calls[computation]()
                        finally:
                            correlation.forced.clear()
                    candidates[(computation, name)] = run
        result_times = interleaved(candidates, arguments.repeats)
        flops = layer_flops(layer, shape)
        for (computation, name), value in result_times.items():
            im2col = result_times[(computation, "im2col")][0]
            rows.append({"layer (batch 150)": label, "computation": computation,
                         "strategy": name + (" *" if name == chosen[computation] else ""), "time": milliseconds(value),
                         "GFLOP/s": f"{flops / value[0] / 1e9:.1f}",
                         "of 1-thread peak": f"{flops / value[0] / 1e9 / peak['one thread']:.0%}",
                         "vs im2col": f"{value[0] / im2col:.2f}x"})
        print(f"  measured strategies of {label} (load {load_average():.1f})", file=sys.stderr, flush=True)
    return rows


print(header("npae convolution benchmark: float32, batch 150", ["torch"]))
print(f"threads: BLAS/torch {threads} (npae's convolutions: {threads} threads over blocks of images, one BLAS thread "
      f"each); load average (1 min) at the start {load_average():.2f} on {os.cpu_count()} cores (a load near the "
      "core count before the run means other programs compete): compare the ratios measured in the same run, "
      "not the times.\n")
started = time.perf_counter()
npae.Conv2D(1, 1, 1).forward(np.zeros((1, 1, 1, 1), np.float32))  # compile / load the kernels
kernels.im2col(np.zeros((1, 3, 3, 1), np.float32), 3, 3, 1, 1, 0, 0, np.zeros((1, 1, 1, 9), np.float32))
print(f"first call of the kernels (compile or load from cache): {time.perf_counter() - started:.2f} s\n")
peak = sgemm_peak()
print("sgemm peak (2048^3 float32): " + ", ".join(f"{name} {value:.1f} GFLOP/s" for name, value in peak.items()) + "\n")
if not arguments.skip_layers:
    rows = bench_layers()
    print(table(rows, list(dict.fromkeys(key for row in rows for key in row))), "\n")
    rows = bench_strategies(peak)
    print("strategies (* = the one npae.layers.correlation.strategy picks)")
    print(table(rows, list(rows[0])), "\n")
rows = bench_training()
print(table(rows, list(rows[0])))
print(f"\nload average (1 min) at the end: {load_average():.2f} on {os.cpu_count()} cores "
      "(this benchmark's own threads count in it: only a load well above the core count means that other "
      "programs shared the machine and inflated the times above)")
