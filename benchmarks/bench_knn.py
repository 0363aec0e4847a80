"""kNN on MNIST and Fashion-MNIST, the paper's tables 1 and 2: npae against scikit-learn, faiss-cpu and the GEMM floor.

Set-up: the 60,000 training images against the 10,000 test images, k = 7, Euclidean distance,
uniform votes, float32.  Features: the 784 raw pixels of both data sets, and for MNIST the first 8
and 16 principal components too (npae.pca.PCA fitted on the training images: a stand-in for an
autoencoder's latent features).

Each row is fit + predict of the whole test set (the paper's "running time"; for npae's lower
bounds that includes its PCA, its trial and its projections), the median of ``--repeats`` runs
with the spread (max - min); the methods of a feature set take turns, one run each per round, so
that a busy moment of the machine does not fall on one method only.  npae gets one warm-up call
first so that Numba's compile (or cache load) is not timed, and that time is printed on its own
line.  Ratios are to scikit-learn's brute force, to scikit-learn's default (``algorithm="auto"``,
which picks a KD-tree below 16 features and brute force otherwise), to faiss' ``IndexFlatL2`` and to
the *GEMM floor*: the float32 products q t^T of all test against all training points, in the blocks
npae's brute force uses, and nothing else: the work that no method based on the GEMM identity can
avoid.  "same as sklearn" counts the test images whose predicted label equals scikit-learn brute
force's; "raw distances" is, for npae's lower bounds, the number of 784-pixel distances computed
per query (mean / 99th percentile), against 60,000 for brute force.

    python benchmarks/bench_knn.py [--quick] [--repeats 5] [--threads N] [--data mnist,fashion-mnist]

``--grid`` prints issue 20's table instead: raw pixels of each data set, training sets of --sizes
images (default 15,000, 30,000, 60,000: the first ones) against --queries test images (10,000),
k in --ks (1, 7, 15); per row the GEMM floor, npae's gemm and lower_bounds (fit + kneighbors, medians
of --repeats runs taking turns), lower_bounds' seconds: fit, search, then per stage of the search
(screen, threshold, survivors, refine, finish, fallback; thread-seconds summed over its worker threads,
so up to twice the search's wall-clock seconds), pairs per second (n x Q / seconds), the ratios to the floor,
and whether lower_bounds' neighbours are gemm's (both certified exact).  ``--isotropic`` adds a
300-dimensional Gaussian set (nothing to prune) where auto is compared with gemm.

    python benchmarks/bench_knn.py --grid [--sizes 60000] [--ks 7] [--data mnist] [--isotropic]
"""
import argparse
import os
import statistics
import sys
import time

parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
parser.add_argument("--quick", action="store_true", help="10,000 training x 2,000 test images, 3 repeats")
parser.add_argument("--repeats", type=int, default=None,
                    help="runs per row, median reported (default 5; 3 with --quick)")
parser.add_argument("--threads", type=int, default=None, help="BLAS (and faiss) threads (default: all cores)")
parser.add_argument("--data", default="mnist,fashion-mnist", help="comma-separated: mnist, fashion-mnist")
parser.add_argument("--grid", action="store_true", help="issue 20's table (see the docstring)")
parser.add_argument("--sizes", default="15000,30000,60000", help="--grid: training set sizes")
parser.add_argument("--ks", default="1,7,15", help="--grid: values of k")
parser.add_argument("--queries", type=int, default=10000, help="--grid: test images per row")
parser.add_argument("--isotropic", action="store_true", help="--grid: add the 300-d Gaussian set")
arguments = parser.parse_args()
if arguments.threads:  # must happen before NumPy loads OpenBLAS
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(arguments.threads)
repeats = arguments.repeats or (3 if arguments.quick or arguments.grid else 5)

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _common import header, table  # noqa: E402
from npae import knn  # noqa: E402
from npae.datasets import load_fashion_mnist, load_mnist  # noqa: E402
from npae.pca import PCA  # noqa: E402

try:
    from sklearn.neighbors import KNeighborsClassifier
except ImportError:
    KNeighborsClassifier = None
faiss = None
if not arguments.grid:
    # Not for --grid, which does not run faiss: faiss-cpu brings its own OpenBLAS, and with two OpenBLAS
    # libraries loaded npae.kernels.blas may set the thread count of faiss' instead of NumPy's, so that
    # npae's one-thread products (the worker threads, the PCA's eigh) ran on two threads each.
    try:
        import faiss
    except ImportError:
        faiss = None

K = 7
SLOW_RUN = 10.0  # seconds
LOADERS = {"mnist": ("MNIST", load_mnist), "fashion-mnist": ("Fashion-MNIST", load_fashion_mnist)}
datasets = [name.strip() for name in arguments.data.split(",")]
if not set(datasets) <= set(LOADERS):
    parser.error(f"--data: expected names from {', '.join(LOADERS)}, got {arguments.data!r}")

print(header(f"npae kNN benchmark: {', '.join(LOADERS[name][0] for name in datasets)}, k = {K}",
             ["sklearn"] if arguments.grid else ["sklearn", "faiss"]))
faiss_threads = f", faiss {faiss.omp_get_max_threads()} threads" if faiss else ""
blas_variable = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
print(f"threads: BLAS {arguments.threads or os.cpu_count()} (OPENBLAS_NUM_THREADS={blas_variable})"
      f"{faiss_threads}; npae's Numba kernels single-threaded")
print("load average (1 min) at the start: {:.2f} on {} cores: other work competes for the CPU when it is high"
      .format(os.getloadavg()[0], os.cpu_count()))
print(f"rows: fit + predict in seconds, median of {repeats} runs (at most 3 when a run takes over {SLOW_RUN:.0f} s), "
      f"methods taking turns; spread = max - min; accuracy on the test labels\n")


# ------------------------------------------------------------------------------------------------ peers
def gemm_floor(train, test):
    """The float32 products of every test point with every training point, in npae's blocks, nothing else."""
    query_block, train_block = min(len(test), knn.MAX_QUERY_BLOCK), min(len(train), knn.GEMM_TRAIN_BLOCK)
    buffer = np.empty(query_block * train_block, np.float32)
    for start in range(0, len(test), query_block):
        queries = test[start:start + query_block]
        for first in range(0, len(train), train_block):
            block = train[first:first + train_block]
            np.matmul(queries, block.T, out=buffer[:len(queries) * len(block)].reshape(len(queries), len(block)))


def faiss_predict(train, labels, test):
    index = faiss.IndexFlatL2(train.shape[1])
    index.add(train)
    _, indices = index.search(test, K)
    neighbour_labels = labels[indices]  # (Q, k)
    counts = np.zeros((len(test), labels.max() + 1), np.int64)
    for column in range(K):
        counts[np.arange(len(test)), neighbour_labels[:, column]] += 1
    return counts.argmax(axis=1)  # same vote rule: a tie goes to the smallest label


def take_turns(methods):
    """Time every method ``repeats`` times, one run of each per round (at most 3 runs for a method whose
    first run took over SLOW_RUN seconds: scikit-learn's and faiss' brute force on raw pixels, ~20 s each).

    methods: {name: function}.  Returns {name: (median seconds, spread = max - min, runs, first result)}.
    """
    times = {name: [] for name in methods}
    results = {}
    for round_number in range(repeats):
        for name, function in methods.items():
            if round_number >= 3 and times[name][0] > SLOW_RUN:
                continue
            start = time.perf_counter()
            result = function()
            times[name].append(time.perf_counter() - start)
            results.setdefault(name, result)
    return {name: (statistics.median(runs), max(runs) - min(runs), len(runs), results[name])
            for name, runs in times.items()}


# ------------------------------------------------------------------------------------------------- grid
def grid_rows():
    """Issue 20's table: per data set, size and k, the floor, gemm and lower_bounds taking turns."""
    from npae.knn.lower_bounds import STAGES

    sets = []
    for name in datasets:
        title, loader = LOADERS[name]
        (x_train, _), (x_test, _) = loader()
        sets.append((title, x_train, x_test[:arguments.queries]))
    if arguments.isotropic:
        rng = np.random.default_rng(0)
        sets.append(("isotropic 300-d", rng.standard_normal((max(sizes), 300), np.float32),
                     rng.standard_normal((arguments.queries, 300), np.float32)))
    warm = sets[0][1][:3000]
    for algorithm in ("gemm", "lower_bounds"):
        knn.KNNClassifier(algorithm=algorithm).fit(warm, np.zeros(3000)).kneighbors(warm[:50])
    lines, targets = [], []
    for title, x_all, test in sets:
        for n in sizes:
            train = np.ascontiguousarray(x_all[:n])
            for k in ks:
                print(f"{title}, n = {n:,}, k = {k}", flush=True)
                models = {name: knn.KNNClassifier(k=k, algorithm=name) for name in ("gemm", "lower_bounds", "auto")}
                if not title.startswith("isotropic"):
                    del models["auto"]
                stages = {}

                def run(model):
                    def timed():
                        start = time.perf_counter()
                        model.fit(train, np.zeros(n, np.int64))
                        fitted = time.perf_counter()
                        result = model.kneighbors(test)[1]
                        if model.algorithm_ == "lower_bounds":
                            seconds = dict(model._search.stage_seconds)
                            seconds["fit"] = fitted - start
                            seconds["search"] = time.perf_counter() - fitted
                            stages.setdefault(id(model), []).append(seconds)
                        return result, None
                    return timed

                methods = {"floor": lambda: (gemm_floor(train, test), None)}
                methods.update((name, run(model)) for name, model in models.items())
                timings = take_turns(methods)
                floor = timings["floor"][0]
                same = np.array_equal(timings["lower_bounds"][3][0], timings["gemm"][3][0])
                line = {"data": title, "n": f"{n:,}", "k": k, "floor s": f"{floor:.2f}"}
                for name in models:
                    line[f"{name} s"] = f"{timings[name][0]:.2f}"
                    line[f"{name}/floor"] = f"{timings[name][0] / floor:.2f}x"
                line["lb Mpairs/s"] = f"{n * len(test) / timings['lower_bounds'][0] / 1e6:.0f}"
                runs = stages.get(id(models["lower_bounds"]))
                if runs:
                    middle = sorted(runs, key=lambda r: sum(r.values()))[len(runs) // 2]
                    line["lb s: " + "/".join(("fit", "search") + STAGES)] = "/".join(
                        f"{middle[stage]:.2f}" for stage in ("fit", "search") + STAGES)
                line["lb = gemm"] = "yes" if same else "NO"
                if "auto" in models:
                    line["auto/gemm"] = f"{timings['auto'][0] / timings['gemm'][0]:.2f}x"
                    targets.append((f"{title} n={n} k={k}: auto within 1.1x of gemm",
                                    timings["auto"][0] / timings["gemm"][0], 1.1))
                else:
                    targets.append((f"{title} n={n} k={k}: lower_bounds <= 0.4x floor",
                                    timings["lower_bounds"][0] / floor, 0.4))
                targets.append((f"{title} n={n} k={k}: gemm <= 1.3x floor", timings["gemm"][0] / floor, 1.3))
                lines.append(line)
                print(table([line], list(line)), flush=True)
    print("\n## all rows\n" + table(lines, list(dict.fromkeys(key for line in lines for key in line))))
    print("\n## targets")
    for description, value, limit in targets:
        print(f"{'PASS' if value <= limit else 'FAIL'}  {description}: {value:.2f}x")
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")


if arguments.grid:
    sizes = [int(size) for size in arguments.sizes.split(",")]
    ks = [int(k) for k in arguments.ks.split(",")]
    grid_rows()
    sys.exit(0)


# ------------------------------------------------------------------------------------------------- runs
feature_sets = []
for name in datasets:
    title, loader = LOADERS[name]
    (x_train, y_train), (x_test, y_test) = loader()
    if arguments.quick:
        x_train, y_train, x_test, y_test = x_train[:10000], y_train[:10000], x_test[:2000], y_test[:2000]
    feature_sets.append((title, "raw pixels", x_train, y_train, x_test, y_test))
    if name == "mnist":
        pca = PCA(n_components=16).fit(x_train)
        train_16, test_16 = pca.transform(x_train).astype(np.float32), pca.transform(x_test).astype(np.float32)
        feature_sets.append((title, "PCA 8", np.ascontiguousarray(train_16[:, :8]), y_train,
                             np.ascontiguousarray(test_16[:, :8]), y_test))
        feature_sets.append((title, "PCA 16", train_16, y_train, test_16, y_test))

start = time.perf_counter()
for algorithm in ("gemm", "kdtree", "lower_bounds"):
    x_small = feature_sets[0][2][:3000]
    features = x_small[:, :16] if algorithm == "kdtree" else x_small
    knn.KNNClassifier(algorithm=algorithm).fit(features, np.zeros(3000)).predict(features[:5])
print(f"first calls of npae's Numba kernels (compile, or load from the on-disk cache): "
      f"{time.perf_counter() - start:.2f} s, not in the rows\n")


def npae_run(model, train, labels, test):
    def run():
        predictions = model.fit(train, labels).predict(test)
        return predictions, getattr(model, "raw_distances_", None)
    return run


def sklearn_run(model, train, labels, test):
    return lambda: (model.fit(train, labels).predict(test), None)


targets = []
for title, features, train, y_train, test, y_test in feature_sets:
    n_features = train.shape[1]
    print(f"## {title}, {features}, {n_features} features, {len(train):,} x {len(test):,}", flush=True)
    methods = {"GEMM floor (products only)": lambda: (gemm_floor(train, test), None)}
    chosen = knn.KNNClassifier(k=K).fit(train, y_train).algorithm_  # what "auto" picks here
    others = ["gemm", "kdtree", "direct"] if n_features <= 16 else ["lower_bounds", "gemm"]
    npae_methods = [(f"npae auto (= {chosen})", "auto")] + [(f"npae {other}", other) for other in others
                                                             if other != chosen]
    for name, algorithm in npae_methods:
        model = knn.KNNClassifier(k=K, algorithm=algorithm)
        model.fit(train[:2000], y_train[:2000]).predict(test[:100])  # warm-up: validation and Numba
        methods[name] = npae_run(model, train, y_train, test)
    if KNeighborsClassifier is not None:
        methods["sklearn brute"] = sklearn_run(KNeighborsClassifier(n_neighbors=K, algorithm="brute"), train, y_train,
                                               test)
        sklearn_auto = KNeighborsClassifier(n_neighbors=K).fit(train, y_train)
        if sklearn_auto._fit_method != "brute":  # the same computation as brute: not run twice
            methods[f"sklearn auto (= {sklearn_auto._fit_method})"] = sklearn_run(sklearn_auto, train, y_train, test)
    if faiss is not None:
        methods["faiss IndexFlatL2"] = lambda: (faiss_predict(train, y_train, test), None)
    timings = take_turns(methods)
    if KNeighborsClassifier is not None and not any(name.startswith("sklearn auto") for name in timings):
        timings["sklearn auto (= brute, same runs)"] = timings["sklearn brute"]

    by_method = {name.split(" (")[0]: values for name, values in timings.items()}
    floor = by_method["GEMM floor"][0]
    sklearn_brute, sklearn_auto_row = by_method.get("sklearn brute"), by_method.get("sklearn auto")
    faiss_row = by_method.get("faiss IndexFlatL2")
    lines = []
    for name, (seconds, spread, runs, (predictions, raw_distances)) in timings.items():
        line = {"method": name, "seconds": f"{seconds:.3f}", "spread": f"{spread:.3f}", "runs": runs,
                "x GEMM floor": f"{seconds / floor:.2f}x"}
        if sklearn_brute:
            line["x sklearn brute"] = f"{seconds / sklearn_brute[0]:.3f}x"
            line["x sklearn auto"] = f"{seconds / sklearn_auto_row[0]:.3f}x"
        if faiss_row:
            line["x faiss"] = f"{seconds / faiss_row[0]:.3f}x"
        if predictions is not None:
            line["accuracy"] = f"{np.mean(predictions == y_test):.2%}"
            if sklearn_brute:
                line["same as sklearn"] = f"{np.sum(predictions == sklearn_brute[3][0])}/{len(test)}"
        if raw_distances is not None:
            line["raw distances"] = f"{raw_distances.mean():.1f} / {np.percentile(raw_distances, 99):.0f}"
        lines.append(line)
    print(table(lines, ["method", "seconds", "spread", "runs", "accuracy", "same as sklearn", "raw distances",
                        "x sklearn brute", "x sklearn auto", "x faiss", "x GEMM floor"]) + "\n", flush=True)

    auto = by_method["npae auto"]
    label = f"{title} {features}"
    if features == "raw pixels":
        bounds = by_method.get("npae lower_bounds", auto if chosen == "lower_bounds" else None)
        if bounds:
            targets.append((f"{label}: npae lower_bounds <= 0.4x the GEMM floor (issue 13; moonshot 0.25x)",
                            bounds[0] / floor, 0.4))
            if faiss_row:
                targets.append((f"{label}: npae lower_bounds <= 0.35x faiss IndexFlatL2 (issue 13)",
                                bounds[0] / faiss_row[0], 0.35))
            if sklearn_brute:
                targets.append((f"{label}: npae lower_bounds' predictions equal sklearn brute's (issue 13)",
                                float(np.array_equal(bounds[3][0], sklearn_brute[3][0])), 1.0))
        gemm_row = by_method.get("npae gemm", auto if chosen == "gemm" else None)
        targets.append((f"{label}: npae gemm <= 1.3x the GEMM floor (issue 4)", gemm_row[0] / floor, 1.3))
        if sklearn_brute:
            targets.append((f"{label}: npae auto <= 0.35x sklearn brute (issue 4)", auto[0] / sklearn_brute[0], 0.35))
    if features == "PCA 8" and sklearn_auto_row:
        targets.append((f"{label}: npae auto <= 0.4x sklearn auto (issue 4)", auto[0] / sklearn_auto_row[0], 0.4))
    if sklearn_brute:
        same = np.array_equal(auto[3][0], sklearn_brute[3][0])
        targets.append((f"{label}: npae auto's predictions equal sklearn brute's", float(same), 1.0))

print("## targets" + ("  [--quick: the targets are set for the full data sets; orientation only]"
                      if arguments.quick else ""))
for description, value, limit in targets:
    if "equal" in description:
        print(f"{'PASS' if value == 1.0 else 'FAIL'}  {description}")
    else:
        print(f"{'PASS' if value <= limit else 'FAIL'}  {description}: {value:.3f}x")
print(f"load average (1 min) at the end: {os.getloadavg()[0]:.2f}")
