"""npae.PCA: the definition on planted low-rank data, scikit-learn as the oracle, bad input."""
import numpy as np
import pytest

from npae import Adam, Autoencoder
from npae.metrics import principal_angles
from npae.pca import PCA


def low_rank_data(rng, n_samples=400, n_features=12, rank=3, noise=1e-3):
    """x = mu + z B + noise with B (rank, d): the data's variance lives in span(B^T), up to the noise."""
    basis = rng.standard_normal((rank, n_features))
    latent = rng.standard_normal((n_samples, rank)) * np.array([5.0, 3.0, 2.0])[:rank]
    x = 4.0 + latent @ basis + noise * rng.standard_normal((n_samples, n_features))
    return x, basis


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_pca_recovers_a_planted_subspace(solver, rng):
    x, basis = low_rank_data(rng)
    pca = PCA(3, svd_solver=solver).fit(x)
    assert np.max(principal_angles(pca.components_.T, basis.T, degrees=True)) < 0.01
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(3), atol=1e-10)
    assert pca.explained_variance_ratio_.sum() > 0.9999     # three directions hold (almost) everything
    assert np.all(np.diff(pca.explained_variance_) <= 0)    # sorted, largest first
    # Projecting on the planted subspace and back leaves only the noise (variance 1e-6 per feature).
    assert np.mean(pca.reconstruction_error(x)) < 2e-6


def test_pca_transform_definitions(rng):
    x, _ = low_rank_data(rng, n_features=6, rank=2)
    pca = PCA(2).fit(x)
    z = pca.transform(x)
    np.testing.assert_allclose(z, (x - x.mean(axis=0)) @ pca.components_.T)
    np.testing.assert_allclose(pca.inverse_transform(z), z @ pca.components_ + x.mean(axis=0))
    np.testing.assert_allclose(pca.reconstruction_error(x), np.mean((x - pca.reconstruct(x)) ** 2, axis=1))
    # The variance of each coordinate is the explained variance (ddof = 1).
    np.testing.assert_allclose(z.var(axis=0, ddof=1), pca.explained_variance_)
    # With every component kept, PCA is a rotation: the reconstruction is exact.
    full = PCA().fit(x)
    assert full.n_components_ == 6
    np.testing.assert_allclose(full.reconstruct(x), x, atol=1e-10)
    np.testing.assert_allclose(full.explained_variance_ratio_.sum(), 1.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
def test_pca_matches_sklearn(solver, dtype, rng):
    decomposition = pytest.importorskip("sklearn.decomposition")
    x = (rng.standard_normal((300, 15)) @ rng.standard_normal((15, 15))).astype(dtype)
    ours = PCA(5, svd_solver=solver).fit(x)
    theirs = decomposition.PCA(5, svd_solver=solver).fit(x)
    tolerance = 1e-9 if dtype == np.float64 else 1e-3
    for name in ("mean_", "components_", "explained_variance_", "explained_variance_ratio_", "singular_values_"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=tolerance, atol=tolerance,
                                   err_msg=name)
        assert getattr(ours, name).dtype == dtype, name
    np.testing.assert_allclose(ours.transform(x), theirs.transform(x), rtol=tolerance, atol=10 * tolerance)


def test_pca_auto_solver_picks_covariance_for_tall_data(rng):
    # Both solvers give the same components; "auto" must not change the answer, only the cost.
    x = rng.standard_normal((200, 8)) * np.arange(1, 9)
    auto = PCA(3).fit(x)
    full = PCA(3, svd_solver="full").fit(x)
    np.testing.assert_allclose(auto.components_, full.components_, atol=1e-10)
    assert auto._choose_solver(200, 8) == "covariance_eigh"
    assert auto._choose_solver(10, 8) == "full"


def test_pca_rejects_bad_input(rng):
    x = rng.standard_normal((20, 5))
    with pytest.raises(ValueError, match="n_components"):
        PCA(6).fit(x)
    with pytest.raises(ValueError, match="n_components"):
        PCA(0).fit(x)
    with pytest.raises(ValueError, match="n_components"):
        PCA(2.5).fit(x)
    with pytest.raises(ValueError, match="svd_solver"):
        PCA(2, svd_solver="randomized").fit(x)
    with pytest.raises(ValueError, match="NaN or inf"):
        PCA(2).fit(np.where(x > 1.5, np.nan, x))
    with pytest.raises(ValueError, match="2-D"):
        PCA(2).fit(x[0])
    with pytest.raises(ValueError, match="at least 2 samples"):
        PCA(1).fit(x[:1])
    with pytest.raises(ValueError, match="not fitted") as caught:   # scikit-learn's NotFittedError contract
        PCA(2).transform(x)
    assert isinstance(caught.value, AttributeError)
    pca = PCA(2).fit(x)
    with pytest.raises(ValueError, match="4 features"):
        pca.transform(x[:, :4])
    with pytest.raises(ValueError, match="shape"):
        pca.inverse_transform(np.ones((3, 3)))


def test_linear_autoencoder_learns_the_pca_subspace(rng):
    """Baldi & Hornik (1989): a linear autoencoder trained with MSE on centred data spans PCA's subspace.

    Its reconstructions x W_enc W_dec lie in the span of W_dec's rows, so that span is compared with the
    span of PCA's components.  The basis is another one (nothing makes W_dec's rows orthonormal).
    """
    basis = rng.standard_normal((3, 10))
    x = (rng.standard_normal((500, 3)) * np.array([3.0, 2.0, 1.0])) @ basis + 0.1 * rng.standard_normal((500, 10))
    x = x.astype(np.float32)
    pca = PCA(3).fit(x)
    linear = Autoencoder([10, 3], activation="identity", latent_activation="identity", output_activation="identity",
                         loss="mse", optimizer=Adam(learning_rate=0.01), seed=0)
    linear.fit(x - pca.mean_, epochs=40, batch_size=32, verbose=0)
    decoder_rows = linear.get_weights()[2]                  # (3, 10)
    assert np.max(principal_angles(decoder_rows.T, pca.components_.T, degrees=True)) < 1.0
    # A random 3-dimensional subspace of R^10 is far away: the test can fail.
    assert np.max(principal_angles(rng.standard_normal((10, 3)), pca.components_.T, degrees=True)) > 30
    # PCA is the best rank-3 linear reconstruction: the autoencoder can match it, never beat it.
    assert linear.reconstruction_error(x - pca.mean_).mean() >= pca.reconstruction_error(x).mean() * (1 - 1e-5)


@pytest.mark.parametrize("solver", ["full", "covariance_eigh"])
@pytest.mark.parametrize("dtype, factor", [(np.float64, 1e-170), (np.float64, 1e150), (np.float32, 1e-20)])
def test_pca_at_extreme_magnitudes_keeps_its_directions_and_ratios(solver, dtype, factor, rng):
    """Red-team 22: PCA(2).fit(x * 1e-170) gave NaN variance ratios (the variances underflow to 0)."""
    x = (rng.standard_normal((200, 6)) * [5, 3, 1, 0.5, 0.2, 0.1]).astype(dtype)
    unit = PCA(2, svd_solver=solver).fit(x)
    scaled = PCA(2, svd_solver=solver).fit((x * factor).astype(dtype))
    assert np.isfinite(scaled.explained_variance_ratio_).all()
    tolerance = 1e-5 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(scaled.explained_variance_ratio_, unit.explained_variance_ratio_, rtol=tolerance)
    np.testing.assert_allclose(scaled.components_, unit.components_, atol=tolerance)
    np.testing.assert_allclose(scaled.singular_values_ / factor, unit.singular_values_, rtol=tolerance)
    np.testing.assert_allclose(scaled.transform((x * factor).astype(dtype)) / factor, unit.transform(x),
                               rtol=1e-4, atol=tolerance * np.abs(unit.transform(x)).max())


def test_pca_of_constant_data_explains_nothing():
    pca = PCA(2).fit(np.ones((10, 3)))
    np.testing.assert_array_equal(pca.explained_variance_ratio_, 0.0)
    np.testing.assert_array_equal(pca.explained_variance_, 0.0)
