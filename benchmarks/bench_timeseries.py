"""Time-series speed: one training epoch of the Conv1D and the LSTM window autoencoders, npae against the same
models in PyTorch in the same run, and the matrix-profile discord's Numba kernel against its NumPy reference.

Epochs: windows of 128 points (stride 1) of GutenTAG's anomaly-free training series (10,000 points: 9,873
windows; needs NPAE_DATA, else the embedded UCR series' 1,200 training points, said in the output), batch 64,
Adam, mean squared error, shuffled; the models of npae.timeseries.models ("conv1d": Keras' tutorial without
dropout, "lstm": LSTM(1, 32), RepeatVector(128), LSTM(32, 32), TimeDistributed(Dense(32, 1))).  npae trains
through ``fit``; PyTorch through the usual zero_grad / backward / step on the same layers (channels first for
the convolutions, padding giving the same lengths; nn.LSTM(batch_first=True)).
The LSTM's time is then split by function (cProfile over a few steps): where it goes.
Discord: the self-join matrix profile of the UCR test series (7,501 points) for m = 128.

Candidates run interleaved (one repeat of each, then the next), medians and spreads (max - min) printed
with the load average: on a shared machine only ratios measured in the same run mean anything.

    python benchmarks/bench_timeseries.py [--repeats 3] [--threads 2] [--max-windows N]
"""
import argparse
import cProfile
import os
import pstats
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats per candidate (median reported)")
parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: all cores)")
parser.add_argument("--max-windows", type=int, default=None, help="train on the first N windows only (quicker)")
parser.add_argument("--skip-discord", action="store_true")
arguments = parser.parse_args()
threads = arguments.threads or os.cpu_count()
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import header, limit_threads, median_time, table  # noqa: E402

limit_threads(threads)

import numpy as np  # noqa: E402

import npae  # noqa: E402
from npae.datasets import load_series  # noqa: E402
from npae.datasets.errors import DataNotFoundError  # noqa: E402
from npae.timeseries import sliding_windows  # noqa: E402
from npae.timeseries.discord import matrix_profile_numba, matrix_profile_numpy  # noqa: E402
from npae.timeseries.models import build_model  # noqa: E402

try:
    import torch

    torch.set_num_threads(threads)
except ImportError:
    torch = None

WINDOW, BATCH = 128, 64


def load_average():
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "n/a"


def training_windows():
    try:
        series, source = load_series("gutentag-ecg", sample=False).train, "GutenTAG train-normal.csv"
    except DataNotFoundError:
        series, source = load_series("ucr-anomaly-135", sample=True).train, "the embedded UCR series (no NPAE_DATA)"
    series = (series - series.mean()) / series.std()
    windows = sliding_windows(series, WINDOW).astype(np.float32)
    return windows[:arguments.max_windows] if arguments.max_windows else windows, source


def torch_models():
    nn = torch.nn

    conv = nn.Sequential(nn.Conv1d(1, 32, 7, stride=2, padding=3), nn.ReLU(), nn.Conv1d(32, 16, 7, stride=2, padding=3),
                         nn.ReLU(), nn.ConvTranspose1d(16, 16, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),
                         nn.ConvTranspose1d(16, 32, 7, stride=2, padding=3, output_padding=1), nn.ReLU(),
                         nn.ConvTranspose1d(32, 1, 7, padding=3))

    class LSTMAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.LSTM(1, 32, batch_first=True)
            self.decoder = nn.LSTM(32, 32, batch_first=True)
            self.output = nn.Linear(32, 1)

        def forward(self, x):
            _, (code, _) = self.encoder(x)
            repeated = code[0][:, None, :].expand(-1, x.shape[1], -1)
            sequence, _ = self.decoder(repeated)
            return self.output(sequence)

    return {"conv1d": conv, "lstm": LSTMAutoencoder()}


def torch_epoch(module, windows, generator):
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    order = torch.randperm(windows.shape[0], generator=generator)
    for start in range(0, windows.shape[0], BATCH):
        batch = windows[order[start:start + BATCH]]
        optimizer.zero_grad()
        loss = ((module(batch) - batch) ** 2).mean()
        loss.backward()
        optimizer.step()


def main():
    print(header("npae time series: one epoch of the Conv1D and LSTM autoencoders, and the discord", ("torch",)))
    print(f"threads: {threads}; load average at start: {load_average()} (a shared machine: compare ratios)")
    windows, source = training_windows()
    print(f"data: {windows.shape[0]:,} windows of {WINDOW} points from {source}, batch {BATCH}, one epoch each\n")
    rows = []
    models = {kind: build_model(kind, WINDOW, 1, seed=0) for kind in ("conv1d", "lstm")}
    for model in models.values():                      # compile the kernels, allocate the buffers
        model.fit(windows[:2 * BATCH], epochs=1, batch_size=BATCH, verbose=0)
    candidates = {f"npae {kind}": (lambda model=model: model.fit(windows, epochs=1, batch_size=BATCH, verbose=0))
                  for kind, model in models.items()}
    if torch is not None:
        modules = torch_models()
        inputs = {"conv1d": torch.from_numpy(windows.transpose(0, 2, 1).copy()), "lstm": torch.from_numpy(windows)}
        generator = torch.Generator().manual_seed(0)
        for kind, module in modules.items():
            torch_epoch(module, inputs[kind][:2 * BATCH], generator)
            candidates[f"torch {kind}"] = (lambda module=module, data=inputs[kind]:
                                           torch_epoch(module, data, generator))
    times = {name: [] for name in candidates}
    cpu_times = {name: [] for name in candidates}   # CPU seconds of the process (all threads) per epoch
    for _ in range(arguments.repeats):
        for name, function in candidates.items():
            cpu_started = time.process_time()
            times[name].append(median_time(function, 1)[0])
            cpu_times[name].append(time.process_time() - cpu_started)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    cpu_medians = {name: float(np.median(values)) for name, values in cpu_times.items()}
    for kind in ("conv1d", "lstm"):
        reference, cpu_reference = medians.get(f"torch {kind}"), cpu_medians.get(f"torch {kind}")
        for name in (f"npae {kind}", f"torch {kind}"):
            if name in medians:
                rows.append({"candidate": name, "epoch (median)": f"{medians[name]:.2f} s",
                             "spread": f"{max(times[name]) - min(times[name]):.2f} s",
                             "vs torch": f"{medians[name] / reference:.2f}x" if reference else "n/a",
                             "CPU s (median)": f"{cpu_medians[name]:.2f} s",
                             "CPU vs torch": f"{cpu_medians[name] / cpu_reference:.2f}x" if cpu_reference else "n/a"})
    print(table(rows, ["candidate", "epoch (median)", "spread", "vs torch", "CPU s (median)", "CPU vs torch"]))
    print("(CPU: the process's CPU time over the epoch, all its threads; on a machine shared with other jobs it is\n"
          " steadier than the wall clock, which also counts the time spent waiting for a core)")
    print(f"targets: Conv1D <= 1.0x PyTorch, LSTM <= 2.0x PyTorch; load average now: {load_average()}\n")

    print("where the npae LSTM epoch goes (cProfile, up to 20 training steps, self time by function):")
    profile = cProfile.Profile()
    model = models["lstm"]
    profile.enable()
    for start in range(0, min(20 * BATCH, windows.shape[0] - BATCH + 1), BATCH):
        model.train_on_batch(windows[start:start + BATCH])
    profile.disable()
    stats = pstats.Stats(profile).stats
    total = sum(value[2] for value in stats.values())
    shares = {}
    for (filename, _, function), value in stats.items():
        if function in ("lstm_cell_forward_numba", "lstm_cell_backward_numba"):
            key = f"cell kernel ({function.split('_')[2]})"
        elif filename.endswith("recurrent.py") and function in ("_forward", "_backward"):
            key = f"LSTM.{function}: its matrix products and copies"
        elif "optimizers" in filename or "kernels/optim" in filename:
            key = "Adam"
        else:
            key = "everything else (other layers, loss, bookkeeping)"
        shares[key] = shares.get(key, 0.0) + value[2]
    print(table([{"part": key, "share": f"{100 * value / total:.0f} %", "seconds": f"{value:.2f}"}
                 for key, value in sorted(shares.items(), key=lambda item: -item[1])], ["part", "share", "seconds"]))

    if not arguments.skip_discord:
        series = load_series("ucr-anomaly-135").test
        matrix_profile_numba(series[:600], WINDOW, series[:600], WINDOW)          # compile
        discord = {"numba kernel (STOMP)": lambda: matrix_profile_numba(series, WINDOW, series, WINDOW),
                   "NumPy reference (blocks of QT by BLAS)":
                       lambda: matrix_profile_numpy(series, WINDOW, series, WINDOW)}
        discord_times = {name: [] for name in discord}
        for _ in range(arguments.repeats):
            for name, function in discord.items():
                discord_times[name].append(median_time(function, 1)[0])
        kernel = float(np.median(discord_times["numba kernel (STOMP)"]))
        print(f"\nmatrix profile, self-join, UCR test series ({series.size:,} points), m = {WINDOW}:")
        print(table([{"implementation": name, "median": f"{float(np.median(values)):.3f} s",
                      "vs kernel": f"{float(np.median(values)) / kernel:.1f}x"}
                     for name, values in discord_times.items()],
                    ["implementation", "median", "vs kernel"]))
    print(f"\nload average at the end: {load_average()}")


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
