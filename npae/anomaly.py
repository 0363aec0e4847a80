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

The score of step 2 need not be the RE.  ``SCORES`` lists those a detector takes (``anomaly_score=``), each a
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
import copy
import math

import numpy as np

from ._estimator import Estimator, NotFittedError
from ._validation import check_array, check_batch

__all__ = ["ReconstructionErrorDetector", "SCORES", "score_samples", "train_ensemble"]

COMBINE = ("mean", "max")
SCORES = ("re", "bce", "elbo")
ELBO_SAMPLES = 5    # draws of z per image for the "elbo" score: a steadier estimate than one
CHUNK_ROWS = 4096   # observations scored at a time (bounded memory)


def _is_vae(model):
    return callable(getattr(model, "elbo_terms", None))


def check_score(score, model, argument="models", name="score"):
    """ValueError unless ``score`` is in SCORES and ``model`` can compute it (before any work is done).
    ``name``: the argument that gave ``score``, as the message calls it."""
    if not isinstance(score, str) or score not in SCORES:
        raise ValueError(f"{name}={score!r} is not one of {list(SCORES)} (npae.anomaly.SCORES)")
    kind = type(model).__name__
    if score == "re" and not callable(getattr(model, "reconstruction_error", None)):
        raise ValueError(f"{name}='re' needs a model with reconstruction_error(x); {argument} is a {kind}")
    if score == "bce" and not (callable(getattr(model, "forward", None))
                               and getattr(getattr(model, "loss", None), "from_logits", False)):
        raise ValueError(f"{name}='bce' needs a model trained with loss='bce' (its network ends in Bernoulli logits), "
                         f"such as npae.Autoencoder(sizes) or npae.VariationalAutoencoder; {argument} is a {kind}"
                         + (f" with loss {model.loss!r}" if hasattr(model, "loss") else ""))
    if score == "elbo" and not _is_vae(model):
        raise ValueError(f"{name}='elbo' needs an npae.VariationalAutoencoder (the ELBO is a VAE's bound); "
                         f"{argument} is a {kind}")


def score_samples(model, x, score="re"):
    """The anomaly score ``score`` (one of SCORES, see the module docstring) of each observation of x under
    one trained model: float64 (N,), larger = more anomalous.  x: rows (N, d), or a batch (N, *shape) of
    what the model takes (images for a convolutional autoencoder)."""
    check_score(score, model, "model")
    x = check_observations(x, "x", _input_shape(model))
    if score == "re":
        return np.asarray(model.reconstruction_error(x), dtype=np.float64)
    if score == "elbo":
        reconstruction, kl = model.elbo_terms(x, n_samples=ELBO_SAMPLES)
        return reconstruction + kl
    from .variational import bernoulli_negative_log_likelihood

    model.loss.check_targets(x, "x")  # Bernoulli pixels: values outside [0, 1] have no likelihood
    x = x.astype(model.dtype, copy=False)
    scores = []
    for start in range(0, x.shape[0], CHUNK_ROWS):
        block = x[start:start + CHUNK_ROWS]
        rows = block.shape[0]  # images: a row of pixels per image, as the likelihood counts them
        scores.append(bernoulli_negative_log_likelihood(model.forward(block).reshape(rows, -1), block.reshape(rows, -1)))
    return np.concatenate(scores)


def _input_shape(model):
    """The per-observation shape a model expects: ``(n_features_in_,)``, an npae model's ``input_shape``,
    or None if it does not say."""
    width = getattr(model, "n_features_in_", None)
    if width is not None:
        return (int(width),)
    shape = getattr(model, "input_shape", None)
    return tuple(int(size) for size in shape) if isinstance(shape, tuple) and shape else None


def check_observations(x, argument, shape):
    """``x`` checked as observations of per-sample ``shape``: rows (N, d) when ``shape`` is (d,) or unknown
    and ``x`` is 2-D, a batch (N, *shape) otherwise (images); float data keeps its dtype."""
    array = np.asarray(x)
    if (shape is None and array.ndim <= 2) or (shape is not None and len(shape) == 1):
        return check_array(array, argument, n_features=None if shape is None else shape[0])
    dtype = array.dtype if array.dtype.kind == "f" else np.float64
    return check_batch(array, argument, shape, dtype)


def binomial_survival(k, n, p):
    """P(X > k) for X ~ Binomial(n, p), for each probability of the 1-D array ``p`` (the sum of the
    probabilities of k + 1, ..., n successes, each computed in log space: exact to rounding, where
    scipy.stats.binom.sf would need SciPy).  Memory: at most ~8 MB of terms at a time."""
    p = np.asarray(p, dtype=np.float64)
    successes = np.arange(k + 1, n + 1, dtype=np.float64)                       # (n - k,)
    if successes.size == 0:
        return np.zeros_like(p)
    log_choose = (math.lgamma(n + 1) - np.array([math.lgamma(i + 1) for i in successes])
                  - np.array([math.lgamma(n - i + 1) for i in successes]))
    result = np.empty_like(p)
    rows = max(1, (1 << 20) // successes.size)
    for start in range(0, p.size, rows):
        chunk = p[start:start + rows, None]
        log_terms = log_choose + successes * np.log(chunk) + (n - successes) * np.log1p(-chunk)
        result[start:start + rows] = np.exp(log_terms).sum(axis=1)
    return np.clip(result, 0.0, 1.0)


def _erf(values):
    """The error function, element-wise (math.erf: NumPy has none, and npae does not depend on SciPy)."""
    return np.vectorize(math.erf, otypes=[np.float64])(values)


class ReconstructionErrorDetector(Estimator):
    """Score observations by the reconstruction error of one or several models, or by another score of
    ``SCORES``: PyOD's detector contract, with scikit-learn's estimator conventions.

    Larger score = more anomalous, as in PyOD.  scikit-learn's outlier detectors use the opposite
    sign; :meth:`score_samples` follows theirs.

    Two ways to get the models:

    * ``models=`` one trained model or a list of them (trained by you, or by :func:`train_ensemble`);
      ``fit`` then only scores the data and sets the threshold;
    * ``models=None`` (the default): ``fit(X)`` trains one :class:`npae.Autoencoder`
      ``[n_features, *sizes]`` (mirrored) on X for ``epochs`` epochs with ``seed``, as a PyOD detector
      trains its own model (``loss="auto"``: binary cross-entropy when X lies in [0, 1], else the mean
      squared error, as ``npae train`` decides).  Only for rows of numbers; build a convolutional
      autoencoder yourself and pass it as ``models``.

    Parameters
    ----------
    models : None, a trained model or a list of them
        For anomaly_score="re", anything with ``reconstruction_error(x) -> (N,)``: an :class:`npae.Autoencoder`
        (flat rows, or images when it takes images), an :class:`npae.VariationalAutoencoder`, or an
        :class:`npae.PCA` as a linear baseline; the other scores need the models the module docstring
        names.  All must expect the same input shape.  ``clone`` (scikit-learn) deep-copies them: they
        are the detector's input, not what ``fit`` learns.
    combine : {"mean", "max"}
        How the scores of several models become one: their mean (smooths out one model's quirks)
        or their maximum (flags what *any* model finds odd).  Irrelevant for a single model.
    anomaly_score : one of ``SCORES``: "re" (the paper's reconstruction error, the default), "bce" or "elbo".
        (Not ``score``: scikit-learn takes an attribute of that name for the method ``score(X, y)``, which
        ``GridSearchCV`` and ``Pipeline.score`` call.)
    contamination : float in (0, 0.5], default 0.1 (PyOD's), or None
        Expected fraction of anomalies in the data given to :meth:`fit`: ``threshold_`` is then the
        ``100 (1 - contamination)`` percentile of the training scores (linear interpolation: PyOD's rule).
        None: no threshold from the data (``decision_function`` and ``top`` still work).
    threshold : float or None
        An explicit threshold, when you know the score above which something is odd.  It takes
        precedence over ``contamination``.
    sizes, loss, epochs, batch_size, seed, verbose :
        The autoencoder that ``fit`` trains when ``models`` is None (see above); ignored otherwise.

    Fitted attributes (PyOD's)
    -----------------
    decision_scores_ (M,): scores of the training data.  threshold_: the threshold in use (None if
    neither option was given).  labels_ (M,): 0/1 labels of the training data (None without a
    threshold).  models_: the models used (the trained autoencoder when ``models`` was None).
    n_features_in_: number of values per observation.

    scikit-learn's ``check_estimator``: its outlier checks expect scikit-learn's labels (+1 inlier, -1
    outlier) where this detector gives PyOD's (0 inlier, 1 outlier), deliberately; and
    ``decision_function`` works before ``fit`` when trained models are given (what ``fit`` adds is the
    threshold), where scikit-learn expects a NotFittedError.

    Example
    -------
    >>> detector = ReconstructionErrorDetector(autoencoder, contamination=0.01).fit(x_train)
    >>> indices, scores = detector.top(x_test, 5)          # the five oddest test images
    >>> ReconstructionErrorDetector(sizes=[32, 8], epochs=20).fit(x).predict(x)   # trains its own
    """

    _estimator_type = "outlier_detector"

    def __init__(self, models=None, combine="mean", contamination=0.1, threshold=None, anomaly_score="re", *,
                 sizes=(64,), loss="auto", epochs=30, batch_size=256, seed=0, verbose=0):
        self.models = models
        self.combine = combine
        self.contamination = contamination
        self.threshold = threshold
        self.anomaly_score = anomaly_score
        self.sizes = sizes
        self.loss = loss
        self.epochs = epochs
        self.batch_size = batch_size
        self.seed = seed
        self.verbose = verbose

    def __sklearn_clone__(self):
        """scikit-learn's ``clone``: the same parameters, the given models deep-copied (trained models are
        an input of the detector, so its clone keeps them trained)."""
        return type(self)(**copy.deepcopy(self.get_params(deep=False)))

    # -- scores ---------------------------------------------------------------------------------

    def model_scores(self, x):
        """The score of each observation under each model: array (n_models, N), before combining."""
        models = self._check_models(self._models())
        x = self._check_x(x, models)
        return np.stack([score_samples(model, x, self.anomaly_score) for model in models])

    def decision_function(self, x):
        """Anomaly score of each observation of ``x`` (N, d), or (N, *image shape) for models that take
        images: the combined score, shape (N,).  Larger = more anomalous."""
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

    # -- fitting and thresholding ---------------------------------------------------------------

    def fit(self, X, y=None):
        """Train the autoencoder (when ``models`` is None), score ``X`` into ``decision_scores_`` and set
        ``threshold_`` and ``labels_``; returns ``self``.  ``y`` is ignored (PyOD's and scikit-learn's
        unsupervised signature)."""
        self._check_threshold_options()
        if self.models is None:
            from .sklearn import train_autoencoder  # deferred: npae.anomaly imports no model code

            model, _ = train_autoencoder(X, self.sizes, loss=self.loss, epochs=self.epochs,
                                         batch_size=self.batch_size, seed=self.seed, verbose=self.verbose)
            models = [model]
        else:
            models = self._check_models(self.models)
        x = self._check_x(X, models)
        self.models_ = models
        scores = self.decision_function(x)
        if self.threshold is not None:
            threshold = float(self.threshold)
        elif self.contamination is not None:
            threshold = float(np.percentile(scores, 100 * (1 - self.contamination)))  # PyOD's expression
        else:
            threshold = None
        self.decision_scores_ = scores
        self.threshold_ = threshold
        self.labels_ = None if threshold is None else (scores > threshold).astype(np.int64)
        self.n_features_in_ = int(np.prod(x.shape[1:]))
        return self

    def _threshold_in_use(self):
        self._check_threshold_options()
        if self.threshold is not None:
            return float(self.threshold)
        if not hasattr(self, "threshold_"):
            raise NotFittedError("this detector is not fitted and has no explicit threshold: call fit(X) "
                                 "first, or pass threshold=")
        if self.threshold_ is None:
            raise NotFittedError("this detector has no threshold: set contamination (then fit again) or threshold")
        return self.threshold_

    def predict(self, x, return_confidence=False):
        """1 for rows of ``x`` whose score exceeds the threshold, 0 otherwise: int array (N,).
        ``return_confidence=True``: ``(labels, predict_confidence(x))``, as PyOD returns them."""
        labels = (self.decision_function(x) > self._threshold_in_use()).astype(np.int64)
        return (labels, self.predict_confidence(x)) if return_confidence else labels

    def fit_predict(self, X, y=None):
        """``fit(X)`` then the labels of ``X``."""
        return self.fit(X).predict(X)

    def _fitted_scores(self):
        if not hasattr(self, "decision_scores_"):
            raise NotFittedError("this detector is not fitted yet: call fit(X) first")
        return self.decision_scores_

    def predict_proba(self, x, method="linear", return_confidence=False):
        """PyOD's outlier "probability", (N, 2): column 1 for "outlier", column 0 = 1 - column 1.

        Not a calibrated probability: a rescaled score (PyOD's own warning).  ``method``:

        * "linear": min-max scaling of the score by the training scores, clipped to [0, 1]:
          ``(s - min s_train) / (max s_train - min s_train)`` (a range of 0 counts as 1, as
          scikit-learn's MinMaxScaler, which PyOD uses, does);
        * "unify" (Kriegel et al. 2011, "Interpreting and unifying outlier scores"):
          ``erf((s - mean s_train) / (std s_train sqrt 2))`` clipped to [0, 1].

        ``return_confidence=True``: ``(probabilities, predict_confidence(x))``.
        """
        train = self._fitted_scores()
        scores = self.decision_function(x)
        if method == "linear":
            span = train.max() - train.min()
            outlier = (scores - train.min()) / (span if span != 0 else 1.0)
        elif method == "unify":
            outlier = _erf((scores - train.mean()) / (train.std() * np.sqrt(2)))
        else:
            raise ValueError(f"method={method!r} is not one of ['linear', 'unify']")
        outlier = np.clip(outlier, 0, 1)
        probabilities = np.column_stack([1 - outlier, outlier])
        return (probabilities, self.predict_confidence(x)) if return_confidence else probabilities

    def predict_confidence(self, x):
        """How surely each row's label would stay the same with a slightly different training set, in
        [0, 1], (N,): PyOD's ``predict_confidence`` (Perini, Vercruyssen and Davis, "Quantifying the
        confidence of anomaly detectors in their example-wise predictions", ECML PKDD 2020).

        With n training scores, a row whose score is >= that of ``c`` of them gets the outlier
        probability ``p = (1 + c) / (2 + n)`` (a Bayesian estimate); its confidence of being an
        outlier is ``P(X > n - floor(n contamination))`` for X ~ Binomial(n, p), and a row labelled 0
        gets 1 minus that.  ``contamination`` here is the parameter, or, when an explicit ``threshold``
        set the labels, the fraction of training rows it flags.
        """
        train = self._fitted_scores()
        scores = self.decision_function(x)
        n = train.size
        at_most = np.searchsorted(np.sort(train), scores, side="right")    # training scores <= each score
        fraction = self.contamination if self.threshold is None and self.contamination is not None \
            else float(np.mean(self.labels_)) if self.labels_ is not None else 0.0
        counts, where = np.unique(at_most, return_inverse=True)
        confidence = binomial_survival(n - int(n * fraction), n, (1 + counts) / (2 + n))[where]
        labels = (scores > self._threshold_in_use()).astype(np.int64)
        return np.where(labels == 1, confidence, 1 - confidence)

    # -- validation -----------------------------------------------------------------------------

    def _models(self):
        """The models to score with: those fitted, else those given; a NotFittedError when there are none."""
        if hasattr(self, "models_"):
            return self.models_
        if self.models is None:
            raise NotFittedError("this detector trains its own autoencoder (models=None): call fit(X) first")
        return self.models

    def _check_models(self, models):
        models = list(models) if isinstance(models, (list, tuple)) else [models]
        if not models:
            raise ValueError("models is empty: give one trained model or a non-empty list of them")
        for index, model in enumerate(models):
            check_score(self.anomaly_score, model, f"models[{index}]", "anomaly_score")
        shapes = {_input_shape(model) for model in models} - {None}
        if len(shapes) > 1:
            widths = sorted(shape[0] for shape in shapes if len(shape) == 1)
            raise ValueError(f"models must all expect the same number of features, got "
                             f"{widths if len(widths) == len(shapes) else sorted(shapes)}")
        return models

    def _check_x(self, x, models):
        shape = next((s for s in map(_input_shape, models) if s is not None), None)
        return check_observations(x, "x", shape)

    def _check_threshold_options(self):
        if self.contamination is not None:
            if isinstance(self.contamination, bool) or not isinstance(self.contamination, (int, float, np.number)) \
                    or not 0 < self.contamination <= 0.5:
                raise ValueError(f"contamination must be a number in (0, 0.5], got {self.contamination!r}")
        if self.threshold is not None:
            if isinstance(self.threshold, bool) or not isinstance(self.threshold, (int, float, np.number)) \
                    or not np.isfinite(self.threshold):
                raise ValueError(f"threshold must be a finite number, got {self.threshold!r}")

    def __repr__(self):
        arguments = self.get_params(deep=False)
        if self.models is not None:  # a model's repr may be pages long: say how many
            count = len(self.models) if isinstance(self.models, (list, tuple)) else 1
            arguments["models"] = _Literal(f"<{count} model{'s' * (count != 1)}>")
        return f"ReconstructionErrorDetector({', '.join(f'{name}={value!r}' for name, value in arguments.items())})"


class _Literal(str):
    def __repr__(self):
        return str(self)


def _as_tuple(value, argument, allow_empty=False):
    values = tuple(value) if isinstance(value, (list, tuple, range, np.ndarray)) else (value,)
    if not values and not allow_empty:
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
    if not isinstance(hidden_sizes, (list, tuple, range, np.ndarray)):  # 5 could mean [5] or a typo for [5, ...]
        raise ValueError(f"hidden_sizes must be a list of layer sizes between the input and the code (e.g. [256] "
                         f"or []), got {hidden_sizes!r}")
    hidden_sizes = _as_tuple(hidden_sizes, "hidden_sizes", allow_empty=True)
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
