"""Detectors that score every point of a series (PyOD's names: fit, decision_function, predict, threshold_).

All of them learn from an anomaly-free series (``fit``), then give one score per point of another
(``decision_function``, shape (T,), larger = more anomalous) and 0/1 flags at ``threshold_`` (``predict``).

    SeriesAnomalyDetector   a window autoencoder ("dense", "conv1d", "lstm" or your own model):
                            score = squared reconstruction error of each point, averaged over channels and
                            over the windows that cover it (see npae.timeseries.windows for "mean"/"max")
    WindowPCA               the linear baseline: PCA on the same windows, the same score
    DiscordDetector         the matrix-profile baseline: distance of the subsequence centred on each point to
                            its nearest neighbour in the training series (npae.timeseries.discord)

Threshold rules (``threshold=``), applied to the scores of the training series, ``decision_scores_``:

    "max"             the largest training score (Keras' Conv1D tutorial: "the max MAE loss value")
    "std"             mean + n_std standard deviations (TensorFlow's ECG tutorial: n_std = 1)
    "contamination"   the 1 - contamination quantile (PyOD's rule: that fraction of training points flagged)

``thresholds_`` holds all three, so a report can compare them on one fitted detector.
"""
import numpy as np

from .._estimator import Estimator, NotFittedError
from .._validation import check_positive_int, check_seed, is_real_number
from .discord import matrix_profile
from .models import MODELS, build_model, check_model_fits
from .windows import REDUCTIONS, as_series, centered_points, points_from_windows, sliding_windows

THRESHOLD_RULES = ("max", "std", "contamination")
PREDICT_WINDOWS = 2048  # windows reconstructed at a time when scoring (bounded memory on long series)


def training_thresholds(scores, n_std, contamination):
    """{rule: threshold} of every rule of THRESHOLD_RULES on training scores (T,)."""
    scores = np.asarray(scores, dtype=np.float64)
    return {"max": float(scores.max()), "std": float(scores.mean() + n_std * scores.std()),
            "contamination": float(np.quantile(scores, 1.0 - contamination))}


class _PointScorer(Estimator):
    """What the three detectors share: checks, the threshold rules, predict.  A subclass implements
    ``_fit(x)`` and ``_scores(x)`` on checked (T, C) float64 series."""

    _estimator_type = "outlier_detector"

    def _check_options(self):
        if self.threshold not in THRESHOLD_RULES:
            raise ValueError(f"threshold must be one of {THRESHOLD_RULES}, got {self.threshold!r}")
        if not (is_real_number(self.n_std) and self.n_std >= 0):
            raise ValueError(f"n_std must be a number >= 0, got {self.n_std!r}")
        if not (is_real_number(self.contamination) and 0 < self.contamination < 0.5):
            raise ValueError(f"contamination must be a number in (0, 0.5), got {self.contamination!r}")

    def fit(self, series, y=None):
        """Learn from an anomaly-free series (T,) or (T, C); sets decision_scores_, thresholds_, threshold_,
        labels_.  ``y`` is ignored (scikit-learn's signature)."""
        self._check_options()
        x = as_series(series)
        self.n_features_in_ = x.shape[1]
        self._fit(x)
        self.decision_scores_ = self._training_scores(x)
        self.thresholds_ = training_thresholds(self.decision_scores_, self.n_std, self.contamination)
        self.threshold_ = self.thresholds_[self.threshold]
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)
        return self

    def _training_scores(self, x):
        """The scores of the training series itself (what the threshold rules read)."""
        return self._scores(x)

    def _checked(self, series):
        if not hasattr(self, "threshold_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit(series) first")
        x = as_series(series)
        if x.shape[1] != self.n_features_in_:
            raise ValueError(f"series has {x.shape[1]} channel(s); the detector was fitted on {self.n_features_in_}")
        return x

    def decision_function(self, series):
        """One score per point, float64 (T,); larger = more anomalous."""
        return self._scores(self._checked(series))

    def predict(self, series):
        """0/1 per point (T,): 1 where the score exceeds ``threshold_``."""
        return (self.decision_function(series) > self.threshold_).astype(np.int64)


class _WindowReconstructor(_PointScorer):
    """Scores from reconstructing windows: z-scoring with the training series' statistics, windows, the
    squared error of each point of each window (mean over channels), back to points (``reduce``).

    Each error is divided by the mean training error at the same position of a window (``position_error_``,
    (w,)): an autoencoder rebuilds the first and last points of a window worst (they have context on one
    side only), and the first and last points of a series are covered by window edges only, so without it
    the top score of a clean series tends to sit at its very start or end."""

    def _normalized(self, x):
        return (x - self.mean_) / self.scale_

    def _fit(self, x):
        self.window = check_positive_int(self.window, "window")
        self.train_stride = check_positive_int(self.train_stride, "train_stride")
        if self.reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {REDUCTIONS}, got {self.reduce!r}")
        self.mean_ = x.mean(axis=0)
        self.scale_ = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        windows = sliding_windows(self._normalized(x), self.window, self.train_stride)
        self._fit_windows(windows)
        self.position_error_ = np.ones(self.window)
        self.position_error_ = np.maximum(self._window_errors(windows).mean(axis=0), 1e-12)

    def _window_errors(self, windows):
        """Squared error of each point of each window (N, w), averaged over channels, divided by
        ``position_error_``: the mean training error at that position of a window (see the class docstring)."""
        errors = np.empty(windows.shape[:2])
        for start in range(0, windows.shape[0], PREDICT_WINDOWS):
            block = windows[start:start + PREDICT_WINDOWS]
            errors[start:start + block.shape[0]] = ((self._reconstruct(block) - block) ** 2).mean(axis=2)
        return errors / self.position_error_

    def reconstruct(self, series, starts=None):
        """(windows, reconstructions), both (N, w, C) in the series' units, for the windows starting at
        ``starts`` (default: every point)."""
        x = self._checked(series)
        windows = sliding_windows(self._normalized(x), self.window)
        if starts is not None:
            windows = windows[np.asarray(starts)]
        return windows * self.scale_ + self.mean_, self._reconstruct(windows) * self.scale_ + self.mean_

    def _scores(self, x):
        stride = check_positive_int(self.score_stride, "score_stride")
        windows = sliding_windows(self._normalized(x), self.window, stride)
        return points_from_windows(self._window_errors(windows), x.shape[0], stride, self.reduce)


class SeriesAnomalyDetector(_WindowReconstructor):
    """A window autoencoder that scores every point of a series (see the module docstring).

    Parameters
    ----------
    window : int, default 128.  Points per window (w).
    model : "dense", "conv1d" (default), "lstm" (npae.timeseries.models), or an npae model of your own that
        takes and returns windows (N, w, C) (it is trained as it is, not copied).
    epochs : int, default 20;  batch_size : int, default 64
    learning_rate : float, default 1e-3: Adam's, for a built-in model (yours keeps its own optimiser)
    train_stride : int, default 1.  Step between training windows (> 1 trains on fewer windows, faster).
    score_stride : int, default 1.  Step between the windows that score a series: each point is then covered
        by about w / score_stride windows instead of w (> 1 scores faster; the last window always ends at T).
    threshold : "max" (default, Keras' tutorial), "std" or "contamination" (module docstring)
    n_std : float, default 1.0 (rule "std");  contamination : float, default 0.01 (rule "contamination")
    reduce : "mean" (default), "max" or "min": how the windows covering a point combine
        (npae.timeseries.windows)
    seed : int, default 0 (weights and shuffling);  verbose : 0 (default) or 1, passed to ``fit``

    Fitted: ``model_`` (the trained model), ``mean_``, ``scale_`` (z-scoring of each channel, from the
    training series), ``decision_scores_`` (T_train,), ``thresholds_``, ``threshold_``, ``labels_``,
    ``history_``, ``n_features_in_``.
    """

    def __init__(self, window=128, model="conv1d", epochs=20, batch_size=64, learning_rate=1e-3, train_stride=1,
                 score_stride=1, threshold="max", n_std=1.0, contamination=0.01, reduce="mean", seed=0, verbose=0):
        self.window, self.model, self.epochs, self.batch_size = window, model, epochs, batch_size
        self.learning_rate = learning_rate
        self.train_stride, self.score_stride = train_stride, score_stride
        self.threshold, self.n_std, self.contamination = threshold, n_std, contamination
        self.reduce, self.seed, self.verbose = reduce, seed, verbose

    def _fit_windows(self, windows):
        epochs = check_positive_int(self.epochs, "epochs")
        batch_size = check_positive_int(self.batch_size, "batch_size")
        seed = check_seed(self.seed)
        if isinstance(self.model, str):
            check_model_fits(self.model, self.window)
            if not (is_real_number(self.learning_rate) and self.learning_rate > 0):
                raise ValueError(f"learning_rate must be a number > 0, got {self.learning_rate!r}")
            self.model_ = build_model(self.model, self.window, windows.shape[2], seed=seed or 0,
                                      learning_rate=float(self.learning_rate))
        elif callable(getattr(self.model, "fit", None)) and callable(getattr(self.model, "predict", None)):
            self.model_ = self.model
        else:
            raise ValueError(f"model must be one of {MODELS} or an npae model with fit and predict, got {self.model!r}")
        self.history_ = self.model_.fit(windows.astype(np.float32), epochs=epochs, batch_size=batch_size,
                                        verbose=self.verbose)

    def _reconstruct(self, windows):
        return np.asarray(self.model_.predict(windows.astype(self.model_.dtype)), dtype=np.float64)


class WindowPCA(_WindowReconstructor):
    """PCA on the flattened windows (w C values each), keeping ``n_components``: the linear baseline of
    :class:`SeriesAnomalyDetector`, same windows, same scores, same threshold rules (npae.PCA)."""

    def __init__(self, window=128, n_components=8, train_stride=1, score_stride=1, threshold="max", n_std=1.0,
                 contamination=0.01, reduce="mean"):
        self.window, self.n_components, self.train_stride = window, n_components, train_stride
        self.score_stride = score_stride
        self.threshold, self.n_std, self.contamination, self.reduce = threshold, n_std, contamination, reduce

    def _fit_windows(self, windows):
        from ..pca import PCA

        self.pca_ = PCA(check_positive_int(self.n_components, "n_components")).fit(windows.reshape(len(windows), -1))

    def _reconstruct(self, windows):
        return self.pca_.reconstruct(windows.reshape(len(windows), -1)).reshape(windows.shape)


class DiscordDetector(_PointScorer):
    """The matrix-profile baseline: the score of point t is the z-normalised distance from the subsequence
    of length ``m`` centred on t to its nearest neighbour among the training series' subsequences (an
    AB-join, npae.timeseries.discord); on the training series itself, to its nearest non-overlapping
    neighbour there (a self-join).  Univariate series only."""

    def __init__(self, m=128, threshold="max", n_std=1.0, contamination=0.01):
        self.m, self.threshold, self.n_std, self.contamination = m, threshold, n_std, contamination

    def _fit(self, x):
        self.m = check_positive_int(self.m, "m")
        self.reference_ = x[:, 0].copy()

    def _training_scores(self, x):
        return centered_points(matrix_profile(x[:, 0], self.m), x.shape[0], self.m)           # self-join

    def _scores(self, x):
        profile = matrix_profile(x[:, 0], self.m, reference=self.reference_)                 # AB-join
        return centered_points(profile, x.shape[0], self.m)
