"""ReconstructionErrorDetector as PyOD and scikit-learn users call it: defaults, fit(X, y), clone,
predict_proba / predict_confidence against PyOD's own BaseDetector, a detector that trains its own
autoencoder, image batches, and the red-team findings 11, 18 and 21."""
import numpy as np
import pytest

import npae
from npae._estimator import NotFittedError
from npae.anomaly import ReconstructionErrorDetector, binomial_survival, score_samples, train_ensemble
from npae.metrics import roc_auc_score
from npae.pca import PCA


def bars(rng, count, vertical):
    """8x8 images with one bright bar: horizontal bars are the normal data, vertical ones the anomalies."""
    images = np.zeros((count, 8, 8), dtype=np.float32)
    for image, position in zip(images, rng.integers(1, 7, count)):
        if vertical:
            image[:, position] = 1.0
        else:
            image[position, :] = 1.0
    return images.reshape(count, 64)


@pytest.fixture
def data(rng):
    """(train, test, labels): horizontal bars, then a test set with 10 vertical bars at its end."""
    train = bars(rng, 400, vertical=False)
    test = np.concatenate([bars(rng, 90, vertical=False), bars(rng, 10, vertical=True)])
    return train, test, np.r_[np.zeros(90, dtype=int), np.ones(10, dtype=int)]


@pytest.fixture
def pca_detector(data):
    train, test, _ = data
    return ReconstructionErrorDetector(PCA(3).fit(train)).fit(test)


def test_pyod_defaults_and_the_unsupervised_signature(data, pca_detector):
    train, test, labels = data
    assert ReconstructionErrorDetector().contamination == 0.1          # PyOD's default
    np.testing.assert_array_equal(pca_detector.predict(test), pca_detector.labels_)   # no threshold option needed
    assert pca_detector.labels_.sum() == 10 and roc_auc_score(labels, pca_detector.decision_scores_) == 1.0
    with_y = ReconstructionErrorDetector(pca_detector.models).fit(test, labels)         # y ignored, as in PyOD
    np.testing.assert_array_equal(with_y.decision_scores_, pca_detector.decision_scores_)
    assert with_y.threshold_ == pca_detector.threshold_
    np.testing.assert_array_equal(ReconstructionErrorDetector(pca_detector.models).fit_predict(test, labels),
                                  pca_detector.labels_)
    assert pca_detector.n_features_in_ == 64


def test_get_params_set_params_and_scikit_learns_clone(data, pca_detector):
    base = pytest.importorskip("sklearn.base")
    _, test, _ = data
    params = pca_detector.get_params(deep=False)
    assert params["contamination"] == 0.1 and params["models"] is pca_detector.models and params["sizes"] == (64,)
    assert base.is_outlier_detector(pca_detector)
    copy = base.clone(pca_detector)
    assert not hasattr(copy, "decision_scores_") and copy.models is not pca_detector.models
    # The clone keeps the trained model (a deep copy): refitted, it scores exactly alike.
    np.testing.assert_array_equal(copy.fit(test).decision_scores_, pca_detector.decision_scores_)
    assert copy.set_params(contamination=0.05, combine="max") is copy and copy.contamination == 0.05
    with pytest.raises(ValueError, match="'contamnation' is not a parameter"):
        copy.set_params(contamnation=0.2)
    assert "models=<1 model>" in repr(copy) and "contamination=0.05" in repr(copy)
    untrained = base.clone(ReconstructionErrorDetector(sizes=[8], epochs=3))
    assert untrained.get_params()["sizes"] == [8] and untrained.models is None
    # No attribute "score": scikit-learn takes one for the method score(X, y) (GridSearchCV's default
    # scoring, Pipeline.score), so the choice of score is the parameter anomaly_score.
    from sklearn.utils.estimator_checks import check_fit_score_takes_y, check_pipeline_consistency

    assert not hasattr(pca_detector, "score")
    check_fit_score_takes_y("ReconstructionErrorDetector", ReconstructionErrorDetector(sizes=[2], epochs=1))
    check_pipeline_consistency("ReconstructionErrorDetector", ReconstructionErrorDetector(sizes=[2], epochs=1))


def test_predict_proba_confidence_and_labels_equal_pyods_own(data, pca_detector):
    """PyOD's BaseDetector computes threshold, labels, probabilities and confidences from the training
    scores and decision_function: fed npae's scores, it must give npae's answers."""
    pytest.importorskip("pyod")
    from pyod.models.base import BaseDetector

    train, test, _ = data
    queries = np.concatenate([test, bars(np.random.default_rng(7), 20, vertical=True), np.zeros((3, 64))])

    class Mirror(BaseDetector):
        def __init__(self, contamination=0.1):
            super().__init__(contamination=contamination)

        def fit(self, X, y=None):
            self._set_n_classes(y)  # what PyOD's own detectors call first in fit
            self.decision_scores_ = pca_detector.decision_function(X)
            self._process_decision_scores()
            return self

        def decision_function(self, X):
            return pca_detector.decision_function(X)

    for contamination in (0.1, 0.03):
        ours = ReconstructionErrorDetector(pca_detector.models, contamination=contamination).fit(test)
        pyod = Mirror(contamination=contamination).fit(test)
        assert ours.threshold_ == pyod.threshold_
        np.testing.assert_array_equal(ours.labels_, pyod.labels_)
        np.testing.assert_array_equal(ours.predict(queries), pyod.predict(queries))
        for method in ("linear", "unify"):
            np.testing.assert_allclose(ours.predict_proba(queries, method=method),
                                       pyod.predict_proba(queries, method=method), rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours.predict_confidence(queries), pyod.predict_confidence(queries),
                                   rtol=0, atol=1e-12)
        labels, confidence = ours.predict(queries, return_confidence=True)
        np.testing.assert_array_equal(labels, pyod.predict(queries))
        np.testing.assert_allclose(confidence, pyod.predict_confidence(queries), rtol=0, atol=1e-12)
        probabilities, confidence = ours.predict_proba(queries, return_confidence=True)
        assert probabilities.shape == (len(queries), 2) and np.all((0 <= probabilities) & (probabilities <= 1))


def test_binomial_survival_equals_scipys():
    stats = pytest.importorskip("scipy.stats")
    p = np.array([1e-9, 0.01, 0.3, 0.5, 0.9, 0.999, 1 - 1e-9])
    for n, k in ((10, 9), (1000, 900), (60_000, 54_000), (5, 5)):
        np.testing.assert_allclose(binomial_survival(k, n, p), stats.binom.sf(k, n, p), rtol=1e-9, atol=1e-15)


def test_probabilities_need_a_fit_and_a_known_method(data, pca_detector):
    _, test, _ = data
    unfitted = ReconstructionErrorDetector(pca_detector.models)
    for method in (unfitted.predict_proba, unfitted.predict_confidence, unfitted.predict):
        with pytest.raises(NotFittedError, match="not fitted"):
            method(test)
    with pytest.raises(ValueError, match=r"method='sigmoid' is not one of \['linear', 'unify'\]"):
        pca_detector.predict_proba(test, method="sigmoid")
    with pytest.raises(NotFittedError, match="trains its own autoencoder"):
        ReconstructionErrorDetector().decision_function(test)


def test_a_detector_given_a_configuration_trains_its_own_autoencoder(data):
    train, test, labels = data
    detector = ReconstructionErrorDetector(sizes=[4], epochs=20, batch_size=32, seed=0, contamination=0.1)
    detector.fit(np.concatenate([train, test]))
    (model,) = detector.models_
    assert isinstance(model, npae.Autoencoder) and model.sizes == [64, 4] and detector.models is None
    assert model.loss.from_logits                                 # data in [0, 1]: the paper's BCE model
    assert roc_auc_score(labels, detector.decision_function(test)) == 1.0
    np.testing.assert_array_equal(detector.predict(test)[-10:], 1)
    again = ReconstructionErrorDetector(sizes=[4], epochs=20, batch_size=32, seed=0).fit(np.concatenate([train, test]))
    np.testing.assert_array_equal(again.decision_scores_, detector.decision_scores_)   # seeded: bitwise the same
    # Data outside [0, 1]: a linear output and the squared error (npae train's rule).
    shifted = ReconstructionErrorDetector(sizes=[4], epochs=2, seed=0).fit(train * 3 - 1)
    assert not getattr(shifted.models_[0].loss, "from_logits", False)
    with pytest.raises(ValueError, match="sizes must be a non-empty list"):
        ReconstructionErrorDetector(sizes=4).fit(train)


def test_image_batches_are_scored_like_reconstruction_error(rng):
    """Finding 18: a convolutional autoencoder's images (N, 8, 8, 1) through the anomaly API."""
    encoder = [npae.Conv2D(1, 2, 3, activation="relu", rng=0), npae.MaxPool2D(2)]
    decoder = [npae.UpSampling2D(2), npae.Conv2DTranspose(2, 1, 3, rng=1)]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss=npae.BinaryCrossEntropy(from_logits=True),
                             input_shape=(8, 8, 1))
    images = bars(rng, 30, vertical=False).reshape(30, 8, 8, 1)
    detector = ReconstructionErrorDetector(model, contamination=0.1).fit(images)
    np.testing.assert_array_equal(detector.decision_scores_, model.reconstruction_error(images))
    assert detector.n_features_in_ == 64 and detector.predict(images).shape == (30,)
    probabilities = model.reconstruct(images).reshape(30, -1)
    flat = images.reshape(30, -1)
    expected = -np.sum(flat * np.log(probabilities) + (1 - flat) * np.log(1 - probabilities), axis=1)
    np.testing.assert_allclose(score_samples(model, images, "bce"), expected, rtol=1e-4)
    with pytest.raises(ValueError, match=r"x has shape \(30, 64\), expected \(N, 8, 8, 1\)"):
        detector.decision_function(images.reshape(30, 64))


def test_bce_score_refuses_data_outside_the_unit_interval(rng):
    """Finding 11: -log p(x | x~) of Bernoulli pixels exists only for x in [0, 1]."""
    model = npae.Autoencoder([10, 4], seed=0)
    x = rng.uniform(0, 1, (5, 10))
    assert np.all(score_samples(model, x, "bce") > 0)
    for bad in (x * 300, x - 0.5):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            score_samples(model, bad, "bce")
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            ReconstructionErrorDetector(model, anomaly_score="bce").fit(bad)


def test_train_ensemble_refuses_a_bare_int_for_hidden_sizes(data):
    """Finding 21: a clear ValueError, not a TypeError from len()."""
    train, _, _ = data
    with pytest.raises(ValueError, match="hidden_sizes must be a list of layer sizes"):
        train_ensemble(train, latent_sizes=4, seeds=[0], hidden_sizes=5, epochs=1)
    with pytest.raises(ValueError, match="hidden_sizes must hold ints"):
        train_ensemble(train, latent_sizes=4, seeds=[0], hidden_sizes=[16.5], epochs=1)
    (model,) = train_ensemble(train, latent_sizes=4, seeds=[0], hidden_sizes=[16], epochs=1)
    assert model.sizes == [64, 16, 4]
