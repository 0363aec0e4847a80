"""Anomaly detection by reconstruction error (paper section 3.3).

An autoencoder trained on normal data learns to rebuild *that kind* of data.  Something unlike it (a
shoe among handwritten digits) comes back blurred or as the nearest digit, so its reconstruction
error is large.  The recipe:

1. train on data known to be clean (or on everything, if anomalies are a negligible fraction);
2. compute each observation's reconstruction error (RE)::

       RE(x) = (1/d) sum_j (x_j - x~_j)^2        x~ = f(g(x)),  d features

3. rank by RE and flag the largest, or those above a threshold.

Results change with the architecture and the training run, so the paper suggests training several
models and combining their REs (mean or maximum).  :class:`ReconstructionErrorDetector` does steps 2
and 3 for one model or many; :func:`train_ensemble` does step 1 for several seeds and latent sizes.
"""
import numpy as np

from ._validation import check_array

__all__ = ["ReconstructionErrorDetector", "train_ensemble"]

COMBINE = ("mean", "max")


def _input_width(model):
    """Number of input features a model expects (``n_features_in_``), or None if it does not say."""
    width = getattr(model, "n_features_in_", None)
    return None if width is None else int(width)


class ReconstructionErrorDetector:
    """Score observations by the reconstruction error of one or several trained models (PyOD's API).

    Larger score = more anomalous, as in PyOD.  scikit-learn's outlier detectors use the opposite
    sign; :meth:`score_samples` follows theirs.

    Parameters
    ----------
    models : a trained model or a list of them
        Anything with ``reconstruction_error(x) -> (N,)``: an :class:`npae.Autoencoder`, or an
        :class:`npae.PCA` as a linear baseline.  All must expect the same number of features.
    combine : {"mean", "max"}
        How the REs of several models become one score: their mean (smooths out one model's quirks)
        or their maximum (flags what *any* model finds odd).  Irrelevant for a single model.
    contamination : float in (0, 0.5] or None
        Expected fraction of anomalies in the data given to :meth:`fit`: ``threshold_`` is then the
        ``1 - contamination`` quantile of the training scores (linear interpolation, as PyOD does).
    threshold : float or None
        An explicit threshold instead, when you know the RE above which something is odd.  Give
        ``contamination`` or ``threshold``, not both; with neither, :meth:`decision_function` and
        :meth:`top` work, :meth:`predict` does not.

    Fitted attributes
    -----------------
    decision_scores_ (M,): scores of the training data.  threshold_: the threshold in use (None if
    neither option was given).  labels_ (M,): 0/1 labels of the training data (when a threshold exists).
    n_features_in_: number of features.

    Example
    -------
    >>> detector = ReconstructionErrorDetector(autoencoder, contamination=0.01).fit(x_train)
    >>> indices, scores = detector.top(x_test, 5)          # the five oddest test images
    """

    def __init__(self, models, combine="mean", contamination=None, threshold=None):
        self.models = models
        self.combine = combine
        self.contamination = contamination
        self.threshold = threshold

    # -- scores ---------------------------------------------------------------------------------

    def model_scores(self, x):
        """The RE of each observation under each model: array (n_models, N), before combining."""
        models = self._check_models()
        x = self._check_x(x, models)
        return np.stack([np.asarray(model.reconstruction_error(x), dtype=np.float64) for model in models])

    def decision_function(self, x):
        """Anomaly score of each row of ``x`` (N, d): the combined RE, shape (N,).  Larger = more anomalous."""
        if self.combine not in COMBINE:
            raise ValueError(f"combine={self.combine!r} is not one of {list(COMBINE)}")
        per_model = self.model_scores(x)                        # (n_models, N)
        return per_model.mean(axis=0) if self.combine == "mean" else per_model.max(axis=0)

    def score_samples(self, x):
        """scikit-learn's sign convention: ``-decision_function(x)``, so *lower* is more abnormal."""
        return -self.decision_function(x)

    def top(self, x, n):
        """The ``n`` most anomalous rows of ``x``: ``(indices, scores)``, both (n,), largest score first.

        Equal scores keep their original order (a stable sort), so the result is deterministic.
        """
        scores = self.decision_function(x)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= scores.size:
            raise ValueError(f"n must be an int between 1 and the number of rows ({scores.size}), got {n!r}")
        order = np.argsort(-scores, kind="stable")[:n]
        return order, scores[order]

    # -- thresholding ---------------------------------------------------------------------------

    def fit(self, x):
        """Score ``x`` (M, d) into ``decision_scores_`` and set ``threshold_``; returns ``self``.

        The models are not trained here: they arrive trained (see :func:`train_ensemble`).  ``fit``
        only learns what a threshold needs from the score distribution of ``x``.
        """
        self._check_threshold_options()
        scores = self.decision_function(x)
        if self.contamination is not None:
            threshold = float(np.quantile(scores, 1.0 - self.contamination))
        elif self.threshold is not None:
            threshold = float(self.threshold)
        else:
            threshold = None
        self.decision_scores_ = scores
        self.threshold_ = threshold
        self.labels_ = None if threshold is None else (scores > threshold).astype(np.int64)
        self.n_features_in_ = np.asarray(x).shape[1]
        return self

    def predict(self, x):
        """1 for rows of ``x`` whose score exceeds the threshold, 0 otherwise: int array (N,)."""
        self._check_threshold_options()
        if self.threshold is not None:
            threshold = float(self.threshold)
        elif not hasattr(self, "threshold_"):
            raise RuntimeError("this detector is not fitted and has no explicit threshold: call fit(x) "
                               "with contamination set, or pass threshold=")
        elif self.threshold_ is None:
            raise RuntimeError("this detector has no threshold: set contamination (then fit again) or threshold")
        else:
            threshold = self.threshold_
        return (self.decision_function(x) > threshold).astype(np.int64)

    def fit_predict(self, x):
        """``fit(x)`` then the labels of ``x``."""
        return self.fit(x).predict(x)

    # -- validation -----------------------------------------------------------------------------

    def _check_models(self):
        models = list(self.models) if isinstance(self.models, (list, tuple)) else [self.models]
        if not models:
            raise ValueError("models is empty: give one trained model or a non-empty list of them")
        for index, model in enumerate(models):
            if not callable(getattr(model, "reconstruction_error", None)):
                raise ValueError(f"models[{index}] ({type(model).__name__}) has no reconstruction_error(x) method")
        widths = {_input_width(model) for model in models} - {None}
        if len(widths) > 1:
            raise ValueError(f"models must all expect the same number of features, got {sorted(widths)}")
        return models

    def _check_x(self, x, models):
        width = next((w for w in map(_input_width, models) if w is not None), None)
        return check_array(x, "x", n_features=width)

    def _check_threshold_options(self):
        if self.contamination is not None and self.threshold is not None:
            raise ValueError("give contamination or threshold, not both")
        if self.contamination is not None:
            if isinstance(self.contamination, bool) or not isinstance(self.contamination, (int, float, np.number)) \
                    or not 0 < self.contamination <= 0.5:
                raise ValueError(f"contamination must be a number in (0, 0.5], got {self.contamination!r}")
        if self.threshold is not None:
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float, np.number)) \
                    or not np.isfinite(self.threshold):
                raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")

    def __repr__(self):
        count = len(self.models) if isinstance(self.models, (list, tuple)) else 1
        return (f"ReconstructionErrorDetector(<{count} model{'s' * (count != 1)}>, combine={self.combine!r}, "
                f"contamination={self.contamination!r}, threshold={self.threshold!r})")


def _as_tuple(value, argument):
    values = tuple(value) if isinstance(value, (list, tuple, range, np.ndarray)) else (value,)
    if not values:
        raise ValueError(f"{argument} is empty")
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise ValueError(f"{argument} must hold ints, got {item!r}")
    return values


def train_ensemble(x, latent_sizes=64, seeds=(0, 1, 2, 3, 4), *, hidden_sizes=(), epochs=30, batch_size=256,
                   verbose=0, **autoencoder_options):
    """Train one :class:`npae.Autoencoder` per (latent size, seed) pair on ``x`` (M, d); return the list.

    The architecture of each is ``[d, *hidden_sizes, latent_size]`` mirrored (d - ... - q - ... - d),
    with the paper's defaults (ReLU, sigmoid output, BCE, Adam) unless ``autoencoder_options`` say
    otherwise.  Varying the seed changes the initial weights and the batch order; varying the latent
    size changes what each model can remember.  Averaging their REs (``combine="mean"``) steadies the
    ranking that any single run gives.

    Example: ``train_ensemble(x, latent_sizes=[32, 64], seeds=[0, 1])`` trains four models.
    """
    from .model import Autoencoder  # deferred: npae.anomaly is usable (and importable) without the engine

    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty 2-D array (n_samples, n_features), got shape {x.shape}")
    latent_sizes = _as_tuple(latent_sizes, "latent_sizes")
    seeds = _as_tuple(seeds, "seeds")
    hidden_sizes = _as_tuple(hidden_sizes, "hidden_sizes") if len(tuple(hidden_sizes)) else ()
    models = []
    for latent_size in latent_sizes:
        for seed in seeds:
            model = Autoencoder([x.shape[1], *hidden_sizes, latent_size], seed=int(seed), **autoencoder_options)
            model.fit(x, epochs=epochs, batch_size=batch_size, verbose=verbose)
            models.append(model)
    return models
