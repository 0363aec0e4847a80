"""npae.ReconstructionErrorDetector on planted outliers, with PCA and with trained autoencoders."""
import numpy as np
import pytest

from npae import Autoencoder
from npae.anomaly import ReconstructionErrorDetector, train_ensemble
from npae.metrics import roc_auc_score
from npae.pca import PCA


def planted(rng, n_normal=300, n_outliers=6, n_features=10, rank=2):
    """Normal rows lie near a rank-2 subspace; outliers are pushed 3 units off it.  Returns (train, test, labels)."""
    basis = np.linalg.qr(rng.standard_normal((n_features, n_features)))[0]
    inside, outside = basis[:, :rank], basis[:, rank:]

    def normal(count):
        return rng.standard_normal((count, rank)) @ inside.T + 0.05 * rng.standard_normal((count, n_features))

    train = normal(n_normal)
    test = normal(n_normal)
    outlier_rows = rng.choice(n_normal, n_outliers, replace=False)
    test[outlier_rows] += 3.0 * rng.standard_normal((n_outliers, n_features - rank)) @ outside.T
    labels = np.zeros(n_normal, dtype=int)
    labels[outlier_rows] = 1
    return train, test, labels


def test_detector_finds_planted_outliers(rng):
    train, test, labels = planted(rng)
    detector = ReconstructionErrorDetector(PCA(2).fit(train), contamination=0.02).fit(test)
    indices, scores = detector.top(test, labels.sum())
    assert set(indices) == set(np.flatnonzero(labels))
    assert np.all(np.diff(scores) <= 0)                       # largest first
    assert roc_auc_score(labels, detector.decision_function(test)) == 1.0
    # contamination 0.02 of 300 rows = 6 flagged, exactly the planted ones.
    np.testing.assert_array_equal(detector.labels_, labels)
    np.testing.assert_array_equal(detector.predict(test), labels)
    assert detector.threshold_ == pytest.approx(np.quantile(detector.decision_scores_, 0.98))
    np.testing.assert_array_equal(detector.score_samples(test), -detector.decision_function(test))


def test_scores_are_the_reconstruction_error(rng):
    train, test, _ = planted(rng)
    pca = PCA(2).fit(train)
    expected = np.mean((test - pca.reconstruct(test)) ** 2, axis=1)
    np.testing.assert_allclose(ReconstructionErrorDetector(pca).decision_function(test), expected)


def test_ensemble_combines_by_mean_and_max(rng):
    train, test, _ = planted(rng)
    models = [PCA(q).fit(train) for q in (1, 2, 3)]
    per_model = np.stack([model.reconstruction_error(test) for model in models])
    detector = ReconstructionErrorDetector(models)
    np.testing.assert_allclose(detector.model_scores(test), per_model)
    np.testing.assert_allclose(detector.decision_function(test), per_model.mean(axis=0))
    detector_max = ReconstructionErrorDetector(models, combine="max")
    np.testing.assert_allclose(detector_max.decision_function(test), per_model.max(axis=0))


def test_explicit_threshold_needs_no_fit(rng):
    train, test, labels = planted(rng)
    pca = PCA(2).fit(train)
    errors = pca.reconstruction_error(test)
    cut = 0.5 * (np.max(errors[labels == 0]) + np.min(errors[labels == 1]))   # between the two groups
    np.testing.assert_array_equal(ReconstructionErrorDetector(pca, threshold=cut).predict(test), labels)


def test_top_breaks_ties_by_position():
    # Two identical rows have identical errors: the earlier one comes first, every time.
    pca = PCA(1).fit(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    x = np.array([[0.0, 1.0], [0.0, 3.0], [5.0, 3.0], [0.0, 2.0]])
    indices, scores = ReconstructionErrorDetector(pca).top(x, 3)
    np.testing.assert_array_equal(indices, [1, 2, 3])
    np.testing.assert_allclose(scores, [4.5, 4.5, 2.0])


def test_detector_rejects_bad_input(rng):
    train, test, _ = planted(rng)
    pca = PCA(2).fit(train)
    with pytest.raises(ValueError, match="empty"):
        ReconstructionErrorDetector([]).decision_function(test)
    with pytest.raises(ValueError, match="same number of features"):
        ReconstructionErrorDetector([pca, PCA(2).fit(train[:, :5])]).decision_function(test)
    with pytest.raises(ValueError, match="reconstruction_error"):
        ReconstructionErrorDetector([pca, "not a model"]).decision_function(test)
    detector = ReconstructionErrorDetector(pca)
    with pytest.raises(ValueError, match="9 features"):
        detector.decision_function(test[:, :9])
    with pytest.raises(ValueError, match="NaN or inf"):
        detector.decision_function(np.where(test > 2, np.inf, test))
    with pytest.raises(ValueError, match="2-D"):
        detector.decision_function(test[0])
    with pytest.raises(ValueError, match="combine"):
        ReconstructionErrorDetector(pca, combine="median").decision_function(test)
    for contamination in (0, -0.1, 0.6, "1%"):
        with pytest.raises(ValueError, match="contamination"):
            ReconstructionErrorDetector(pca, contamination=contamination).fit(test)
    with pytest.raises(ValueError, match="not both"):
        ReconstructionErrorDetector(pca, contamination=0.1, threshold=1.0).fit(test)
    with pytest.raises(ValueError, match="threshold"):
        ReconstructionErrorDetector(pca, threshold=np.nan).predict(test)
    with pytest.raises(ValueError, match="n must be"):
        detector.top(test, 0)
    with pytest.raises(RuntimeError, match="not fitted"):
        ReconstructionErrorDetector(pca, contamination=0.1).predict(test)
    with pytest.raises(RuntimeError, match="no threshold"):
        ReconstructionErrorDetector(pca).fit(test).predict(test)


# -- with the real autoencoder ------------------------------------------------------------------------

def bars(rng, count, vertical):
    """8x8 images with one bright bar: horizontal bars are the normal data, vertical ones the anomalies."""
    images = np.zeros((count, 8, 8), dtype=np.float32)
    positions = rng.integers(1, 7, count)
    for image, position in zip(images, positions):
        if vertical:
            image[:, position] = 1.0
        else:
            image[position, :] = 1.0
    return images.reshape(count, 64)


def test_autoencoder_ensemble_flags_planted_outliers(rng):
    train = bars(rng, 600, vertical=False)
    test = np.concatenate([bars(rng, 200, vertical=False), bars(rng, 4, vertical=True)])
    labels = np.r_[np.zeros(200, dtype=int), np.ones(4, dtype=int)]
    models = train_ensemble(train, latent_sizes=[4], seeds=[0, 1], epochs=20, batch_size=32)
    assert len(models) == 2 and all(isinstance(model, Autoencoder) for model in models)
    detector = ReconstructionErrorDetector(models).fit(test)
    assert roc_auc_score(labels, detector.decision_scores_) == 1.0
    indices, _ = detector.top(test, 4)
    assert set(indices) == {200, 201, 202, 203}
    # Same seeds, same data: the ensemble is reproducible.
    again = train_ensemble(train, latent_sizes=4, seeds=[0, 1], epochs=20, batch_size=32)
    np.testing.assert_array_equal(ReconstructionErrorDetector(again).decision_function(test), detector.decision_scores_)
    with pytest.raises(ValueError, match="latent_sizes"):
        train_ensemble(train, latent_sizes=[], seeds=[0])
