"""npae.ReconstructionErrorDetector on planted outliers, with PCA and with trained autoencoders."""
import numpy as np
import pytest

import npae
from npae import Autoencoder
from npae._estimator import NotFittedError
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
    # An explicit threshold takes precedence over contamination (whose default, PyOD's, is 0.1).
    assert ReconstructionErrorDetector(pca, contamination=0.1, threshold=1.0).fit(test).threshold_ == 1.0
    with pytest.raises(ValueError, match="threshold"):
        ReconstructionErrorDetector(pca, threshold=np.nan).predict(test)
    with pytest.raises(ValueError, match="n must be"):
        detector.top(test, 0)
    with pytest.raises(NotFittedError, match="not fitted"):
        ReconstructionErrorDetector(pca, contamination=0.1).predict(test)
    with pytest.raises(NotFittedError, match="no threshold"):
        ReconstructionErrorDetector(pca, contamination=None).fit(test).predict(test)


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


# -- the scores of npae.anomaly.SCORES ---------------------------------------------------------------

def test_scores_and_their_formulas(rng):
    from npae.anomaly import ELBO_SAMPLES, SCORES, score_samples

    assert SCORES == ("re", "bce", "elbo") and ReconstructionErrorDetector(None).anomaly_score == "re"
    x = rng.uniform(0.02, 0.98, (7, 10))
    model = Autoencoder([10, 4], dtype="float64", seed=0)
    p = model.reconstruct(x)
    np.testing.assert_allclose(score_samples(model, x, "bce"), -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), 1),
                               rtol=1e-10)
    np.testing.assert_allclose(score_samples(model, x, "re"), np.mean((x - p) ** 2, axis=1), rtol=1e-12)
    vae = npae.VariationalAutoencoder([10, 6, 2], dtype="float64", seed=0)
    reconstruction, kl = vae.elbo_terms(x, n_samples=ELBO_SAMPLES)
    np.testing.assert_allclose(score_samples(vae, x, "elbo"), reconstruction + kl, rtol=1e-12)
    q = vae.reconstruct(x)                                    # "bce" of a VAE: its mean reconstruction
    np.testing.assert_allclose(score_samples(vae, x, "bce"), -np.sum(x * np.log(q) + (1 - x) * np.log(1 - q), 1),
                               rtol=1e-10)
    # A detector combines the scores of its models like the REs.
    detector = ReconstructionErrorDetector([model, vae], anomaly_score="bce", combine="max")
    np.testing.assert_allclose(detector.decision_function(x),
                               np.maximum(score_samples(model, x, "bce"), score_samples(vae, x, "bce")))
    assert "anomaly_score='bce'" in repr(detector)


def test_score_errors_name_the_score_and_the_model(rng):
    x = rng.uniform(0, 1, (5, 10))
    autoencoder = Autoencoder([10, 4], seed=0)
    with pytest.raises(ValueError, match=r"anomaly_score='energy' is not one of \['re', 'bce', 'elbo'\]"):
        ReconstructionErrorDetector(autoencoder, anomaly_score="energy").decision_function(x)
    with pytest.raises(ValueError, match="anomaly_score='elbo' needs an npae.VariationalAutoencoder.*models\\[1\\] is a "
                                         "Autoencoder"):
        ReconstructionErrorDetector([npae.VariationalAutoencoder([10, 2]), autoencoder], anomaly_score="elbo").fit(x)
    with pytest.raises(ValueError, match="anomaly_score='bce' needs a model trained with loss='bce'.*PCA"):
        ReconstructionErrorDetector(PCA(2).fit(x), anomaly_score="bce").decision_function(x)
    with pytest.raises(ValueError, match="anomaly_score='bce' needs a model trained with loss='bce'.*MeanSquaredError"):
        ReconstructionErrorDetector(Autoencoder([10, 4], loss="mse"), anomaly_score="bce").decision_function(x)


def test_bce_puts_more_real_shoes_above_every_digit_than_re():
    """Section 8.3 of the report in miniature: 6,000 training digits, the sample's 1,000 test digits and
    its Fashion-MNIST shoes; the binary cross-entropy separates far more shoes than the squared error."""
    from npae.anomaly import score_samples
    from npae.datasets import load_fashion_mnist, load_mnist

    (x_train, _), (digits, _) = load_mnist(sample=True)
    (_, _), (fashion, labels) = load_fashion_mnist(sample=True)
    shoes = fashion[np.isin(labels, [5, 7, 9])]
    model = Autoencoder([784, 64], seed=0)
    model.fit(x_train, epochs=4, verbose=0)
    share = {score: np.mean(score_samples(model, shoes, score) > score_samples(model, digits, score).max())
             for score in ("re", "bce")}
    assert share["bce"] > share["re"] + 0.2


def test_inject_anomalies_is_anomaly_set_for_arrays_in_memory():
    from npae.datasets import anomaly_set, inject_anomalies, load_fashion_mnist, load_mnist

    (_, _), (digits, digit_labels) = load_mnist(sample=True)
    (_, _), (fashion, fashion_labels) = load_fashion_mnist(sample=True)
    for options in ({"n_anomalies": 40, "seed": 3, "shuffle": True}, {"fashion_indices": [0, 7]},
                    {"n_anomalies": 5, "classes": (5, 7, 9), "seed": 1}):
        from_files = anomaly_set(sample=True, **options)
        in_memory = inject_anomalies(digits, digit_labels, fashion, fashion_labels, **options)
        for a, b in zip(from_files, in_memory):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="pair up row by row"):
        inject_anomalies(digits, digit_labels[:-1], fashion, fashion_labels, n_anomalies=3)
