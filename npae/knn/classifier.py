"""k-nearest-neighbours classification, exact, for the paper's raw-pixel vs latent-feature comparison.

Michelucci (arXiv 2201.03898, tables 1 and 2) classifies MNIST with kNN, k = 7, once on the 784 raw
pixels and once on 8 or 16 features learned by an autoencoder: a few points of accuracy for a factor
of hundreds in running time.  npae has three exact searches for the two regimes:

* high dimension, ``algorithm="gemm"`` (brute force): squared distances through a matrix product
  (BLAS), then a Numba top-k selection per query and an exact float64 re-ranking of a few extra
  candidates (:class:`npae.knn.gemm.GemmSearch`);
* high dimension with structure, ``algorithm="lower_bounds"``: a lower bound of every distance from
  ~50 principal coordinates and a residual norm (one GEMM in ~50 dimensions instead of 784), and the
  real distance only for the few points the bound cannot rule out
  (:class:`npae.knn.lower_bounds.LowerBoundSearch`; MNIST, 10,000 x 60,000: ~15 of the 60,000 distances
  per query, about half of brute force's time on 2 cores, a third on one, PCA included);
* low dimension, ``algorithm="kdtree"``: exact distances computed on the fly, only for the leaves
  of a KD-tree that may hold a better neighbour; ``algorithm="direct"`` is the same kernel with a
  single leaf, i.e. the plain scan of every training point (:class:`npae.knn.kdtree.TreeSearch`).

All return the same neighbours: the ``k`` smallest exact float64 squared distances, a tie going to
the lower training index.  The vote is uniform; a tie in the vote goes to the smallest label.
These are scikit-learn's rules for ``KNeighborsClassifier(n_neighbors=k)``.
"""
import numpy as np

from .. import _backend
from .._estimator import Estimator, check_is_fitted, check_n_features, dense_numeric_input
from .._validation import check_array, check_array_in_range, check_positive_int
from .gemm import GemmSearch
from .kdtree import KDTREE_LEAF_SIZE, TreeSearch
from .lower_bounds import LowerBoundSearch

ALGORITHMS = ("auto", "gemm", "lower_bounds", "kdtree", "direct")

# auto: "kdtree" up to this many features, "gemm" above.  Time of the tree over GEMM's, MNIST PCA
# features, 60,000 training x 10,000 test points, k = 7, quiet machine: 0.30 at 8 features, 0.57 at
# 10, 0.86 at 12, 1.19 at 14, 1.3 at 16, 1.6 at 20 (a tree prunes less as the dimension grows).  On a
# busy machine BLAS loses more than the single-threaded tree and the crossover moves up to ~24.
KDTREE_MAX_FEATURES = 12
# auto: "lower_bounds" above KDTREE_MAX_FEATURES features from this many training points on (below,
# fitting the PCA costs more than the bounds save), when its trial at fit shows that it pays.
LOWER_BOUNDS_MIN_SAMPLES = 20000

# Training sets whose largest entry is below this are scaled up by a power of two (exact), see fit.
TINY_DATA = 2.0**-30

_MEMORY_UNITS = (("GB", 2**30), ("MB", 2**20), ("KB", 2**10), ("B", 1))


def parse_memory_budget(value, argument="memory_budget"):
    """Bytes from ``value``: a positive int (bytes) or a string such as ``"64MB"``, ``"1.5GB"``.

    Units are B, KB, MB, GB (case-insensitive), powers of 1024.  Anything else: ValueError.
    """
    expected = "expected a positive number of bytes (int) or a string such as '64MB' or '1GB'"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        if value <= 0:
            raise ValueError(f"{argument}={value!r} is not positive; {expected}")
        return int(value)
    if isinstance(value, str):
        text = value.strip().upper()
        for unit, size in _MEMORY_UNITS:
            if text.endswith(unit):
                number = text[: -len(unit)].strip()
                try:
                    amount = float(number)
                except ValueError:
                    break
                if np.isfinite(amount) and amount * size >= 1:
                    return int(amount * size)
                break
    raise ValueError(f"{argument}={value!r} is not a memory size; {expected}")



def _label_kind(label):
    """"string", "number", or the type's name: labels of two kinds have no common order."""
    if isinstance(label, (str, np.str_, bytes)):
        return "string"
    if isinstance(label, (int, float, np.number, bool, np.bool_)):
        return "number"
    return type(label).__name__


def _check_labels(y, rows):
    """(classes, index of each label in classes) for the labels y of ``rows`` training points.

    ValueError when y is not one label per row, or mixes kinds that have no common order (strings and
    numbers, None): NumPy would either raise a TypeError while sorting them or, for a list, silently
    turn every label into a string.
    """
    as_objects = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) or y.dtype == object else None
    if as_objects is not None and as_objects.ndim == 1:
        kinds = {_label_kind(label) for label in as_objects}
        if len(kinds) > 1:
            raise ValueError(f"y mixes labels of kinds {sorted(kinds)}; give labels of one kind (all numbers or "
                             "all strings)")
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != rows:
        raise ValueError(f"y has shape {y.shape}; expected one label per row of x, shape ({rows},)")
    numbers = y if y.dtype.kind in "fc" else None
    if as_objects is not None and as_objects.ndim == 1 and kinds == {"number"}:  # judged as numbers, kept as given
        numbers = as_objects.astype(complex if any(isinstance(label, complex) for label in as_objects) else float)
    if numbers is not None and not np.isfinite(numbers).all():
        raise ValueError("y contains NaN or infinity; expected class labels")
    if numbers is not None and np.any(numbers != np.round(numbers.real)):
        # scikit-learn's rule and words (type_of_target): a class is a label, not a measurement
        raise ValueError("Unknown label type: continuous. y holds non-integer numbers; a classifier needs class "
                         "labels (integers or strings): for a regression target use a regressor, or bin y first")
    try:
        return np.unique(y, return_inverse=True)
    except TypeError as error:  # objects without an order, e.g. all None or dicts
        raise ValueError(f"y holds labels that cannot be sorted ({error})") from None


class KNNClassifier(Estimator):
    """k-nearest-neighbours classifier: Euclidean distance, uniform votes, exact neighbours.

    Parameters
    ----------
    k : int >= 1, default 7 (the paper's value)
    algorithm : "auto" | "gemm" | "lower_bounds" | "kdtree" | "direct"
        "auto" picks "kdtree" for at most ``KDTREE_MAX_FEATURES`` features; above, "lower_bounds"
        when the training set has at least ``LOWER_BOUNDS_MIN_SAMPLES`` points and a trial at fit
        shows that the bounds pay (:meth:`npae.knn.lower_bounds.LowerBoundSearch.pays`), "gemm" otherwise.
    memory_budget : int (bytes) or str such as "64MB", "1GB", default "256MB"
        Ceiling on the working memory of ``kneighbors`` / ``predict`` beyond their inputs and
        outputs: queries and training points are processed in blocks sized from it.
    dtype : "float32" (default) or "float64"
        Training points and queries are stored and compared in this dtype.

    Rules (scikit-learn's): neighbours are the k smallest distances, a tie going to the lower
    training index; the vote is uniform and a tie in the vote goes to the smallest label.

    The GEMM path.  For queries q (Q, D) and training points t (n, D),

        |q - t|^2 = |q|^2 + |t|^2 - 2 q . t

    turns the Q x n distances into one matrix product, q t^T, which BLAS computes at close to
    the machine's peak (~200 Gflop/s on the 2 cores here: 4.7 s for MNIST's 10,000 x 60,000 x 784).  The price
    is cancellation: each term is as large as |q|^2 + |t|^2 (~100 for MNIST) while the difference
    we want may be much smaller, and float32 keeps ~7 digits, so two candidates a few 1e-5 apart
    can swap places (the error bound for a D-term product is about D * 2^-24 * |q| |t|).  So the
    product only *proposes*: each query keeps its m = k + EXTRA_CANDIDATES smallest keys
    |t|^2 - 2 q . t (|q|^2 is the same for all t and is never added), then ``rerank_exact``
    recomputes those m distances in float64 directly from the coordinates and keeps the k best.
    A certificate makes this exact rather than likely: every training point left out has a key
    at least the m-th one, so its true squared distance is at least that key + |q|^2 minus the
    error bound; when that exceeds the exact k-th distance, no point left out can be a neighbour.
    A query that fails the test (rare: close calls at the boundary) is searched again with four
    times as many candidates.  Blocks: ``GEMM_TRAIN_BLOCK`` training points by up to
    ``MAX_QUERY_BLOCK`` queries, fewer when ``memory_budget`` asks for it; from 512 queries on, the
    blocks run two at a time on the worker threads (one per core, each with a one-thread BLAS and half the
    budget), so that the selection runs on both cores too.  A query so large that
    q . t would overflow the dtype (|q| ~ 1e19 for float32) gets its distances computed directly.

    Top-k selection costs O(n) per query: the kernel compares each key with the current m-th
    best and inserts only the rare winners (see :mod:`npae.knn.kernels.select`).  No row is sorted.

    The lower-bound path: see :mod:`npae.knn.lower_bounds`.

    The low-dimension path.  With a handful of features (8 in the paper), a product per pair is
    too little work for BLAS, and most pairs need not be computed at all: a KD-tree (:class:`npae.knn.kdtree.KDTree`) lets the search
    skip every box whose distance to the query exceeds the current k-th neighbour's.  Distances
    are exact float64 sums, so no re-ranking is needed.

    Float64 data so large that squared distances overflow float64 (|x| ~ 1e154) is a ValueError.
    A training set whose largest entry is below TINY_DATA (float32 around 1e-24, float64 around
    1e-165, where products underflow) is scaled by a power of two, and so is every query: exact, the
    same neighbours as at unit scale, distances scaled back (a copy of the training set, in that case
    only).  Offset data (pixels + 1000) is centred for the products: see :class:`npae.knn.gemm.GemmSearch`.

    Attributes after ``fit``: ``classes_`` (sorted labels), ``n_features_in_``,
    ``n_samples_fit_``, ``algorithm_`` (the algorithm actually used).  After ``kneighbors`` /
    ``predict`` with ``algorithm_ == "lower_bounds"``: ``raw_distances_`` (Q,) int64, how many
    raw-pixel distances each query of the last call needed (n for one settled by brute force).

    scikit-learn: a classifier by its contract (``get_params``/``set_params``, ``clone``, tags; it
    works in ``Pipeline``, ``GridSearchCV``, ``cross_val_score``), and ``check_estimator`` passes
    except for the checks in ``SKLEARN_EXPECTED_FAILED_CHECKS``, skipped on purpose:

    * ``check_estimators_unfitted``: an unfitted model raises :class:`npae._estimator.NotFittedError`, a
      ValueError and an AttributeError like scikit-learn's, which code catching either catches; but
      the check wants scikit-learn's own class, which npae cannot subclass without importing it.
    * ``check_supervised_y_2d``: a column y (n, 1) is a ValueError, where scikit-learn flattens it
      with a DataConversionWarning: a 2-D y may as well be several outputs, which npae does not guess.
    """

    _estimator_type = "classifier"
    SKLEARN_EXPECTED_FAILED_CHECKS = {
        "check_estimators_unfitted": "npae's NotFittedError is a ValueError and an AttributeError, not a "
                                     "subclass of scikit-learn's (npae does not import scikit-learn)",
        "check_supervised_y_2d": "a column y is refused with a ValueError, not flattened with a warning",
    }

    def __init__(self, k=7, algorithm="auto", memory_budget="256MB", dtype="float32"):
        self.k = k
        self.algorithm = algorithm
        self.memory_budget = memory_budget
        self.dtype = dtype

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, x, y):
        """Store the training set x (n, D) with labels y (n,); build what the algorithm needs. Returns self.

        As in scikit-learn, an x that already is a C-contiguous array of the model's dtype is kept by
        reference, not copied (MNIST: 188 MB, and ~0.4 s of page faults per fit, 8 % of a prediction
        run): do not modify it while the model is in use, or pass ``x.copy()``.  Any other x is
        converted into a new array.  "lower_bounds" also fits a PCA on a sample of x and projects x
        (MNIST: ~0.3 s, part of the timings of ``benchmarks/bench_knn.py``).
        """
        k = check_positive_int(self.k, "k")
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm={self.algorithm!r} is not one of {list(ALGORITHMS)}")
        budget = parse_memory_budget(self.memory_budget)
        dtype = _backend.resolve_dtype(self.dtype)
        x = _as_2d_array(x)
        if x.dtype.kind == "f" and x.dtype != dtype:  # a cast that may overflow: say so, not "NaN or infinity"
            x = check_array_in_range(x, "x", dtype=dtype)
        x = np.ascontiguousarray(x, dtype=dtype)  # (n, D), no copy when already so
        scale = _power_of_two_scale(x)
        if scale != 1.0:
            x = np.ldexp(x, int(np.log2(scale))).astype(dtype, copy=False)  # exact (a copy, tiny data only)
        if y is None:  # scikit-learn's words (check_requires_y_none)
            raise ValueError("KNNClassifier requires y to be passed, but the target y is None")
        classes, labels = _check_labels(y, x.shape[0])  # before the (possibly long) build of the search
        n_samples, n_features = x.shape
        if k > n_samples:  # "n_samples = 1": the words scikit-learn's check_fit2d_1sample looks for
            raise ValueError(f"k={k} is larger than the training set: n_samples = {n_samples}")
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "kdtree" if n_features <= KDTREE_MAX_FEATURES else "gemm"
            if algorithm == "gemm" and n_samples >= LOWER_BOUNDS_MIN_SAMPLES:
                algorithm = "lower_bounds"
        if algorithm == "gemm":
            search = GemmSearch(x, k, budget)
        elif algorithm == "lower_bounds":
            gemm = GemmSearch(x, k, budget)  # its checks come before the PCA; the fallback, and the trial's distances
            search = LowerBoundSearch(x, k, budget, gemm)
            if self.algorithm == "auto" and not search.pays():
                algorithm, search = "gemm", gemm
        else:
            search = TreeSearch(x, k, budget, KDTREE_LEAF_SIZE if algorithm == "kdtree" else n_samples + 1)
        # all checks passed: only now replace the state of a previous fit
        self.__dict__.pop("raw_distances_", None)  # it describes a search of the previous fit
        self.classes_, self._labels = classes, labels  # _labels: index into classes_
        self.n_features_in_, self.n_samples_fit_, self.algorithm_ = n_features, n_samples, algorithm
        self._k, self._dtype, self._budget, self._scale = k, dtype, budget, scale
        self._search, self._train = search, x
        return self

    # -- neighbours --------------------------------------------------------------------------

    def kneighbors(self, x):
        """Distances (Q, k) float64 and training indices (Q, k) int64 of each query's k nearest, nearest first."""
        x = self._check_queries(x)
        if self._scale != 1.0:  # the training set's scaling, applied to the queries (exact)
            x = x.astype(np.float64) * self._scale
        n_queries = x.shape[0]
        sq_distances = np.empty((n_queries, self._k))
        indices = np.empty((n_queries, self._k), np.int64)
        if self.algorithm_ == "lower_bounds":
            self.raw_distances_ = self._search.search(x, sq_distances, indices)
        else:
            self._search.search(x, np.arange(n_queries), sq_distances, indices)
        np.sqrt(sq_distances, out=sq_distances)
        if self._scale != 1.0:
            sq_distances /= self._scale  # exact: back to the data's units
        return sq_distances, indices

    # -- classification ----------------------------------------------------------------------
    def _vote_counts(self, x):
        """Votes (Q, n_classes) int64: how many of each query's k neighbours carry each label."""
        _, indices = self.kneighbors(x)
        neighbour_labels = self._labels[indices]  # (Q, k), indices into classes_
        counts = np.zeros((indices.shape[0], self.classes_.size), np.int64)
        rows = np.arange(indices.shape[0])
        for column in range(self._k):  # one neighbour per row per step, so no index repeats
            counts[rows, neighbour_labels[:, column]] += 1
        return counts

    def predict(self, x):
        """Majority label of each query's k nearest neighbours, (Q,); a tie goes to the smallest label."""
        # argmax returns the first maximum, and classes_ is sorted: the smallest tied label wins
        counts = self._vote_counts(x)  # (Q, n_classes)
        return self.classes_[counts.argmax(axis=1)]

    def predict_proba(self, x):
        """Fraction of the k neighbours with each label, (Q, n_classes), columns in ``classes_`` order."""
        return self._vote_counts(x) / self._k

    def score(self, x, y):
        """Accuracy: the fraction of queries whose predicted label equals y."""
        y = np.asarray(y)
        n_queries = np.shape(x)[0] if np.ndim(x) >= 1 else None
        if y.ndim != 1 or y.shape[0] != n_queries:
            raise ValueError(f"y has shape {y.shape}; expected one label per row of x, shape ({n_queries},)")
        return float(np.mean(self.predict(x) == y))

    # -- validation --------------------------------------------------------------------------

    def _check_queries(self, x):
        """x as an array of the right kind and shape; its values are checked block by block later,
        so that the check itself stays within the memory budget."""
        check_is_fitted(self, "algorithm_")
        x = _as_2d_array(x)
        check_n_features(self, x)
        return x


def _power_of_two_scale(x):
    """1.0, or for a training set whose largest entry m is below TINY_DATA, the power of two 2^e that
    brings m into [1/2, 1).

    Red-team finding 3: float32 data around 1e-24 (float64 around 1e-165) have products q . t
    below the dtype's normal range, where rounding is no longer relative; the GEMM's keys and the
    lower bounds then lose every digit (their certificates stay valid, with an absolute term, but
    certify nothing).  Scaling every point, and every query, by a power of two changes no digit and
    no neighbour, and the distances come back divided by it, exactly.
    """
    largest = max(float(x.max()), -float(x.min()))
    if not 0 < largest < TINY_DATA:
        return 1.0
    return float(np.ldexp(1.0, -np.frexp(largest)[1]))


def _as_2d_array(x):
    """x as a NumPy array with rows, real numbers and at least one column; values not checked yet."""
    x = dense_numeric_input(x)
    if x.ndim != 2 or x.shape[0] == 0:
        check_array(x, "x")  # raises, with the library's wording
    check_array(x[:0], "x", allow_empty=True)  # the kind of numbers, no pass over the values
    return x
