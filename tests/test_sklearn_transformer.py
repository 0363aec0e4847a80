"""npae.AutoencoderTransformer inside scikit-learn: Pipeline, cross_val_score, GridSearchCV, clone.

Small data (the embedded MNIST sample's first 300 digits, 10 epochs), so each test takes seconds."""
import numpy as np
import pytest

import npae
from npae._estimator import NotFittedError

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone, is_classifier  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import MinMaxScaler  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    from npae.datasets import load_mnist

    (x, y), _ = load_mnist(sample=True)
    return x[:300] * 255, y[:300]          # pixels 0..255: the pipeline's MinMaxScaler brings them to [0, 1]


def transformer(**options):
    return npae.AutoencoderTransformer(**{"sizes": [32, 8], "epochs": 10, "batch_size": 16, "seed": 0, **options})


def test_fit_transform_inverse_transform_and_history(digits):
    x, _ = digits
    x = x / 255
    model = transformer()
    assert model.fit(x, y=np.arange(len(x))) is model          # y is ignored: an autoencoder's target is x
    codes = model.transform(x)
    assert codes.shape == (300, 8) and codes.dtype == np.float32
    assert model.model_.sizes == [784, 32, 8] and model.n_features_in_ == 784
    assert len(model.history_.history["loss"]) == 10
    np.testing.assert_array_equal(model.inverse_transform(codes), model.model_.reconstruct(x))
    np.testing.assert_array_equal(transformer().fit_transform(x), codes)      # seeded: bitwise the same
    assert npae.sklearn.AutoencoderTransformer is npae.AutoencoderTransformer
    with pytest.raises(NotFittedError, match="not fitted"):
        transformer().transform(x)
    with pytest.raises(ValueError, match="sizes must be a non-empty list"):
        npae.AutoencoderTransformer(16).fit(x)
    with pytest.raises(ValueError, match="loss='hinge' is not one of"):
        transformer(loss="hinge").fit(x)


def test_params_clone_and_tags():
    model = transformer(sizes=[64, 16])
    assert model.get_params() == {"activation": "relu", "batch_size": 16, "dtype": "float32", "epochs": 10,
                                  "loss": "auto", "seed": 0, "sizes": [64, 16], "verbose": 0}
    copy = clone(model)
    assert copy.get_params() == model.get_params() and copy is not model
    assert model.__sklearn_tags__().transformer_tags is not None and not is_classifier(model)


def test_a_pipeline_in_cross_val_score_and_grid_search(digits):
    x, y = digits
    pipeline = make_pipeline(MinMaxScaler(), transformer(), KNeighborsClassifier(7))
    scores = cross_val_score(pipeline, x, y, cv=KFold(3), error_score="raise")
    assert scores.shape == (3,) and np.all(np.isfinite(scores)) and scores.mean() > 0.3   # chance: 0.1
    search = GridSearchCV(pipeline, {"autoencodertransformer__sizes": [[32, 4], [32, 8]],
                                     "kneighborsclassifier__n_neighbors": [1, 7]}, cv=KFold(2), error_score="raise")
    search.fit(x, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.named_steps["autoencodertransformer"].model_.sizes[-1] in (4, 8)
    assert 0 <= search.score(x, y) <= 1


@pytest.mark.skipif(not hasattr(npae.KNNClassifier, "__sklearn_tags__"),
                    reason="npae.KNNClassifier is not scikit-learn-compatible on this branch yet")
def test_the_issues_pipeline_with_npaes_own_knn(digits):
    x, y = digits
    pipeline = make_pipeline(MinMaxScaler(), npae.AutoencoderTransformer([64, 16], epochs=10, batch_size=16, seed=0),
                             npae.KNNClassifier())
    scores = cross_val_score(pipeline, x, y, cv=KFold(3), error_score="raise")
    assert np.all(np.isfinite(scores)) and scores.mean() > 0.3
    search = GridSearchCV(pipeline, {"autoencodertransformer__sizes": [[64, 8], [64, 16]]}, cv=KFold(2),
                          error_score="raise").fit(x, y)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
