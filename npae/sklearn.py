"""npae's autoencoder as a scikit-learn transformer, and the training that npae's estimators share.

:class:`AutoencoderTransformer` follows scikit-learn's estimator contract (see :mod:`npae._estimator`):
``__init__`` stores its arguments, ``fit(X, y=None)`` trains an :class:`npae.Autoencoder` and returns
``self``, ``transform`` encodes, ``inverse_transform`` decodes.  So it is one step of a ``Pipeline``::

    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    from sklearn.model_selection import GridSearchCV
    from sklearn.neighbors import KNeighborsClassifier

    pipeline = make_pipeline(MinMaxScaler(), npae.AutoencoderTransformer([64, 16], epochs=10),
                             KNeighborsClassifier(7))
    GridSearchCV(pipeline, {"autoencodertransformer__sizes": [[64, 8], [64, 16]]}).fit(x, y)

the paper's section 3.1 (kNN on latent features) as one searchable object.  scikit-learn is not
imported here: the module only follows its conventions (the name ``npae.sklearn`` says for whom).
"""
import numpy as np

from ._estimator import Estimator, NotFittedError
from ._validation import check_positive_int, check_seed

__all__ = ["AutoencoderTransformer", "train_autoencoder"]

LOSSES = ("auto", "bce", "mse")


def _check_sizes(sizes, argument="sizes"):
    """``sizes`` as a list of positive ints, at least one (the code size last)."""
    values = list(sizes) if isinstance(sizes, (list, tuple, range, np.ndarray)) else None
    if not values:
        raise ValueError(f"{argument} must be a non-empty list of layer sizes after the input, the code size "
                         f"last (e.g. [64, 16]), got {sizes!r}")
    return [check_positive_int(size, f"{argument} entry") for size in values]


def train_autoencoder(x, sizes, *, loss="auto", activation="relu", epochs=30, batch_size=256, seed=0, verbose=0,
                      dtype="float32"):
    """Train an :class:`npae.Autoencoder` ``[n_features, *sizes]`` (mirrored) on the rows of ``x``.

    ``loss="auto"``: the paper's model (sigmoid output, binary cross-entropy) when every value of ``x``
    is in [0, 1], else a linear output and the mean squared error: the rule of ``npae train``.
    Returns ``(model, history)``.  The same ``seed`` on the same data trains bitwise the same model.
    """
    from ._validation import check_array
    from .model import Autoencoder  # deferred: importing npae.sklearn builds nothing

    sizes = _check_sizes(sizes)
    if loss not in LOSSES:
        raise ValueError(f"loss={loss!r} is not one of {list(LOSSES)}")
    x = check_array(x, "X", dtype=np.dtype(dtype))
    if loss == "auto":
        loss = "bce" if x.min() >= 0 and x.max() <= 1 else "mse"
    model = Autoencoder([x.shape[1], *sizes], activation=activation, loss=loss,
                        output_activation="sigmoid" if loss == "bce" else "identity", dtype=dtype,
                        seed=check_seed(seed))
    history = model.fit(x, epochs=epochs, batch_size=batch_size, verbose=verbose)
    return model, history


class AutoencoderTransformer(Estimator):
    """An autoencoder trained in ``fit``, encoding in ``transform``: scikit-learn's transformer contract.

    Parameters (stored as given; checked in ``fit``)
    ----------
    sizes : list of int, the encoder's layer sizes after the input, the code size last: ``[64, 16]`` on
        784 features trains the autoencoder 784-64-16-64-784.
    activation : of the hidden and code layers ("relu", the paper's).
    loss : "auto" (binary cross-entropy with a sigmoid output when the training data lies in [0, 1], the
        mean squared error with a linear output otherwise), "bce" or "mse".
    epochs, batch_size : of the training (Adam with Keras' defaults).
    seed : int or None.  The same seed on the same data gives bitwise the same model.
    verbose : 0 (silent), 1 or 2: Keras' per-epoch lines.
    dtype : "float32" or "float64".

    Fitted attributes: ``model_`` (the :class:`npae.Autoencoder`), ``history_`` (its Keras-style
    :class:`npae.History`), ``n_features_in_``.
    """

    _estimator_type = "transformer"

    def __init__(self, sizes=(64,), activation="relu", loss="auto", epochs=30, batch_size=256, seed=0, verbose=0,
                 dtype="float32"):
        self.sizes = sizes
        self.activation = activation
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose
        self.dtype = dtype

    def fit(self, X, y=None):
        """Train on the rows of ``X`` (N, d); ``y`` is ignored (an autoencoder's target is its input).
        Returns ``self``."""
        self.model_, self.history_ = train_autoencoder(
            X, self.sizes, loss=self.loss, activation=self.activation, epochs=self.epochs,
            batch_size=self.batch_size, seed=self.seed, verbose=self.verbose, dtype=self.dtype)
        self.n_features_in_ = self.model_.input_shape[0]
        return self

    def _fitted_model(self):
        if not hasattr(self, "model_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(X) first")
        return self.model_

    def transform(self, X):
        """The codes h = g(x) of the rows of ``X`` (N, d): (N, sizes[-1])."""
        return self._fitted_model().encode(X)

    def fit_transform(self, X, y=None):
        """``fit(X)``, then the codes of ``X``."""
        return self.fit(X, y).transform(X)

    def inverse_transform(self, X):
        """Reconstructions f(h) of codes ``X`` (N, sizes[-1]): (N, d), probabilities for a BCE model."""
        return self._fitted_model().decode(X)
