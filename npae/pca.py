"""Principal component analysis in NumPy: the classical baseline of every autoencoder experiment.

PCA finds the q orthonormal directions of largest variance.  With X (M, d) the data, mu its column
means and X_c = X - mu, the singular value decomposition X_c = U S V^T gives them as the first q rows
of V^T; projecting on them and back is the best rank-q linear reconstruction in squared error
(Eckart-Young).  A *linear* autoencoder trained with MSE learns the same subspace (paper section 3.5,
Baldi & Hornik, 1989), though not the same basis: see ``examples/pca_vs_autoencoder.py``.

The estimator follows scikit-learn: ``n_components`` is stored untouched, ``fit`` returns ``self``,
learned state ends in ``_``, and components carry scikit-learn's sign rule, so results can be
compared with ``sklearn.decomposition.PCA`` number for number.
"""
import numpy as np

from ._estimator import Estimator, check_is_fitted, check_n_features, dense_numeric_input
from ._validation import check_array

__all__ = ["PCA"]

SOLVERS = ("auto", "full", "covariance_eigh")

# Rows of X cast to float64 at a time when forming X_c^T X_c: 8192 x 784 x 8 bytes = 51 MB.
_GRAM_CHUNK_ROWS = 8192


def _check_data(x, argument="x"):
    """Return ``x`` as a finite 2-D float array: float32 stays float32, anything else numeric becomes float64."""
    x = dense_numeric_input(x, argument)
    dtype = x.dtype
    return check_array(x, argument, dtype=dtype if dtype in (np.float32, np.float64) else np.float64)


def _flip_signs(components):
    """Make the entry of largest magnitude in each row positive (scikit-learn's ``svd_flip`` on V).

    A singular vector is only defined up to sign; fixing the sign makes results reproducible across
    solvers and LAPACK builds, and identical to scikit-learn's.
    """
    largest = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(components.shape[0]), largest])
    return components * signs[:, None]


def _power_of_two_scale(x, mean):
    """2^e such that max |x - mean| / 2^e lies in [1/2, 1) (1.0 for constant data): an exact rescaling.

    Data around 1e-170 have squares around 1e-340, below float64's smallest number: the covariance
    and the squared singular values would underflow to zero, and the variance ratios become 0/0.
    Dividing by a power of two changes no digit of the data; the decomposition runs on numbers near 1
    and the scale comes back in the singular values.  From the column extremes: no centred copy.
    """
    spread = max(float(np.max(np.abs(x.max(axis=0) - mean))), float(np.max(np.abs(x.min(axis=0) - mean))))
    if not spread > 0 or not np.isfinite(spread):
        return 1.0
    exponent = int(np.clip(np.frexp(spread)[1], -120, 120))  # 2^e and 2^-e stay normal numbers, even in float32
    return float(np.ldexp(1.0, exponent))


class PCA(Estimator):
    """Principal component analysis by SVD of the centred data (or eigendecomposition of its Gram matrix).

    Parameters
    ----------
    n_components : int or None
        q, the number of directions kept, 1 <= q <= min(M, d).  None keeps min(M, d).
    svd_solver : {"auto", "full", "covariance_eigh"}
        ``"full"``: thin SVD of X_c (M, d), O(M d^2) flops at LAPACK speed (~6 s for MNIST's 60000 x 784).
        ``"covariance_eigh"``: eigendecomposition of C = X_c^T X_c (d, d), formed by one matrix product
        (accumulated in float64), then ``eigh``: the same subspace from ~20x less work when M >> d, at
        the price of squaring the condition number (tiny eigenvalues lose digits; the leading ones,
        which PCA keeps, do not).  ``"auto"`` picks ``covariance_eigh`` when d <= 1000 and M >= 2 d.
        (scikit-learn asks for M >= 10 d; on 6,000 MNIST images, M = 7.7 d, the full SVD took 6.3 s
        on our busy 2-core machine and the covariance route 0.7 s, with the same 64 components to
        float32 rounding.)

    Fitted attributes (shapes with q components, d features)
    --------------------------------------------------------
    mean_ (d,), components_ (q, d) orthonormal rows, explained_variance_ (q,) = S_k^2 / (M - 1),
    explained_variance_ratio_ (q,) = variance along each component / total variance,
    singular_values_ (q,), n_components_, n_features_in_, n_samples_.

    Maps
    ----
    transform:          z = (x - mean_) components_^T          (N, d) -> (N, q)
    inverse_transform:  x~ = z components_ + mean_              (N, q) -> (N, d)
    reconstruction_error(x) = mean over the d features of (x - x~)^2, shape (N,): the same per-sample
    error as ``Autoencoder.reconstruction_error``, so a PCA can be scored by
    :class:`npae.ReconstructionErrorDetector` as an anomaly baseline.

    Scale.  The decomposition runs on the centred data divided by a power of two that brings its
    largest entry near 1 (exact: no digit changes), so data of any magnitude, 1e-170 as well as 1e150,
    keeps its directions and its variance ratios; ``explained_variance_`` itself is then scaled back
    and may underflow to 0 (data around 1e-170 has variances around 1e-340, below float64's range).
    Constant data has no variance to explain: its ratios are 0.

    scikit-learn: a transformer by its contract (``get_params``/``set_params``, ``clone``, tags,
    ``fit(x, y=None)``, usable in a ``Pipeline``); ``check_estimator`` passes with no check skipped.
    """

    _estimator_type = "transformer"
    SKLEARN_EXPECTED_FAILED_CHECKS = {}

    def __init__(self, n_components=None, svd_solver="auto"):
        self.n_components = n_components
        self.svd_solver = svd_solver

    def fit(self, x, y=None):
        """Learn ``mean_`` and the leading ``components_`` from ``x`` (M, d); returns ``self``.  ``y`` is
        ignored (scikit-learn's ``Pipeline`` passes one)."""
        x = _check_data(x)
        n_samples, n_features = x.shape
        if n_samples < 2:
            raise ValueError(f"x must have at least 2 samples to have a variance, got n_samples = {n_samples}")
        n_components = self._check_n_components(n_samples, n_features)
        solver = self._choose_solver(n_samples, n_features)

        mean = x.mean(axis=0)                                   # (d,)
        scale = _power_of_two_scale(x, mean)                    # the data's magnitude, 2^e
        if solver == "full":
            scaled = (x - mean) / x.dtype.type(scale)           # X_c / 2^e, exact
            _, singular_values, components = np.linalg.svd(scaled, full_matrices=False)  # S (r,), V^T (r, d)
            scaled_variances = singular_values.astype(np.float64) ** 2 / (n_samples - 1)
        else:
            # Centred in chunks, so no centred copy of the whole data set is ever held.
            gram = np.zeros((n_features, n_features), dtype=np.float64)                    # X_c^T X_c
            for start in range(0, n_samples, _GRAM_CHUNK_ROWS):
                rows = (x[start:start + _GRAM_CHUNK_ROWS].astype(np.float64) - mean) / scale
                gram += rows.T @ rows
            eigenvalues, eigenvectors = np.linalg.eigh(gram)    # increasing order
            eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)  # rounding can make ~0 slightly negative
            components = eigenvectors[:, ::-1].T                # (d, d), rows = directions
            singular_values = np.sqrt(eigenvalues)
            scaled_variances = eigenvalues / (n_samples - 1)
        singular_values = singular_values * scale               # back to the data's magnitude
        variances = scaled_variances * scale**2                 # may underflow to 0: the ratios do not
        # Both solvers computed every direction, so the total variance is the sum over all of them.
        total_variance = np.sum(scaled_variances, dtype=np.float64)
        ratios = scaled_variances / total_variance if total_variance > 0 else np.zeros_like(scaled_variances)

        self.mean_ = mean
        self.components_ = _flip_signs(components[:n_components]).astype(x.dtype, copy=False)
        self.explained_variance_ = variances[:n_components].astype(x.dtype, copy=False)
        self.explained_variance_ratio_ = ratios[:n_components].astype(x.dtype, copy=False)
        self.singular_values_ = singular_values[:n_components].astype(x.dtype, copy=False)
        self.n_components_ = n_components
        self.n_features_in_ = n_features
        self.n_samples_ = n_samples
        return self

    def transform(self, x):
        """Coordinates of ``x`` (N, d) along the components: ``(x - mean_) components_^T``, shape (N, q)."""
        x = self._check_input(x)
        return (x - self.mean_) @ self.components_.T

    def fit_transform(self, x, y=None):
        """``fit(x)`` then ``transform(x)`` (``y`` ignored)."""
        return self.fit(x).transform(x)

    def inverse_transform(self, z):
        """Back to data space: ``z components_ + mean_``, (N, q) -> (N, d)."""
        self._check_fitted()
        z = np.asarray(z)
        if z.ndim != 2 or z.shape[1] != self.n_components_:
            raise ValueError(f"z must have shape (n_samples, {self.n_components_}), got {z.shape}")
        if z.dtype.kind not in "biuf" or not np.all(np.isfinite(z)):
            raise ValueError("z must be numeric and finite")
        return z @ self.components_ + self.mean_

    def reconstruct(self, x):
        """Project ``x`` (N, d) on the q-dimensional subspace and back: ``inverse_transform(transform(x))``."""
        return self.inverse_transform(self.transform(x))

    def reconstruction_error(self, x):
        """Per-sample MSE between ``x`` (N, d) and its reconstruction, averaged over the d features: (N,)."""
        x = self._check_input(x)
        residual = x - self.inverse_transform((x - self.mean_) @ self.components_.T)   # (N, d)
        return np.mean(residual ** 2, axis=1)

    # -- plumbing -------------------------------------------------------------------------------

    def _check_n_components(self, n_samples, n_features):
        largest = min(n_samples, n_features)
        if self.n_components is None:
            return largest
        if isinstance(self.n_components, bool) or not isinstance(self.n_components, (int, np.integer)):
            raise ValueError(f"n_components must be an int or None, got {self.n_components!r}")
        if not 1 <= self.n_components <= largest:
            raise ValueError(f"n_components={self.n_components} must be between 1 and min(n_samples, "
                             f"n_features) = {largest}")
        return int(self.n_components)

    def _choose_solver(self, n_samples, n_features):
        if self.svd_solver not in SOLVERS:
            raise ValueError(f"svd_solver={self.svd_solver!r} is not one of {list(SOLVERS)}")
        if self.svd_solver != "auto":
            return self.svd_solver
        return "covariance_eigh" if n_features <= 1000 and n_samples >= 2 * n_features else "full"

    def _check_fitted(self):
        check_is_fitted(self, "components_")

    def _sklearn_tags(self, tags):
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]  # float32 in, float32 out
        return tags

    def _check_input(self, x):
        self._check_fitted()
        x = _check_data(x)
        check_n_features(self, x)
        return x
