"""The lower-bound kNN search: its kernel pairs, its exactness where bounds are hardest, its rounds and
fallbacks, its memory budget, and real data against scikit-learn."""
import numpy as np
import pytest

from npae import _backend
from npae.knn.kernels import bounds, select
from npae.knn import GemmSearch, KNNClassifier
from npae.knn import lower_bounds
from npae.knn.lower_bounds import LowerBoundSearch
from test_knn import brute_force  # the definition, written independently of npae


def low_rank(rng, n, n_features, rank=6, noise=0.01, dtype=np.float32):
    """Points near a rank-``rank`` subspace: the structure the bounds exploit."""
    basis = rng.standard_normal((rank, n_features))
    return (rng.standard_normal((n, rank)) @ basis + noise * rng.standard_normal((n, n_features))).astype(dtype)


def search(x_train, queries, k, jit=True, **settings):
    """Squared distances, indices and raw-distance counts of the lower-bound search (settings fixed, or the trial)."""
    gemm = GemmSearch(x_train, k, 2**28)
    with _backend.jit(jit):
        searcher = LowerBoundSearch(x_train, k, 2**28, gemm, **settings)
        sq_distances, indices = np.empty((queries.shape[0], k)), np.empty((queries.shape[0], k), np.int64)
        work = searcher.search(queries, sq_distances, indices)
    return sq_distances, indices, work, searcher


def assert_exact(x_train, queries, k, **settings):
    """Identical to the GEMM path (bitwise) and to the definition (indices), with the kernels and without."""
    expected_distances, expected_indices = brute_force(x_train, queries, k)
    gemm_distances, gemm_indices = KNNClassifier(k=k, algorithm="gemm", dtype=x_train.dtype).fit(
        x_train, np.zeros(x_train.shape[0])).kneighbors(queries)
    np.testing.assert_array_equal(gemm_indices, expected_indices)
    results = []
    for jit in (True, False):
        sq_distances, indices, work, searcher = search(x_train, queries, k, jit=jit, **settings)
        np.testing.assert_array_equal(indices, expected_indices)
        np.testing.assert_array_equal(np.sqrt(sq_distances), gemm_distances)  # the canonical distance, bitwise
        results.append(work)
    return results[0], searcher


# -- exactness where the bounds are tested hardest --------------------------------------------------


@pytest.mark.parametrize("settings", [{}, {"screen_dimensions": 16, "fine_dimensions": 64, "capacity": 64}])
def test_duplicates_and_exact_ties(settings, rng):
    # integer coordinates: many duplicate points, exactly equal distances, ties broken by index
    x_train = rng.integers(0, 3, (3000, 80)).astype(np.float32)
    x_train[1500:] = x_train[:1500]  # every point twice
    queries = np.concatenate([rng.integers(0, 3, (40, 80)), x_train[:10]]).astype(np.float32)
    _, indices = brute_force(x_train, queries, 6)
    assert (np.diff(brute_force(x_train, queries, 6)[0], axis=1) == 0).any(), "the data must contain ties"
    assert_exact(x_train, queries, 6, **settings)


def test_a_query_equal_to_a_training_point_finds_it_first(rng):
    x_train = low_rank(rng, 5000, 100)
    queries = x_train[[0, 17, 4999]]
    work, _ = assert_exact(x_train, queries, 7, screen_dimensions=16, fine_dimensions=64, capacity=256)
    _, indices, _, _ = search(x_train, queries, 1, screen_dimensions=16, fine_dimensions=64, capacity=256)
    np.testing.assert_array_equal(indices[:, 0], [0, 17, 4999])


@pytest.mark.parametrize("k", [1, 2, 40])
def test_k_from_one_to_more_than_the_buffer_keeps(k, rng):
    # capacity 4k is the smallest buffer there is: with k = 40 it holds 160 of 4,000 points
    x_train = low_rank(rng, 4000, 120)
    queries = low_rank(rng, 30, 120)
    assert_exact(x_train, queries, k, screen_dimensions=16, fine_dimensions=64, capacity=1)


def test_points_far_outside_the_pca_subspace(rng):
    # The PCA of a low-rank training set, then queries and training points with large residuals:
    # the residual norms carry the bound, and the far points must not be lost or wrongly dropped.
    x_train = low_rank(rng, 4000, 100)
    outliers = 20 * rng.standard_normal((30, 100)).astype(np.float32)
    x_train[::200] = outliers[:20]
    queries = np.concatenate([outliers[20:] + 0.1, low_rank(rng, 10, 100), x_train[::400] + 0.01]).astype(np.float32)
    assert_exact(x_train, queries, 5, screen_dimensions=16, fine_dimensions=64, capacity=128)


def test_data_where_the_bound_prunes_nothing_is_still_exact(rng):
    # Uniform noise in 200 dimensions: no direction matters more than another.  The trial sees it,
    # and every query goes to brute force; with fixed settings, the rounds end in the fallback.
    x_train = rng.random((3000, 200), dtype=np.float32)
    queries = rng.random((25, 200), dtype=np.float32)
    work, searcher = assert_exact(x_train, queries, 7)
    assert searcher.hopeless and (work == 3000).all()
    work, searcher = assert_exact(x_train, queries, 7, screen_dimensions=16, fine_dimensions=64, capacity=64)
    assert not searcher.hopeless and (work >= 3000).any()  # brute force for the queries the rounds could not settle
    assert not KNNClassifier().fit(np.tile(x_train, (7, 1)), np.zeros(21000)).algorithm_ == "lower_bounds"


def test_second_rounds_and_the_brute_force_fallback_stay_exact(rng):
    # a tiny first buffer: most queries overflow it, are screened again with 4x the buffer, then by brute force
    x_train = low_rank(rng, 6000, 90, rank=20, noise=0.3)
    queries = low_rank(rng, 60, 90, rank=20, noise=0.3)
    work, _ = assert_exact(x_train, queries, 7, screen_dimensions=16, fine_dimensions=0, capacity=32)
    assert (work > 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float64_and_float32_and_tiny_dimensions(dtype, rng):
    for n_features in (3, 20, 130):
        x_train = low_rank(rng, 800, n_features, rank=min(3, n_features), dtype=dtype)
        queries = low_rank(rng, 20, n_features, rank=min(3, n_features), dtype=dtype)
        assert_exact(x_train, queries, 4, screen_dimensions=64, fine_dimensions=64, capacity=64)


def test_tiny_training_sets():
    x_train = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [5.0, 5.0, 0.0]], np.float32)
    for k in (1, 3):
        assert_exact(x_train, np.array([[1.0, 1.0, 1.0], [9.0, 9.0, 9.0]], np.float32), k)
    assert_exact(x_train[:1], x_train, 1)


@pytest.mark.parametrize("case", ["ties", "second rounds", "nothing to prune", "k beyond the buffer"])
def test_blocks_on_worker_threads_give_the_one_thread_answer(case, monkeypatch, rng):
    # Blocks of 8 queries on 2 worker threads at once (the search's two-core path, used from 512 queries on),
    # against the same search on one thread: the same neighbours and distances (the raw-distance counts may
    # differ by a few: blocks of other shapes round the screen's GEMM differently, moving points at the margins).
    if case == "ties":  # integer coordinates, every point twice: exact ties broken by index
        x_train = rng.integers(0, 3, (3000, 80)).astype(np.float32)
        x_train[1500:] = x_train[:1500]
        queries = np.concatenate([rng.integers(0, 3, (90, 80)), x_train[:10]]).astype(np.float32)
        settings = {"screen_dimensions": 16, "fine_dimensions": 64, "capacity": 64}
    elif case == "second rounds":  # a tiny first buffer: rounds with 4x the buffer, then brute force
        x_train = low_rank(rng, 6000, 90, rank=20, noise=0.3)
        queries = low_rank(rng, 100, 90, rank=20, noise=0.3)
        settings = {"screen_dimensions": 16, "fine_dimensions": 0, "capacity": 32}
    elif case == "nothing to prune":  # uniform noise: the rounds end in the fallback
        x_train = rng.random((3000, 200), dtype=np.float32)
        queries = rng.random((100, 200), dtype=np.float32)
        settings = {"screen_dimensions": 16, "fine_dimensions": 64, "capacity": 64}
    else:  # the smallest buffer there is, 4k = 160 of 4,000 points, with k = 40
        x_train = low_rank(rng, 4000, 120)
        queries = low_rank(rng, 100, 120)
        settings = {"screen_dimensions": 16, "fine_dimensions": 64, "capacity": 1}
    k = 40 if case == "k beyond the buffer" else 7
    one_thread = search(x_train, queries, k, **settings)
    monkeypatch.setattr(lower_bounds, "WORKERS", 2)
    monkeypatch.setattr(lower_bounds, "MIN_WORKER_QUERIES", 4)
    monkeypatch.setattr(lower_bounds, "MAX_QUERY_BLOCK", 8)
    expected_indices = brute_force(x_train, queries, k)[1]
    for jit in (True, False):
        sq_distances, indices, work, searcher = search(x_train, queries, k, jit=jit, **settings)
        np.testing.assert_array_equal(indices, expected_indices)
        np.testing.assert_array_equal(sq_distances, one_thread[0])
    assert set(lower_bounds.STAGES) <= set(searcher.stage_seconds)   # every stage accounted, none timed here
    if case in ("second rounds", "nothing to prune"):
        assert (work >= x_train.shape[0]).any()   # some queries went on to brute force (the fallback)


# -- the kernel pairs ---------------------------------------------------------------------------------


def test_screen_candidates_kernel_matches_reference(rng):
    # small integer keys: ties at the limits and compactions (capacity 40, blocks of up to 300 keys)
    outputs = []
    for function in (bounds.screen_candidates_numpy, bounds.screen_candidates_numba):
        block_rng = np.random.default_rng(5)
        keys = np.full((25, 40), np.nan, np.float32)
        indices = np.full((25, 40), -1, np.int64)
        counts = np.zeros(25, np.int64)
        limits = np.where(np.arange(25) % 3 == 0, np.inf, 4.0).astype(np.float32)
        first = 0
        for block_size in (7, 300, 64, 131, 1):
            block = block_rng.integers(-6, 9, (25, block_size)).astype(np.float32)
            function(block, first, keys, indices, counts, limits)
            first += block_size
        outputs.append((keys, indices, counts, limits))
    for reference, kernel in zip(*outputs):
        rows = np.arange(40) < outputs[0][2][:, None] if reference.ndim == 2 else slice(None)
        np.testing.assert_array_equal(reference[rows], kernel[rows])
    assert (outputs[0][2] < 40).all() and (outputs[0][3] < 4).any(), "some buffers must have compacted"


def test_screen_candidates_keeps_every_point_below_its_limit(rng):
    keys = rng.standard_normal((10, 5000)).astype(np.float32)
    buffer_keys, buffer_indices = np.empty((10, 100), np.float32), np.empty((10, 100), np.int64)
    counts, limits = np.zeros(10, np.int64), np.full(10, np.inf, np.float32)
    bounds.screen_candidates(keys, 0, buffer_keys, buffer_indices, counts, limits)
    for i in range(10):  # the certificate's invariant: outside the buffer, keys >= the limit
        inside = np.zeros(5000, np.bool_)
        inside[buffer_indices[i, :counts[i]]] = True
        assert (keys[i, ~inside] >= limits[i]).all()
        np.testing.assert_array_equal(buffer_keys[i, :counts[i]], keys[i, buffer_indices[i, :counts[i]]])


def test_provisional_candidates_kernel_matches_reference(rng):
    buffer_keys = rng.integers(0, 5, (30, 50)).astype(np.float32)  # ties
    counts = rng.integers(0, 51, 30)
    outputs = []
    for function in (select.provisional_candidates_numpy, select.provisional_candidates_numba):
        positions = np.empty((30, 9), np.int64)
        function(buffer_keys, counts, positions)
        outputs.append(positions)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (outputs[0][counts < 9] == -1).any()


def test_group_by_point_kernel_matches_reference(rng):
    points = rng.integers(0, 40, 500)
    outputs = []
    for function in (bounds.group_by_point_numpy, bounds.group_by_point_numba):
        order = np.empty(500, np.int64)
        function(points, 40, order)
        outputs.append(order)
    np.testing.assert_array_equal(outputs[0], outputs[1])
    assert (np.diff(points[outputs[0]]) >= 0).all()


def _pairs(rng, dtype, n_queries=12, n_train=300, n_features=100, width=32, n_levels=3):
    queries = rng.random((n_queries, n_features)).astype(dtype)
    train = rng.random((n_train, n_features)).astype(dtype)
    train[150:] = train[:150]  # duplicates: equal fast distances
    query_fine = rng.standard_normal((n_levels, n_queries, width)).astype(dtype)
    train_fine = rng.standard_normal((n_levels, n_train, width)).astype(dtype)
    rows = np.repeat(np.arange(n_queries), 40)
    points = np.concatenate([rng.permutation(n_train)[:40] for _ in range(n_queries)])
    keys = rng.standard_normal(rows.size).astype(dtype)
    thresholds = np.empty((n_queries, 4))
    thresholds[:, 0] = -20.0
    thresholds[:, 1] = rng.uniform(20, 200, n_queries)  # some pairs dropped at each level
    thresholds[:, 2] = rng.uniform(14, 20, n_queries)  # about half the raw distances pass
    thresholds[:, 3] = 1 - 1e-6
    return (queries, train, query_fine, train_fine, rng.random(n_queries), rng.random(n_train), rows, points, keys,
            thresholds)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_refine_pairs_kernel_matches_reference(dtype, rng):
    arguments = _pairs(rng, dtype)
    outputs = []
    for compute_raw in (True, False):
        for function in (bounds.refine_pairs_numpy, bounds.refine_pairs_numba):
            fast, raw = np.empty(arguments[6].size, dtype), np.empty(arguments[6].size, np.bool_)
            last_bounds = np.empty(arguments[6].size)
            function(*arguments, compute_raw, fast, raw, last_bounds)
            outputs.append((fast, raw, last_bounds))
    for reference, kernel in ((outputs[0], outputs[1]), (outputs[2], outputs[3])):
        for a, b in zip(reference, kernel):
            np.testing.assert_array_equal(a, b)
    assert not outputs[2][1].any() and np.isinf(outputs[2][0]).all()  # bounds only
    np.testing.assert_array_equal(outputs[0][2], outputs[2][2])
    fast, raw, _ = outputs[0]
    assert 0 < raw.sum() < raw.size and np.isfinite(fast).sum() < raw.sum(), "each test must drop some pairs"
    queries, train, rows, points = arguments[0], arguments[1], arguments[6], arguments[7]
    expected = bounds.fast_sq_distances_numpy(queries[rows[0]], train[points[:40]])  # the definition, row 0
    kept = np.isfinite(fast[:40])
    np.testing.assert_array_equal(fast[:40][kept], expected[kept])


def test_fast_distance_is_within_its_stated_margin_of_the_true_one(rng):
    # (d) of npae.knn.lower_bounds: |fast - true| <= gamma_fast true, here against exact rational arithmetic
    from fractions import Fraction

    query, rows = rng.random(784).astype(np.float32), rng.random((5, 784)).astype(np.float32)
    fast = bounds.fast_sq_distances_numpy(query, rows)
    gamma = (784 // 16 + 2 * 16 + 4) * 2.0**-24 / (1 - (784 // 16 + 2 * 16 + 4) * 2.0**-24)
    for row, value in zip(rows, fast):
        true = sum((Fraction(float(a)) - Fraction(float(b))) ** 2 for a, b in zip(row, query))
        assert abs(Fraction(float(value)) - true) <= Fraction(gamma) * true


def test_finish_queries_kernel_matches_reference(rng):
    queries = rng.random((8, 30)).astype(np.float32)
    train = rng.random((60, 30)).astype(np.float32)
    train[30:] = train[:30]
    counts = np.array([0, 3, 4, 10, 20, 9, 5, 40])
    starts = np.concatenate([[0], np.cumsum(counts)])
    points = np.concatenate([rng.permutation(60)[:c] for c in counts])
    rows = np.repeat(np.arange(8), counts)
    fast = bounds.fast_sq_distances_numpy(queries[0], train[points]) * 0  # placeholder of the right dtype
    for r in range(8):
        segment = slice(starts[r], starts[r + 1])
        fast[segment] = bounds.fast_sq_distances_numpy(queries[r], train[points[segment]])
    fast[::7] = np.inf  # dropped candidates
    outputs = []
    for function in (select.finish_queries_numpy, select.finish_queries_numba):
        distances, indices = np.empty((8, 4)), np.empty((8, 4), np.int64)
        limits, work = np.empty(8), np.empty(8, np.int64)
        function(queries, train, starts, points, fast, np.array([1e-5, 1e-13]), distances, indices, limits, work)
        outputs.append((distances, indices, limits))
    for reference, kernel in zip(*outputs):
        np.testing.assert_array_equal(reference, kernel)
    assert (outputs[0][1][0] == -1).all() and (outputs[0][1][4] >= 0).all()
    assert rows.size == points.size


# -- plan, attributes (the memory budget: tests/test_knn.py) ---------------------------------------------------------------------------


def test_the_plan_is_deterministic_and_auto_uses_the_bounds_on_structured_data(rng):
    x_train = low_rank(rng, 20000, 500, rank=10)
    first, second = (KNNClassifier().fit(x_train, np.zeros(20000)) for _ in range(2))
    assert first.algorithm_ == "lower_bounds" and first._search.plan == second._search.plan
    assert KNNClassifier().fit(x_train[:, :100], np.zeros(20000)).algorithm_ == "gemm"  # too few pixels to pay
    queries = low_rank(rng, 50, 500, rank=10)
    distances, indices = first.kneighbors(queries)
    assert first.raw_distances_.shape == (50,) and first.raw_distances_.mean() < 1000
    np.testing.assert_array_equal(indices, brute_force(x_train, queries, 7)[1])


def test_the_trial_stops_after_its_pre_trial_on_data_with_nothing_to_prune(monkeypatch, rng):
    # auto on noise: the 8 queries of the pre-trial price the bounds far above brute force, and the other
    # 56 are never searched; on structured data they are (and the pre-trial's 8 are not searched again)
    calls, plans = [], []
    estimate, plan_search = GemmSearch.estimated_kth_sq_distances, lower_bounds.plan_search
    monkeypatch.setattr(GemmSearch, "estimated_kth_sq_distances", lambda self, queries, k: calls.append(len(queries))
                        or estimate(self, queries, k))
    monkeypatch.setattr(lower_bounds, "plan_search", lambda *arguments: plans.append(plan_search(*arguments)) or plans[-1])
    pre_trial = lower_bounds.TRIAL_QUERIES // lower_bounds.PRE_TRIAL_STEP
    assert KNNClassifier().fit(rng.random((20000, 200), dtype=np.float32), np.zeros(20000)).algorithm_ == "gemm"
    assert calls == [pre_trial] and plans[-1]["trial_queries"] == pre_trial
    calls.clear()
    assert KNNClassifier().fit(low_rank(rng, 20000, 300, rank=10), np.zeros(20000)).algorithm_ == "lower_bounds"
    assert calls == [pre_trial, lower_bounds.TRIAL_QUERIES - pre_trial]
    assert plans[-1]["trial_queries"] == lower_bounds.TRIAL_QUERIES


def test_the_trials_estimated_distances_hold_for_offset_data(rng):
    # pixels + 1000: the float32 products are taken of centred data, or they would cancel every digit
    x_train = (1000 + rng.random((3000, 50))).astype(np.float32)
    queries = (1000 + rng.random((10, 50))).astype(np.float32)
    exact = np.sort(((queries[:, None, :].astype(np.float64) - x_train[None, :, :]) ** 2).sum(axis=2), axis=1)
    for k in (1, 8):
        estimated = GemmSearch(x_train, 5, 2**26).estimated_kth_sq_distances(queries, k)
        np.testing.assert_allclose(estimated, exact[:, k - 1], rtol=1e-3)


# -- real data ------------------------------------------------------------------------------------------


def test_mnist_all_test_images_match_scikit_learn_brute_force(mnist):
    """All 10,000 MNIST test images against the 60,000 training images: the same neighbours and
    predictions as scikit-learn's brute force, and the same distances, bitwise, as npae's GEMM path.

    scikit-learn searches once (its predict would search again): its prediction is the majority
    label of its neighbours, smallest label on a tie, which its predict is checked to be on 500 images.
    """
    neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn is the oracle of this test")
    (x_train, y_train), (x_test, _) = mnist
    model = KNNClassifier(k=7).fit(x_train, y_train)
    assert model.algorithm_ == "lower_bounds"
    distances, indices = model.kneighbors(x_test)
    assert np.median(model.raw_distances_) < 100  # the bounds do prune: ~20 of 60,000 distances per query
    reference = neighbors.KNeighborsClassifier(n_neighbors=7, algorithm="brute").fit(x_train, y_train)
    reference_indices = reference.kneighbors(x_test, return_distance=False)
    np.testing.assert_array_equal(indices, reference_indices)
    votes = np.apply_along_axis(np.bincount, 1, y_train[reference_indices], minlength=10)
    reference_predictions = votes.argmax(axis=1)  # the first maximum: the smallest tied label
    np.testing.assert_array_equal(reference_predictions[:500], reference.predict(x_test[:500]))
    np.testing.assert_array_equal(model.predict(x_test), reference_predictions)
    gemm_distances, gemm_indices = KNNClassifier(k=7, algorithm="gemm").fit(x_train, y_train).kneighbors(x_test[:1000])
    np.testing.assert_array_equal(indices[:1000], gemm_indices)
    np.testing.assert_array_equal(distances[:1000], gemm_distances)


@pytest.mark.parametrize("data", ["mnist", "fashion_mnist"])
def test_all_test_images_have_scikit_learn_float64_brute_force_neighbours(data, request):
    """Issue 20's exactness: identical neighbours (not only predictions) to scikit-learn's brute force in
    float64, on all 10,000 test images of MNIST and Fashion-MNIST, 60,000 training images, k = 7."""
    neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn is the oracle of this test")
    (x_train, y_train), (x_test, _) = request.getfixturevalue(data)
    model = KNNClassifier(k=7, algorithm="lower_bounds").fit(x_train, y_train)
    indices = model.kneighbors(x_test)[1]
    reference = neighbors.NearestNeighbors(n_neighbors=7, algorithm="brute").fit(x_train.astype(np.float64))
    np.testing.assert_array_equal(indices, reference.kneighbors(x_test.astype(np.float64), return_distance=False))
