"""KNNClassifier: the tie rules, exactness against float64 brute force and scikit-learn, the memory budget, errors."""
import tracemalloc

import numpy as np
import pytest

from npae import _backend
from npae.knn import gemm, lower_bounds
from npae.knn.kernels import select
from npae.knn import KNNClassifier, parse_memory_budget

ALGORITHMS = ["gemm", "kdtree", "direct"]


def brute_force(x_train, queries, k):
    """The definition, independently: float64 distances, then the k smallest by (distance, index)."""
    x_train = x_train.astype(np.float64)
    sq_distances = ((queries.astype(np.float64)[:, None, :] - x_train[None, :, :]) ** 2).sum(axis=2)  # (Q, n)
    order = np.lexsort((np.broadcast_to(np.arange(x_train.shape[0]), sq_distances.shape), sq_distances), axis=1)
    indices = order[:, :k]
    return np.sqrt(np.take_along_axis(sq_distances, indices, axis=1)), indices


def majority_vote(neighbour_labels):
    """Most frequent label per row; a tie goes to the smallest label."""
    labels = np.unique(neighbour_labels)
    counts = (neighbour_labels[:, :, None] == labels).sum(axis=1)  # (Q, n_labels)
    return labels[counts.argmax(axis=1)]  # argmax: first maximum, labels ascending


# -- ties ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("n_features", [3, 20])
def test_exact_ties_go_to_the_lower_index_and_the_smaller_label(algorithm, n_features, jit, rng):
    # Integer coordinates in {0, 1, 2}: many duplicate points and exactly equal distances, which
    # every float format represents exactly.  k = 6 with 3 labels makes vote ties common.
    x_train = rng.integers(0, 3, (400, n_features)).astype(np.float32)
    queries = rng.integers(0, 3, (60, n_features)).astype(np.float32)
    y_train = rng.choice(np.array([7, 3, 11]), 400)
    expected_distances, expected_indices = brute_force(x_train, queries, 6)
    assert (np.diff(expected_distances, axis=1) == 0).any(), "the data must contain ties"
    with _backend.jit(jit):
        model = KNNClassifier(k=6, algorithm=algorithm).fit(x_train, y_train)
        distances, indices = model.kneighbors(queries)
        predictions = model.predict(queries)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(predictions, majority_vote(y_train[expected_indices]))


def test_a_vote_tie_goes_to_the_smallest_label():
    # Query at 0; neighbours at 1, 2, 3, 4 with labels 9, 5, 9, 5: two votes each, 5 wins.
    x_train = np.array([[1.0], [2.0], [3.0], [4.0], [10.0]])
    y_train = np.array([9, 5, 9, 5, 1])
    for algorithm in ALGORITHMS:
        model = KNNClassifier(k=4, algorithm=algorithm).fit(x_train, y_train)
        assert model.predict([[0.0]])[0] == 5
        np.testing.assert_array_equal(model.predict_proba([[0.0]]), [[0.0, 0.5, 0.5]])  # classes 1, 5, 9


def test_a_distance_tie_goes_to_the_lower_training_index():
    # Four points at distance 1 from the origin, one farther; k = 2 keeps the first two listed.
    x_train = np.array([[0.0, 3.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    y_train = np.array([0, 1, 2, 3, 4])
    for algorithm in ALGORITHMS:
        distances, indices = KNNClassifier(k=2, algorithm=algorithm).fit(x_train, y_train).kneighbors([[0.0, 0.0]])
        np.testing.assert_array_equal(indices, [[1, 2]])
        np.testing.assert_array_equal(distances, [[1.0, 1.0]])


# -- exactness -------------------------------------------------------------------------------------


def test_gemm_stays_exact_where_the_float32_identity_cancels(rng):
    # Points offset by 300 and 0.01 apart: |t|^2 ~ 4.5e6, so float32 keys |t|^2 - 2 q.t are off by ~0.3
    # while true squared distances are ~1e-3.  The certificate must reject the proposals and
    # widen the search until the answer is the true one.
    x_train = (300 + 0.01 * rng.random((1500, 50))).astype(np.float32)
    queries = (300 + 0.01 * rng.random((40, 50))).astype(np.float32)
    expected_distances, expected_indices = brute_force(x_train, queries, 7)
    for jit in (True, False):
        with _backend.jit(jit):
            distances, indices = KNNClassifier(algorithm="gemm").fit(x_train, np.zeros(1500)).kneighbors(queries)
        np.testing.assert_array_equal(indices, expected_indices)
        np.testing.assert_allclose(distances, expected_distances, rtol=1e-12)


@pytest.mark.parametrize("case", ["ties", "cancelling"])
def test_gemm_blocks_on_worker_threads_give_the_one_thread_answer(case, monkeypatch, rng):
    # Blocks of 8 queries on 2 worker threads at once (GemmSearch's two-core path, used from 512 queries on):
    # ties broken by index, and points offset by 300 whose float32 keys cancel (retries in float64).
    if case == "ties":
        x_train = rng.integers(0, 3, (2000, 30)).astype(np.float32)
        x_train[1000:] = x_train[:1000]
        queries = np.concatenate([rng.integers(0, 3, (60, 30)), x_train[:4]]).astype(np.float32)
    else:
        x_train = (300 + 0.01 * rng.random((1500, 50))).astype(np.float32)
        queries = (300 + 0.01 * rng.random((64, 50))).astype(np.float32)
    one_thread = KNNClassifier(algorithm="gemm").fit(x_train, np.zeros(len(x_train))).kneighbors(queries)
    monkeypatch.setattr(gemm, "WORKERS", 2)
    monkeypatch.setattr(gemm, "MIN_WORKER_QUERIES", 4)
    monkeypatch.setattr(gemm, "MAX_QUERY_BLOCK", 8)
    for jit in (True, False):
        with _backend.jit(jit):
            distances, indices = KNNClassifier(algorithm="gemm").fit(x_train, np.zeros(len(x_train))).kneighbors(queries)
        np.testing.assert_array_equal(indices, brute_force(x_train, queries, 7)[1])
        np.testing.assert_array_equal(indices, one_thread[1])
        np.testing.assert_array_equal(distances, one_thread[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_all_algorithms_return_identical_arrays(dtype, rng):
    x_train = rng.standard_normal((3000, 10))
    queries = rng.standard_normal((200, 10))
    results = [KNNClassifier(algorithm=algorithm, dtype=dtype).fit(x_train, np.zeros(3000)).kneighbors(queries)
               for algorithm in ALGORITHMS]
    for distances, indices in results[1:]:
        np.testing.assert_array_equal(indices, results[0][1])
        np.testing.assert_array_equal(distances, results[0][0])  # bitwise: one summation order everywhere
    expected_distances, expected_indices = brute_force(x_train.astype(dtype), queries.astype(dtype), 7)
    np.testing.assert_array_equal(results[0][1], expected_indices)
    np.testing.assert_allclose(results[0][0], expected_distances, rtol=1e-12)


def test_auto_picks_the_tree_in_low_dimension_and_gemm_in_high(rng):
    y = np.zeros(50)
    assert KNNClassifier().fit(rng.random((50, 8)), y).algorithm_ == "kdtree"
    assert KNNClassifier().fit(rng.random((50, 100)), y).algorithm_ == "gemm"


# -- the kernel pairs --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_merge_candidates_kernel_matches_reference(dtype, rng):
    # small integer products: many equal keys, so the tie rule is exercised across blocks
    n_queries, n_candidates = 30, 9
    outputs = []
    for function in (select.merge_candidates_numpy, select.merge_candidates_numba):
        block_rng = np.random.default_rng(3)
        keys = np.full((n_queries, n_candidates), np.inf, dtype)
        indices = np.full((n_queries, n_candidates), -1, np.int64)
        first = 0
        for block_size in (5, 200, 64, 131):  # the first block is smaller than m
            products = block_rng.integers(-4, 5, (n_queries, block_size)).astype(dtype)
            norms = block_rng.integers(0, 6, block_size).astype(dtype)
            function(products, norms, first, keys, indices)
            first += block_size
        outputs.append((keys, indices))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])
    assert outputs[0][0].dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rerank_exact_kernel_matches_reference(dtype, rng):
    train = rng.standard_normal((500, 33)).astype(dtype)
    train[250:] = train[:250]  # duplicates: exact distance ties between different indices
    queries = rng.standard_normal((20, 33)).astype(dtype)
    candidates = np.stack([rng.permutation(500)[:40] for _ in range(20)])
    candidates[:, 1] = candidates[:, 0] + np.where(candidates[:, 0] < 250, 250, -250)  # a duplicate pair per row
    outputs = []
    for function in (select.rerank_exact_numpy, select.rerank_exact_numba):
        distances, indices = np.empty((20, 7)), np.empty((20, 7), np.int64)
        function(queries, train, candidates, distances, indices)
        outputs.append((distances, indices))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_kdtree_search_kernel_matches_reference(rng):
    points = np.round(rng.standard_normal((700, 4)), 1)  # rounded: some exact ties
    model = KNNClassifier(k=5, algorithm="kdtree").fit(points, np.zeros(700))
    tree = model._search.tree
    assert tree.n_levels > 3  # a real tree, not a single leaf
    queries = np.round(rng.standard_normal((50, 4)), 1).astype(np.float32)
    outputs = []
    for function in (select.kdtree_search_numpy, select.kdtree_search_numba):
        distances, indices = np.empty((50, 5)), np.empty((50, 5), np.int64)
        function(queries, tree.points_t, tree.point_indices, tree.node_start, tree.node_end,
                 tree.node_lower, tree.node_upper, distances, indices)
        outputs.append((distances, indices))
    np.testing.assert_array_equal(outputs[0][0], outputs[1][0])
    np.testing.assert_array_equal(outputs[0][1], outputs[1][1])


def test_kdtree_boxes_hold_their_points(rng):
    points = rng.standard_normal((1000, 3)).astype(np.float32)
    tree = KNNClassifier(algorithm="kdtree").fit(points, np.zeros(1000))._search.tree
    np.testing.assert_array_equal(np.sort(tree.point_indices), np.arange(1000))
    np.testing.assert_array_equal(tree.points_t.T, points[tree.point_indices])
    for node in range(tree.node_start.size):
        inside = tree.points_t[:, tree.node_start[node]:tree.node_end[node]]
        assert inside.shape[1] >= 1
        np.testing.assert_array_equal(inside.min(axis=1), tree.node_lower[node])
        np.testing.assert_array_equal(inside.max(axis=1), tree.node_upper[node])
    leaf_sizes = (tree.node_end - tree.node_start)[tree.node_start.size // 2:]
    assert leaf_sizes.min() >= 32 and leaf_sizes.max() < 64


# -- real data against scikit-learn --------------------------------------------------------------------


def test_mnist_raw_pixels_match_scikit_learn(mnist):
    neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn is the oracle of this test")
    (x_train, y_train), (x_test, _) = mnist
    x_train, y_train, x_test = x_train[:10000], y_train[:10000], x_test[:2000]
    model = KNNClassifier(k=7).fit(x_train, y_train)
    assert model.algorithm_ == "gemm"
    reference = neighbors.KNeighborsClassifier(n_neighbors=7, algorithm="brute").fit(x_train, y_train)
    np.testing.assert_array_equal(model.predict(x_test), reference.predict(x_test))
    _, indices = model.kneighbors(x_test[:500])
    np.testing.assert_array_equal(indices, reference.kneighbors(x_test[:500])[1])


def test_mnist_8_dimensional_projection_matches_scikit_learn(mnist):
    neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn is the oracle of this test")
    (x_train, y_train), (x_test, y_test) = mnist
    mean = x_train[:10000].mean(axis=0)
    _, eigenvectors = np.linalg.eigh(np.cov(x_train[:10000].T.astype(np.float64)))  # ascending eigenvalues
    components = eigenvectors[:, ::-1][:, :8].T  # (8, 784): the leading principal directions
    project = lambda x: ((x - mean) @ components.T).astype(np.float32)  # noqa: E731
    train_features, test_features = project(x_train), project(x_test[:5000])
    model = KNNClassifier(k=7).fit(train_features, y_train)
    assert model.algorithm_ == "kdtree"
    predictions = model.predict(test_features)
    reference = neighbors.KNeighborsClassifier(n_neighbors=7).fit(train_features, y_train)
    np.testing.assert_array_equal(predictions, reference.predict(test_features))
    assert 0.85 < np.mean(predictions == y_test[:5000]) < 0.95  # the paper's regime: ~89-90 %


# -- memory -------------------------------------------------------------------------------------------


def _kneighbors_working_memory(model, queries):
    """model.kneighbors(queries), and the peak of NumPy memory it allocated (every thread's, by tracemalloc)
    beyond the arrays it returns: what memory_budget bounds."""
    tracemalloc.start()
    try:
        distances, indices = model.kneighbors(queries)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    outputs = distances.nbytes + indices.nbytes + getattr(model, "raw_distances_", distances[:0]).nbytes
    return distances, indices, peak - outputs


@pytest.mark.parametrize("algorithm, jit", [("gemm", True), ("gemm", False), ("kdtree", False),
                                            ("lower_bounds", True), ("lower_bounds", False)])
def test_kneighbors_stays_within_the_memory_budget(algorithm, jit, rng):
    budget = 4 * 2**20 if algorithm != "lower_bounds" else 8 * 2**20
    n_features = {"gemm": 784, "kdtree": 8, "lower_bounds": 300}[algorithm]
    x_train = rng.random((20000, n_features), dtype=np.float32)  # 63 MB of raw pixels: more than the budget
    queries = rng.random((300, n_features))  # float64: the cast to float32 is part of the working memory
    if algorithm == "lower_bounds":  # points near a 6-dimensional subspace: the bounds prune
        basis = rng.standard_normal((6, n_features))
        x_train = (rng.standard_normal((20000, 6)) @ basis + 0.01 * x_train).astype(np.float32)
        queries = rng.standard_normal((300, 6)) @ basis + 0.01 * queries
    assert 300 * 20000 * 4 > budget  # all products at once would not fit
    model = KNNClassifier(algorithm=algorithm, memory_budget=budget).fit(x_train, np.zeros(20000))
    with _backend.jit(jit):
        model.kneighbors(queries[:2])  # compile first: Numba's own allocations are not the point
        distances, indices, working_memory = _kneighbors_working_memory(model, queries)
    assert working_memory <= budget
    reference = KNNClassifier(algorithm="gemm" if algorithm == "lower_bounds" else algorithm).fit(
        x_train, np.zeros(20000)).kneighbors(queries)
    np.testing.assert_array_equal(indices, reference[1])
    if algorithm == "lower_bounds":
        assert model.raw_distances_.mean() < 1000  # the bounds path was measured, not the fallback


@pytest.mark.parametrize("algorithm", ["gemm", "lower_bounds"])
def test_blocks_on_two_worker_threads_stay_within_the_memory_budget(algorithm, monkeypatch, rng):
    # 1,200 queries: two blocks run at once on the worker threads (from 512 queries on), so each gets half the
    # budget; tracemalloc counts the NumPy arrays of every thread.
    budget = 8 * 2**20
    basis = rng.standard_normal((6, 300))
    x_train = (rng.standard_normal((20000, 6)) @ basis + 0.01 * rng.random((20000, 300))).astype(np.float32)
    queries = rng.standard_normal((1200, 6)) @ basis + 0.01 * rng.random((1200, 300))
    monkeypatch.setattr(gemm, "WORKERS", 2)
    monkeypatch.setattr(lower_bounds, "WORKERS", 2)
    model = KNNClassifier(algorithm=algorithm, memory_budget=budget).fit(x_train, np.zeros(20000))
    model.kneighbors(queries[:600])  # compile first
    distances, indices, working_memory = _kneighbors_working_memory(model, queries)
    assert working_memory <= budget
    np.testing.assert_array_equal(indices[::400], brute_force(x_train, queries[::400], 7)[1])
    if algorithm == "lower_bounds":
        reference = KNNClassifier(algorithm="gemm").fit(x_train, np.zeros(20000)).kneighbors(queries)
        np.testing.assert_array_equal(indices, reference[1])
        assert model.raw_distances_.mean() < 1000  # the bounds path was measured, not the fallback


@pytest.mark.parametrize("value, expected", [
    (1000, 1000), ("64MB", 64 * 2**20), ("1GB", 2**30), (" 2 mb ", 2 * 2**20), ("1.5KB", 1536), ("10B", 10),
    (np.int64(4096), 4096),
])
def test_parse_memory_budget(value, expected):
    assert parse_memory_budget(value) == expected


@pytest.mark.parametrize("value", [0, -5, "abc", "10TB", "MB", "-1MB", "nanMB", "0.1B", True, 1.5, None])
def test_bad_memory_budget(value):
    with pytest.raises(ValueError, match="memory_budget"):
        KNNClassifier(memory_budget=value).fit(np.zeros((10, 2)), np.zeros(10))


# -- estimator behaviour and errors ------------------------------------------------------------------


def test_classifier_api(rng):
    x_train = rng.standard_normal((200, 5))
    y_train = np.where(x_train[:, 0] > 0, "right", "left")  # string labels
    model = KNNClassifier(k=3)
    assert model.fit(x_train, y_train) is model
    np.testing.assert_array_equal(model.classes_, ["left", "right"])
    assert (model.n_features_in_, model.n_samples_fit_) == (5, 200)
    queries = rng.standard_normal((50, 5))
    probabilities = model.predict_proba(queries)
    assert probabilities.shape == (50, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(queries), model.classes_[probabilities.argmax(axis=1)])
    assert model.score(queries, np.where(queries[:, 0] > 0, "right", "left")) > 0.8
    assert model.get_params() == {"k": 3, "algorithm": "auto", "memory_budget": "256MB", "dtype": "float32"}
    assert model.set_params(k=5).k == 5
    assert repr(model) == "KNNClassifier(algorithm='auto', dtype='float32', k=5, memory_budget='256MB')"


def test_fit_keeps_a_ready_array_by_reference_and_converts_others(rng):
    x_train = rng.standard_normal((100, 30)).astype(np.float32)
    model = KNNClassifier(k=1).fit(x_train, np.arange(100))
    assert np.shares_memory(model._train, x_train)  # no second copy of a large training set
    model.fit(x_train.astype(np.float64), np.arange(100))  # float64 in, float32 model: a converted copy
    assert model._train.dtype == np.float32 and not np.shares_memory(model._train, x_train)
    np.testing.assert_array_equal(model.predict(x_train[:10]), np.arange(10))


@pytest.mark.parametrize("labels, message", [
    (np.array([1, "a"] * 5, dtype=object), r"y mixes labels of kinds \['number', 'string'\]"),
    ([1, "a"] * 5, r"y mixes labels of kinds \['number', 'string'\]"),   # NumPy would make them all strings
    (np.array([None, 1] * 5, dtype=object), r"y mixes labels of kinds \['NoneType', 'number'\]"),
    ([None] * 10, "y holds labels that cannot be sorted"),
    (np.array([0.0, np.nan] * 5), "y contains NaN or infinity"),
    (np.linspace(0, 1, 10), "Unknown label type: continuous"),   # scikit-learn's words: a regression target
    (np.array([0.0, 1.0, 2.5] * 3 + [1.0], dtype=object), "Unknown label type: continuous"),
])
def test_labels_of_mixed_kinds_are_a_value_error_before_any_work(labels, message):
    model = KNNClassifier(k=1)
    with pytest.raises(ValueError, match=message):
        model.fit(np.arange(40.0).reshape(10, 4), labels)
    assert not hasattr(model, "classes_")  # nothing of a fit was kept
    assert list(KNNClassifier(k=1).fit(np.arange(40.0).reshape(10, 4), ["a", "b"] * 5).classes_) == ["a", "b"]


@pytest.mark.parametrize("arguments, call, message", [
    ({"k": 0}, "fit", "k must be an integer >= 1"),
    ({"k": 2.5}, "fit", "k must be an integer >= 1"),
    ({"k": 11}, "fit", "k=11 is larger than the training set"),
    ({"algorithm": "ball_tree"}, "fit", "algorithm='ball_tree' is not one of"),
    ({"dtype": "int8"}, "fit", "dtype"),
    ({"memory_budget": 100}, "fit", "memory_budget=100 bytes is too small"),
    ({}, "fit_nan", "x contains NaN or infinity"),
    ({}, "fit_huge", "x has values too large"),
    ({"algorithm": "kdtree"}, "fit_nan", "x contains NaN or infinity"),
    ({}, "fit_1d", "x must be a 2-D array"),
    ({}, "fit_no_features", r"x has 0 feature\(s\) \(shape=\(10, 0\)\) while a minimum of 1 is required"),
    ({}, "fit_labels", "y has shape"),
    ({}, "fit_text", "x must hold real numbers"),
    ({}, "query_features", "X has 3 features, but KNNClassifier is expecting 4 features as input"),
    ({}, "query_inf", "x contains NaN or infinity"),
    ({}, "query_empty", "x is empty"),
    ({}, "score_labels", "y has shape"),
])
def test_bad_input_is_a_value_error_naming_the_argument(arguments, call, message):
    x_train = np.arange(40.0).reshape(10, 4)
    y_train = np.arange(10) % 2
    model = KNNClassifier(**{"algorithm": "gemm", **arguments})
    with pytest.raises(ValueError, match=message):
        if call == "fit":
            model.fit(x_train, y_train)
        elif call == "fit_nan":
            model.fit(np.where(x_train == 5, np.nan, x_train), y_train)
        elif call == "fit_huge":  # finite, but |x|^2 ~ 1e40 overflows float32
            model.fit(x_train * 1e19, y_train)
        elif call == "fit_1d":
            model.fit(x_train[0], y_train)
        elif call == "fit_no_features":
            model.fit(x_train[:, :0], y_train)
        elif call == "fit_labels":
            model.fit(x_train, y_train[:9])
        elif call == "fit_text":
            model.fit(x_train.astype(str), y_train)
        else:
            model.fit(x_train, y_train)
            if call == "query_features":
                model.predict(x_train[:, :3])
            elif call == "query_inf":
                model.kneighbors(np.where(x_train == 7, np.inf, x_train))
            elif call == "query_empty":
                model.predict(x_train[:0])
            elif call == "score_labels":
                model.score(x_train, y_train[:3])


def test_predict_before_fit_is_a_not_fitted_error():
    """scikit-learn's contract: a ValueError and an AttributeError (what its NotFittedError is)."""
    from npae._estimator import NotFittedError
    for method in ("predict", "predict_proba", "kneighbors", "score"):
        arguments = (np.zeros((2, 3)), np.zeros(2)) if method == "score" else (np.zeros((2, 3)),)
        with pytest.raises(NotFittedError, match="not fitted") as caught:
            getattr(KNNClassifier(), method)(*arguments)
        assert isinstance(caught.value, ValueError) and isinstance(caught.value, AttributeError)


# -- far out of range: exact, or a clear ValueError (never index -1, a NaN distance or a warning) -------


@pytest.mark.parametrize("algorithm", ["gemm", "lower_bounds", "kdtree", "direct"])
def test_huge_finite_queries_get_their_exact_neighbours(algorithm, rng):
    # |q| ~ 3e38: q . t overflows float32, so the GEMM paths must not trust their products
    x_train = rng.random((500, 30)).astype(np.float32)
    queries = np.full((4, 30), 3e38, np.float32)
    queries[1] *= -1
    queries[2, ::2] *= -1
    queries[3] = x_train[3] * 1e37
    model = KNNClassifier(algorithm=algorithm).fit(x_train, np.arange(500) % 3)
    distances, indices = model.kneighbors(queries)
    expected_distances, expected_indices = brute_force(x_train, queries, 7)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_array_equal(distances, expected_distances)
    assert (indices >= 0).all() and np.isfinite(distances).all()
    np.testing.assert_array_equal(model.predict(queries), majority_vote((np.arange(500) % 3)[expected_indices]))


@pytest.mark.parametrize("algorithm", ["gemm", "lower_bounds", "kdtree", "direct"])
def test_float64_distances_that_would_overflow_are_a_value_error(algorithm, rng):
    model = KNNClassifier(algorithm=algorithm, dtype="float64").fit(rng.random((300, 20)), np.zeros(300))
    with pytest.raises(ValueError, match="squared distances to the training points overflow float64"):
        model.kneighbors(np.full((2, 20), 1e200))
    with pytest.raises(ValueError, match="overflow float64"):  # at fit (GEMM paths) or at the query (trees)
        KNNClassifier(algorithm=algorithm, dtype="float64").fit(np.full((30, 20), 1e160), np.zeros(30)).kneighbors(
            np.zeros((1, 20)))


@pytest.mark.parametrize("algorithm", ["gemm", "lower_bounds", "kdtree"])
def test_values_beyond_float32_are_reported_as_such(algorithm, rng):
    model = KNNClassifier(algorithm=algorithm).fit(rng.random((100, 20)), np.zeros(100))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        model.predict(np.full((2, 20), 1e300))
    with pytest.raises(ValueError, match="beyond the range of float32"):
        KNNClassifier(algorithm=algorithm).fit(np.full((20, 20), 1e300), np.zeros(20))


@pytest.mark.parametrize("old, new", [("npae.knn_bounds", "npae.knn.lower_bounds"),
                                      ("npae.kernels.select", "npae.knn.kernels.select"),
                                      ("npae.kernels.bounds", "npae.knn.kernels.bounds")])
def test_the_old_module_paths_name_the_new_place(old, new):
    """The kNN code moved into npae.knn; each old path fails with the new one in its message."""
    import importlib
    with pytest.raises(ImportError, match=new.replace(".", r"\.")):
        importlib.import_module(old)
    module = importlib.import_module(new)
    assert module.__name__ == new


def test_the_knn_package_keeps_its_public_names():
    import npae.knn
    assert npae.KNNClassifier is npae.knn.KNNClassifier
    for name in npae.knn.__all__:
        assert getattr(npae.knn, name).__module__.startswith("npae.knn.")


@pytest.mark.parametrize("compiled", [True, False], ids=["numba", "python"])
@pytest.mark.parametrize("k", [1, 3, 8])
def test_the_one_sorted_insertion_keeps_the_k_smallest_by_value_then_index(compiled, k, rng):
    """insert_sorted_numba, which every selection kernel uses: ties (many equal values), indices arriving
    in any order, fewer values than k (the rest stays unfilled), against a lexicographic sort."""
    insert = select.insert_sorted_numba if compiled else select.insert_sorted_numba.python_function
    for n_values in (0, 2, k, 3 * k + 5):
        values = rng.integers(0, 4, n_values).astype(np.float64)  # heavy ties
        indices = rng.permutation(100)[:n_values]
        best_values, best_indices = np.full(k, np.inf), np.full(k, -1, np.int64)
        filled = 0
        for value, index in zip(values, indices):
            filled = insert(best_values, best_indices, filled, value, index)
        order = np.lexsort((indices, values))[:k]
        assert filled == min(k, n_values)
        np.testing.assert_array_equal(best_values[:filled], values[order])
        np.testing.assert_array_equal(best_indices[:filled], indices[order])
