"""VectorQuantizer: the bottleneck of a VQ-VAE (van den Oord, Vinyals and Kavukcuoglu 2017, "Neural
discrete representation learning"; the Keras example "Vector-Quantized Variational Autoencoders").

The encoder's output is a grid of vectors z (B, ..., D), e.g. (B, 7, 7, 16).  The layer holds a codebook
of K vectors e_1 .. e_K (K, D) and replaces each z by its nearest code:

    k(z) = argmin_k ||z - e_k||^2 = argmin_k (||e_k||^2 - 2 z . e_k)        (||z||^2 is the same for all k)
    forward:  y = e_{k(z)}                                                   (B, ..., D), same shape as z

so an image is stored as the grid of indices k: 49 numbers in [0, K) for a 7 x 7 grid.

The argmin has no derivative, so the VQ-VAE trains with a surrogate, the *straight-through estimator*:
the backward pass treats the layer as the identity, passing dL/dy to the encoder unchanged, as if
y = z + stop_gradient(e_k - z) (the Keras example's formula).  The codebook then learns from two terms
added to the model's loss (``activity_loss``), with n = the number of elements of z (B x ... x D) and
sg = stop-gradient:

    codebook term    (1/n) sum ||sg(z) - e_k(z)||^2       moves each code towards the vectors assigned to it
    commitment term  beta (1/n) sum ||z - sg(e_k(z))||^2  keeps the encoder's outputs near their codes

Backward, given g = dL/dy (B, ..., D):

    dL/dz   = g + 2 beta (z - e_k(z)) / n                  (straight through, plus the commitment term)
    dL/de_k += 2 sum_{z : k(z) = k} (e_k - z) / n           (the codebook term only: g never reaches e)

EMA codebook (``ema=0.99``; van den Oord et al. 2017, appendix A.1; Razavi et al. 2019): instead of the
codebook term, each training forward moves every code to the running mean of the vectors assigned to
it, with counts n_k and sums s_k of this batch:

    N_k <- gamma N_k + (1 - gamma) n_k      M_k <- gamma M_k + (1 - gamma) s_k      e_k = M_k / N~_k
    N~_k = (N_k + eps) / (sum N + K eps) x sum N          (Laplace smoothing: an unused code never divides by 0)

The codebook then gets no gradient (it stays a parameter, so that it is saved; Adam leaves a parameter
whose gradient is always 0 where it is) and the loss holds the commitment term only.  With Adam the
gradient rule lets the encoder's outputs run ahead of the codes (each of the encoder's weights moves by
~ the learning rate per step, and an output sums many of them), which the EMA update does not.

These are *not* the derivatives of the forward function (whose true derivative with respect to z is 0
almost everywhere, and with respect to e_k is g): ``gradcheck`` cannot apply.  The tests check what
the rule promises instead: the identity for g, and the exact derivatives of the two terms with the
assignment held fixed.  Codes that no vector is assigned to receive no gradient ("dead" codes); the
usage and perplexity exp(-sum_k p_k log p_k) of the assignments (:func:`codebook_usage`) show how many
codes are alive.
"""
import numpy as np

from .. import _backend
from ..registry import register
from .base import Layer

__all__ = ["VectorQuantizer", "codebook_usage"]


@register
class VectorQuantizer(Layer):
    """Nearest-code quantisation with the straight-through estimator (see the module docstring).

    num_codes : K, the codebook's size;  code_size : D, the last axis of the input;  beta : the commitment
    term's weight (0.25 in the paper and the Keras example);  dtype;  rng : seed or Generator for the
    initial codebook, uniform in [-0.05, 0.05) (TensorFlow's ``random_uniform_initializer`` default, the
    Keras example's).

    After a forward: ``last_indices`` (B, ...) int64, the code of each vector; ``activity_loss()`` the
    sum of the two terms of that forward.  ``quantize(z)`` and ``lookup(indices)`` are the two halves
    that compression uses: vectors -> indices -> vectors.
    """

    def __init__(self, num_codes, code_size, beta=0.25, ema=None, dtype="float32", rng=None):
        for name, value in (("num_codes", num_codes), ("code_size", code_size)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not np.isfinite(beta) \
                or beta < 0:
            raise ValueError(f"beta must be a finite number >= 0, got {beta!r}")
        if ema is not None and (isinstance(ema, bool) or not isinstance(ema, (float, np.floating)) or not 0 < ema < 1):
            raise ValueError(f"ema must be None (gradient updates of the codebook) or a decay in (0, 1), got {ema!r}")
        self.num_codes, self.code_size, self.beta = int(num_codes), int(code_size), float(beta)
        self.ema = None if ema is None else float(ema)
        self.dtype = _backend.resolve_dtype(dtype)
        shape = (self.num_codes, self.code_size)
        self.codebook = self.new_parameter(shape, self.dtype,
                                           lambda: np.random.default_rng(rng).uniform(-0.05, 0.05, shape))
        self.dcodebook = self.new_gradient(self.codebook)
        self._reset_averages()
        self._last_loss = 0.0
        self.last_indices = None

    def parameters(self):
        return [self.codebook]

    def gradients(self):
        return [self.dcodebook]

    def get_config(self):
        return {"num_codes": self.num_codes, "code_size": self.code_size, "beta": self.beta, "ema": self.ema,
                "dtype": self.dtype.name}

    def _reset_averages(self):
        """EMA state: every code starts as if it had been assigned its own value once (N = 1, M = e)."""
        self._counts = np.ones(self.num_codes)
        self._sums = np.array(self.codebook, dtype=np.float64)

    def _update_codebook(self, z, indices):
        """The EMA step of the module docstring, for the vectors z (M, D) and their codes (M,)."""
        gamma, eps = self.ema, 1e-5
        counts = np.bincount(indices, minlength=self.num_codes)
        sums = np.zeros((self.num_codes, self.code_size))
        np.add.at(sums, indices, z)
        self._counts = gamma * self._counts + (1 - gamma) * counts
        self._sums = gamma * self._sums + (1 - gamma) * sums
        total = self._counts.sum()
        smoothed = (self._counts + eps) / (total + self.num_codes * eps) * total
        self.codebook[...] = self._sums / smoothed[:, None]

    def output_shape(self, input_shape):
        if len(input_shape) < 1 or input_shape[-1] != self.code_size:
            raise ValueError(f"{self!r} takes vectors of size {self.code_size} on the last axis, got per-sample "
                             f"shape {tuple(input_shape)}")
        return tuple(input_shape)

    def activity_loss(self):
        """codebook term + beta x commitment term of the last forward (their values are equal: sg changes
        only where gradients flow), a float; the commitment term alone with ``ema``."""
        return self._last_loss

    def quantize(self, z):
        """The nearest code's index of each vector of z (..., D): int64 (...)."""
        z = np.asarray(z, dtype=self.dtype)
        flat = z.reshape(-1, self.code_size)
        # ||z - e||^2 = ||z||^2 - 2 z.e + ||e||^2; the first term does not change the argmin
        distances = (self.codebook * self.codebook).sum(axis=1) - 2 * (flat @ self.codebook.T)   # (M, K)
        return distances.argmin(axis=1).reshape(z.shape[:-1])

    def initialize_from(self, z, rng=None):
        """Set the codebook to K vectors drawn without replacement from z (..., D) (with replacement if there
        are fewer than K): a data-dependent start, so that every code begins where the encoder's outputs
        are and none is dead from the first step (a common remedy; the Keras example starts uniform)."""
        flat = np.asarray(z, dtype=self.dtype).reshape(-1, self.code_size)
        rng = np.random.default_rng(rng)
        chosen = rng.choice(flat.shape[0], self.num_codes, replace=flat.shape[0] < self.num_codes)
        self.codebook[...] = flat[chosen]
        self._reset_averages()

    def lookup(self, indices):
        """The codes e_k of an array of indices (...): (..., D).  Indices outside [0, K) are a ValueError."""
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu" or (indices.size and (indices.min() < 0 or indices.max() >= self.num_codes)):
            raise ValueError(f"indices must be integers in [0, {self.num_codes})")
        return self.codebook[indices]

    def forward(self, x, training=False):
        self._training = training       # the EMA update happens in training forwards only
        return super().forward(x, training=training)

    def _forward(self, z):
        indices = self.quantize(z)
        if self.ema is not None and self._training:
            self._update_codebook(z.reshape(-1, self.code_size), indices.reshape(-1))
        quantized = self.codebook[indices]                                    # (B, ..., D)
        difference = z - quantized
        weight = self.beta if self.ema is not None else 1 + self.beta
        self._last_loss = float(weight * np.mean(difference.astype(np.float64) ** 2))
        self.last_indices = indices
        self.keep(difference=difference, indices=indices)
        return quantized

    def _backward(self, grad_y):
        difference, indices = self.kept.difference, self.kept.indices        # z - e_k(z), k(z)
        scale = self.dtype.type(2.0 / difference.size)
        # codebook term: d/de_k sum ||sg(z) - e_k||^2 / n = 2 sum (e_k - z) / n over the vectors assigned to k
        if self.ema is None:
            np.add.at(self.dcodebook, indices.reshape(-1), -scale * difference.reshape(-1, self.code_size))
        if not self.need_input_grad:
            return None
        return grad_y + self.dtype.type(self.beta) * scale * difference       # straight through + commitment


def codebook_usage(indices, num_codes):
    """(fraction of the K codes used at least once, perplexity exp(H(p)) of the code frequencies p).

    The perplexity is the number of equally frequent codes that would give the same entropy: K when all
    are used equally, 1 when a single code is used."""
    counts = np.bincount(np.asarray(indices).reshape(-1), minlength=num_codes).astype(np.float64)
    p = counts / counts.sum()
    entropy = -np.sum(p[p > 0] * np.log(p[p > 0]))
    return float(np.mean(counts > 0)), float(np.exp(entropy))
