"""Anomaly detection with autoencoders: the paper's reconstruction error (section 3.3), and better scores.

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

The score of step 2 need not be the RE.  ``SCORES`` lists those a detector takes (``score=``), each a
number per observation, larger = more anomalous:

    "re"    the paper's RE, (1/d) sum_j (x_j - x~_j)^2 (the default).  Any model with
            ``reconstruction_error``: an Autoencoder, a VariationalAutoencoder (its mean reconstruction),
            a PCA.
    "bce"   -log p(x | x~) = sum_j -[x_j log x~_j + (1 - x_j) log(1 - x~_j)], nats per image: how unlikely
            the image is under independent Bernoulli pixels with the reconstruction's probabilities (the
            loss the model was trained on, summed over the pixels instead of averaged).  Computed from the
            logits, exactly.  A model trained with loss="bce": an Autoencoder, or a VariationalAutoencoder
            (its mean reconstruction decode(mu)).
    "elbo"  the VariationalAutoencoder's negative ELBO, -log p(x|z) + KL(q(z|x) || p(z)), nats per image,
            an upper bound on -log p(x) (reconstruction term averaged over ``ELBO_SAMPLES`` draws of z).

Why "bce" separates shoes from digits far better than "re" (npae reproduce, section "beyond the
paper"): a thin, mostly black sandal is rebuilt with a small squared error, but its grey pixels are
*unlikely* under a model that learnt near-binary strokes.  Per pixel, BCE(x, p) = H(x) + KL(x || p): the
entropy H of a grey pixel is large whatever the reconstruction, and a digit has few grey pixels.
"""
import numpy as np

from ._validation import check_array

__all__ = ["ReconstructionErrorDetector", "SCORES", "score_samples", "train_ensemble"]

COMBINE = ("mean", "max")
SCORES = ("re", "bce", "elbo")
ELBO_SAMPLES = 5    # draws of z per image for the "elbo" score: a steadier estimate than one
CHUNK_ROWS = 4096   # observations scored at a time (bounded memory)


def _is_vae(model):
    return callable(getattr(model, "elbo_terms", None))


def check_score(score, model, argument="models"):
    """ValueError unless ``score`` is in SCORES and ``model`` can compute it (before any work is done)."""
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"score={score!r} is not one of {list(SCORES)} (npae.anomaly.SCORES)")
    kind = type(model).__name__
    if score == "re" and not callable(getattr(model, "reconstruction_error", None)):
        raise ValueError(f"score='re' needs a model with reconstruction_error(x); {argument} is a {kind}")
    if score == "bce" and not (callable(getattr(model, "forward", None))
                               and getattr(getattr(model, "loss", None), "from_logits", False)):
        raise ValueError(f"score='bce' needs a model trained with loss='bce' (its network ends in Bernoulli logits), "
                         f"such as npae.Autoencoder(sizes) or npae.VariationalAutoencoder; {argument} is a {kind}"
                         + (f" with loss {model.loss!r}" if hasattr(model, "loss") else ""))
    if score == "elbo" and not _is_vae(model):
        raise ValueError(f"score='elbo' needs an npae.VariationalAutoencoder (the ELBO is a VAE's bound); "
                         f"{argument} is a {kind}")


def score_samples(model, x, score="re"):
    """The anomaly score ``score`` (one of SCORES, see the module docstring) of each row of x (N, d) under
    one trained model: float64 (N,), larger = more anomalous."""
    check_score(score, model, "model")
    x = check_array(x, "x", n_features=_input_width(model))
    if score == "re":
        return np.asarray(model.reconstruction_error(x), dtype=np.float64)
    if score == "elbo":
        reconstruction, kl = model.elbo_terms(x, n_samples=ELBO_SAMPLES)
        return reconstruction + kl
    from .variational import bernoulli_negative_log_likelihood

    x = x.astype(model.dtype, copy=False)
    return np.concatenate([bernoulli_negative_log_likelihood(model.forward(x[start:start + CHUNK_ROWS]),
                                                             x[start:start + CHUNK_ROWS])
                           for start in range(0, x.shape[0], CHUNK_ROWS)])


def _input_width(model):
    """Number of input features a model expects (``n_features_in_``, or an npae model's ``input_shape``),
    or None if it does not say."""
    width = getattr(model, "n_features_in_", None)
    if width is None:
        shape = getattr(model, "input_shape", None)
        width = shape[0] if isinstance(shape, tuple) and len(shape) == 1 else None
    return None if width is None else int(width)


class ReconstructionErrorDetector:
    """Score observations by the reconstruction error of one or several trained models (PyOD's API), or by
    another score of ``SCORES``.

    Larger score = more anomalous, as in PyOD.  scikit-learn's outlier detectors use the opposite
    sign; :meth:`score_samples` follows theirs.

    Parameters
    ----------
    models : a trained model or a list of them
        For score="re", anything with ``reconstruction_error(x) -> (N,)``: an :class:`npae.Autoencoder`,
        an :class:`npae.VariationalAutoencoder`, or an :class:`npae.PCA` as a linear baseline; the other
        scores need the models the module docstring names.  All must expect the same number of features.
    combine : {"mean", "max"}
        How the scores of several models become one: their mean (smooths out one model's quirks)
        or their maximum (flags what *any* model finds odd).  Irrelevant for a single model.
    score : one of ``SCORES``: "re" (the paper's reconstruction error, the default), "bce" or "elbo".
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

    def __init__(self, models, combine="mean", contamination=None, threshold=None, score="re"):
        self.models = models
        self.combine = combine
        self.contamination = contamination
        self.threshold = threshold
        self.score = score

    # -- scores ---------------------------------------------------------------------------------

    def model_scores(self, x):
        """The score of each observation under each model: array (n_models, N), before combining."""
        models = self._check_models()
        x = self._check_x(x, models)
        return np.stack([score_samples(model, x, self.score) for model in models])

    def decision_function(self, x):
        """Anomaly score of each row of ``x`` (N, d): the combined score, shape (N,).  Larger = more
        anomalous."""
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
            check_score(self.score, model, f"models[{index}]")
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
                f"contamination={self.contamination!r}, threshold={self.threshold!r}, score={self.score!r})")


def _as_tuple(value, argument):
    values = tuple(value) if isinstance(value, (list, tuple, range, np.ndarray)) else (value,)
    if not values:
        raise ValueError(f"{argument} is empty")
    for item in values:
        if isinstance(item, bool) or not isinstance(item, (int, np.integer)):
            raise ValueError(f"{argument} must hold ints, got {item!r}")
    return values


def train_ensemble(x, latent_sizes=64, seeds=(0, 1, 2, 3, 4), *, hidden_sizes=(), epochs=30, batch_size=256,
                   verbose=0, progress=None, **autoencoder_options):
    """Train one :class:`npae.Autoencoder` per (latent size, seed) pair on ``x`` (M, d); return the list.

    The architecture of each is ``[d, *hidden_sizes, latent_size]`` mirrored (d - ... - q - ... - d),
    with the paper's defaults (ReLU, sigmoid output, BCE, Adam) unless ``autoencoder_options`` say
    otherwise.  Varying the seed changes the initial weights and the batch order; varying the latent
    size changes what each model can remember.  Averaging their REs (``combine="mean"``) steadies the
    ranking that any single run gives.

    ``progress``: an :class:`npae.progress.Progress` for a line per epoch (the weights are the same).

    Example: ``train_ensemble(x, latent_sizes=[32, 64], seeds=[0, 1])`` trains four models.
    """
    from .model import Autoencoder  # deferred: npae.anomaly is usable (and importable) without the engine
    from .progress import fit_with_progress

    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty 2-D array (n_samples, n_features), got shape {x.shape}")
    latent_sizes = _as_tuple(latent_sizes, "latent_sizes")
    seeds = _as_tuple(seeds, "seeds")
    hidden_sizes = _as_tuple(hidden_sizes, "hidden_sizes") if len(tuple(hidden_sizes)) else ()
    models = []
    for latent_size in latent_sizes:
        for seed in seeds:
            sizes = [x.shape[1], *hidden_sizes, latent_size]
            model = Autoencoder(sizes, seed=int(seed), **autoencoder_options)
            if progress is None:
                model.fit(x, epochs=epochs, batch_size=batch_size, verbose=verbose)
            else:
                label = (f"ensemble model {len(models) + 1} of {len(latent_sizes) * len(seeds)}: "
                         f"{'-'.join(map(str, sizes + sizes[-2::-1]))}, seed {seed}")
                fit_with_progress(model, x, epochs=epochs, batch_size=batch_size, progress=progress, label=label)
            models.append(model)
    return models
