"""kNN far from unit magnitude (red-team findings 3 and 6): the same neighbours as at unit scale, and no slow path."""
import numpy as np
import pytest

from npae.knn import GemmSearch, KNNClassifier
from test_knn import brute_force  # the definition, written independently of npae


def clustered(rng, n, n_features, dtype):
    """Points in 20 tight clusters: near neighbours are close calls, and the bounds have something to prune."""
    centres = rng.standard_normal((20, n_features))
    return (centres[rng.integers(0, 20, n)] + 0.05 * rng.standard_normal((n, n_features))).astype(dtype)


@pytest.mark.parametrize("algorithm", ["gemm", "lower_bounds", "auto", "kdtree", "direct"])
@pytest.mark.parametrize("dtype, exponent, query_exponent", [
    ("float32", -80, -80),    # ~1e-24: products ~1e-48, below float32's smallest number
    ("float32", -80, -70),    # queries 1e3 times larger than the training points (the finding's 1e-21)
    ("float64", -548, -548),  # ~1e-165: products ~1e-330, below float64's
])
def test_tiny_data_has_the_neighbours_of_the_same_data_at_unit_scale(algorithm, dtype, exponent, query_exponent, rng):
    """Red-team 3: products that underflow gave wrong neighbours, certified exact.  Scaling by a power of
    two is exact, so the answer must be the unit-scale answer, distances scaled back bit for bit."""
    x_train = clustered(rng, 1500, 40, dtype)
    queries = x_train[::50] + (0.01 * rng.standard_normal((30, 40))).astype(dtype)
    queries = np.vstack([queries, x_train[:5]]).astype(dtype)  # exact duplicates too
    if query_exponent != exponent:  # queries at another magnitude: exact only if both scalings are
        queries = np.ldexp(queries, query_exponent - exponent).astype(dtype)
    labels = np.arange(1500) % 4
    unit_model = KNNClassifier(k=7, algorithm=algorithm, dtype=dtype).fit(x_train, labels)
    unit_distances, unit_indices = unit_model.kneighbors(queries)
    _, expected = brute_force(x_train, queries, 7)
    np.testing.assert_array_equal(unit_indices, expected)
    tiny_train = np.ldexp(x_train, exponent).astype(dtype)
    tiny_queries = np.ldexp(queries, exponent).astype(dtype)
    assert np.array_equal(np.ldexp(tiny_train, -exponent), x_train)  # the scaling itself was exact
    model = KNNClassifier(k=7, algorithm=algorithm, dtype=dtype).fit(tiny_train, labels)
    distances, indices = model.kneighbors(tiny_queries)
    np.testing.assert_array_equal(indices, unit_indices)
    np.testing.assert_array_equal(distances, np.ldexp(unit_distances, exponent))
    np.testing.assert_array_equal(model.predict(tiny_queries), unit_model.predict(queries))


def test_gemm_certificate_is_valid_where_products_underflow(rng):
    """The certificate alone (no rescaling: GemmSearch used directly) must not pass a wrong answer."""
    x_train = np.ldexp(clustered(rng, 600, 24, np.float32), -80).astype(np.float32)
    queries = x_train[::20] * np.float32(1.001)
    search = GemmSearch(x_train, 5, 2**26)
    distances = np.empty((30, 5))
    indices = np.empty((30, 5), np.int64)
    search.search(queries, np.arange(30), distances, indices)
    np.testing.assert_array_equal(indices, brute_force(x_train, queries, 5)[1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_offset_data_is_centred_and_certified_in_one_round(dtype, rng):
    """Red-team 6: pixels + 1000 made the certificate's slack ~1e4 times the k-th distance, and every
    query went through every retry (700x slower).  Centred products certify at the first round."""
    x_train = (clustered(rng, 2000, 60, dtype) + 1000).astype(dtype)
    queries = x_train[::40] + (0.02 * rng.standard_normal((50, 60))).astype(dtype)
    search = GemmSearch(x_train, 7, 2**26)
    assert search.centre is not None
    rounds = []
    original = search._gemm_block
    search._gemm_block = lambda *arguments: rounds.append(arguments[2]) or original(*arguments)
    distances = np.empty((50, 7))
    indices = np.empty((50, 7), np.int64)
    search.search(queries, np.arange(50), distances, indices)
    expected_distances, expected_indices = brute_force(x_train, queries, 7)
    np.testing.assert_array_equal(indices, expected_indices)
    np.testing.assert_allclose(np.sqrt(distances), expected_distances, rtol=1e-14)  # summation order aside
    assert rounds == [7 + 8]  # one block, k + EXTRA_CANDIDATES candidates: no retry
    # and through the classifier, every algorithm that uses the GEMM
    for algorithm in ("gemm", "auto", "lower_bounds"):
        model = KNNClassifier(k=7, algorithm=algorithm, dtype=dtype).fit(x_train, np.arange(2000) % 3)
        np.testing.assert_array_equal(model.kneighbors(queries)[1], expected_indices)


def test_a_column_a_million_times_larger_stays_exact(rng):
    x_train = clustered(rng, 2000, 60, np.float32)
    x_train[:, 7] *= 1e6
    queries = x_train[::40] * np.float32(1.0001)
    _, expected = brute_force(x_train, queries, 7)
    for algorithm in ("gemm", "lower_bounds", "auto"):
        np.testing.assert_array_equal(KNNClassifier(k=7, algorithm=algorithm).fit(x_train, np.zeros(2000))
                                      .kneighbors(queries)[1], expected)
