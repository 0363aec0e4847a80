"""An autoencoder trained for the rate-distortion trade-off (Balle, Laparra and Simoncelli 2017, "End-to-end
optimized image compression"; TensorFlow's tutorial "Learned data compression" on MNIST).

A plain autoencoder is trained for distortion only, and its code is then quantised and entropy-coded as
an afterthought.  Here the code's *cost* is part of the loss.  The encoder gives y (B, q); the stored code
is round(y), an integer vector, entropy-coded under a prior p.  Two layers make that trainable:

    QuantizationNoise   training:  y~ = y + u,  u ~ U(-1/2, 1/2)    (a differentiable stand-in for rounding:
                                   y + u has the density of round(y) smeared over its bin)
                        otherwise: y^ = round(y)                     (what is really stored)
                        backward:  dL/dy = dL/dy~                    (the noise is an input, not a function of y)

    FactorizedPrior     one learned logistic density per latent dimension j, location mu_j and scale
                        s_j = exp(log_s_j), integrated over the unit bin around each value:

        P_j(v) = sigma((v - mu_j + 1/2) / s_j) - sigma((v - mu_j - 1/2) / s_j)
        bits(v) = - sum_j log2 max(P_j(v_j), 1e-9)                 (per image; the code's length under p)

                        it passes v through unchanged and adds rate_weight x mean_B bits to the model's
                        loss (``activity_loss``).  With a = (v - mu + 1/2) / s, b = (v - mu - 1/2) / s and
                        sigma'(t) = sigma(t) (1 - sigma(t)):

        dP/dv = (sigma'(a) - sigma'(b)) / s      dP/dmu = -dP/dv      dP/dlog_s = -(a sigma'(a) - b sigma'(b))
        dbits/dtheta = -dP/dtheta / (P ln 2)     (0 where P is below the bound 1e-9)

The model is a :class:`npae.Sequential` of Dense layers around these two, trained by the one ``fit`` on

    loss = MSE(x, x^) + rate_weight x bits,    rate_weight = 1 / (lambda x 784)

which is (bits per pixel + lambda x MSE) / lambda: the tutorial's "rate + lambda x distortion" (the
tutorial measures distortion as the mean *absolute* error; the MSE here matches the PSNR this report
scores).  A larger lambda buys quality with bits.  The tutorial's prior is Balle's non-parametric
"deep factorized" density; a logistic per dimension is the simplest learned factorised prior, and the
compression experiment entropy-codes the integer codes with npae's arithmetic coder under their
measured frequencies (stored in the file), so the prior only has to be good enough to train with.
"""
import numpy as np

from . import _backend
from .layers import Dense
from .layers.base import Layer
from .model import Sequential
from .registry import register
from .training import random_streams

__all__ = ["QuantizationNoise", "FactorizedPrior", "rate_distortion_autoencoder", "rd_encode", "rd_decode",
           "PIXELS"]

PIXELS = 784
LIKELIHOOD_BOUND = 1e-9   # TensorFlow Compression's default: a code is never promised more than ~30 bits


@register
class QuantizationNoise(Layer):
    """y + U(-1/2, 1/2) in training, round(y) otherwise; the identity backward (see the module docstring).

    ``seed``: the noise generator's.  ``fixed_noise``: an array of the batch's shape to add instead of
    drawing (what gradcheck needs: the same noise for every difference), None to draw."""

    def __init__(self, seed=0):
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.fixed_noise = None

    def get_config(self):
        return {"seed": self.seed}

    def forward(self, x, training=False):
        self._training = training                       # the one layer whose math depends on it
        return super().forward(x, training=training)

    def _forward(self, y):
        if not self._training:                          # an inference forward: the real quantiser
            return np.rint(y)
        noise = self.fixed_noise if self.fixed_noise is not None else \
            self.rng.uniform(-0.5, 0.5, y.shape).astype(y.dtype)
        return y + noise

    def _backward(self, grad_y):
        return grad_y


def _logistic(t):
    return 0.5 * (1.0 + np.tanh(0.5 * t))             # sigma(t) without overflow for any t


@register
class FactorizedPrior(Layer):
    """A learned logistic prior per latent dimension; identity forward, adds the code's cost to the loss.

    latent_size : q;  rate_weight : the loss adds rate_weight x (mean bits per image);  dtype.
    Parameters: ``location`` mu (q,) and ``log_scale`` log s (q,), starting at 0 and log 1 = 0.
    After a forward: ``last_bits`` (B,) the bits of each image under the prior (see the module docstring).
    """

    def __init__(self, latent_size, rate_weight=1.0, dtype="float32"):
        if isinstance(latent_size, bool) or not isinstance(latent_size, (int, np.integer)) or latent_size < 1:
            raise ValueError(f"latent_size must be an integer >= 1, got {latent_size!r}")
        if isinstance(rate_weight, bool) or not isinstance(rate_weight, (int, float, np.floating)) \
                or not np.isfinite(rate_weight) or rate_weight < 0:
            raise ValueError(f"rate_weight must be a finite number >= 0, got {rate_weight!r}")
        self.latent_size, self.rate_weight = int(latent_size), float(rate_weight)
        self.dtype = _backend.resolve_dtype(dtype)
        self.location = self.new_parameter((self.latent_size,), self.dtype)
        self.log_scale = self.new_parameter((self.latent_size,), self.dtype)
        self.dlocation, self.dlog_scale = self.new_gradient(self.location), self.new_gradient(self.log_scale)
        self.last_bits = None

    def parameters(self):
        return [self.location, self.log_scale]

    def gradients(self):
        return [self.dlocation, self.dlog_scale]

    def get_config(self):
        return {"latent_size": self.latent_size, "rate_weight": self.rate_weight, "dtype": self.dtype.name}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.latent_size,):
            raise ValueError(f"{self!r} takes codes of shape ({self.latent_size},), got {tuple(input_shape)}")
        return tuple(input_shape)

    def activity_loss(self):
        return 0.0 if self.last_bits is None else self.rate_weight * float(self.last_bits.mean())

    def _terms(self, v):
        """(P, a, b, sigma_a, sigma_b, s) in float64 for codes v (B, q)."""
        s = np.exp(self.log_scale.astype(np.float64))
        centred = v.astype(np.float64) - self.location
        a, b = (centred + 0.5) / s, (centred - 0.5) / s
        sigma_a, sigma_b = _logistic(a), _logistic(b)
        # sigma(a) - sigma(b) loses its digits in the upper tail (both ~1): there use sigma(-b) - sigma(-a)
        probability = np.where(centred > 0, _logistic(-b) - _logistic(-a), sigma_a - sigma_b)
        return probability, a, b, sigma_a, sigma_b, s

    def bits(self, v):
        """The bits of each code v (B, q) under the prior: (B,) float64."""
        probability = self._terms(np.asarray(v))[0]
        return -np.log2(np.maximum(probability, LIKELIHOOD_BOUND)).sum(axis=1)

    def _forward(self, v):
        probability = self._terms(v)[0]
        self.last_bits = -np.log2(np.maximum(probability, LIKELIHOOD_BOUND)).sum(axis=1)
        self.keep(v=v)
        return v.copy()

    def _backward(self, grad_y):
        v = self.kept.v
        probability, a, b, sigma_a, sigma_b, s = self._terms(v)
        density_a, density_b = sigma_a * (1 - sigma_a), sigma_b * (1 - sigma_b)
        dprobability_dv = (density_a - density_b) / s
        dprobability_dlog_s = -(a * density_a - b * density_b)
        # d(weight x mean_B bits)/dP = -weight / (B P ln 2), 0 where the bound holds P up
        live = probability > LIKELIHOOD_BOUND
        dloss_dprobability = np.where(live, -self.rate_weight / (v.shape[0] * np.log(2) * np.where(live, probability, 1)), 0)
        grad_v = dloss_dprobability * dprobability_dv                             # (B, q)
        self.dlocation += (-grad_v.sum(axis=0)).astype(self.dtype)
        self.dlog_scale += (dloss_dprobability * dprobability_dlog_s).sum(axis=0).astype(self.dtype)
        return (grad_y + grad_v).astype(self.dtype)


def rate_distortion_autoencoder(latent_size=32, hidden=256, lam=100.0, seed=0, dtype="float32", optimizer=None,
                                init_gain=8.0, input_size=PIXELS):
    """Dense(d, hidden, relu), Dense(hidden, q), QuantizationNoise, FactorizedPrior, Dense(q, hidden, relu),
    Dense(hidden, d, sigmoid) with loss MSE + bits / (lam x d), d = ``input_size`` (784 pixels): see the
    module docstring.

    ``init_gain``: the code layer's initial weights are Glorot's times this.  With Glorot's alone the codes
    start within +-0.5 of 0, so rounding (or the noise) erases them and the first few hundred steps only
    learn to grow them; starting them spread over several integers, the rate term has something to trade
    from the first step (the prior's scales start at 1 either way)."""
    if isinstance(lam, bool) or not isinstance(lam, (int, float, np.floating)) or not np.isfinite(lam) or lam <= 0:
        raise ValueError(f"lam must be a finite number > 0, got {lam!r}")
    init_rng, _, noise_rng = random_streams(seed)
    layers = [Dense(input_size, hidden, "relu", dtype=dtype, rng=init_rng),
              Dense(hidden, latent_size, dtype=dtype, rng=init_rng),
              QuantizationNoise(seed=int(noise_rng.integers(2**31))),
              FactorizedPrior(latent_size, rate_weight=1.0 / (lam * input_size), dtype=dtype),
              Dense(latent_size, hidden, "relu", dtype=dtype, rng=init_rng),
              Dense(hidden, input_size, "sigmoid", dtype=dtype, rng=init_rng)]
    layers[1].W *= layers[1].W.dtype.type(init_gain)
    return Sequential(layers, loss="mse", optimizer=optimizer, seed=seed)


def _split(model):
    for index, layer in enumerate(model.layers):
        if isinstance(layer, QuantizationNoise):
            return model.layers[:index], model.layers[index + 2:], model.layers[index + 1]
    raise ValueError("the model has no QuantizationNoise layer: build it with rate_distortion_autoencoder")


def rd_encode(model, x):
    """The integer codes round(y) (N, q) int64 of images x (N, 784)."""
    encoder, _, _ = _split(model)
    return np.rint(model._forward(np.asarray(x, dtype=model.dtype), training=False, layers=encoder)).astype(np.int64)


def rd_decode(model, codes):
    """Images (N, 784) from integer codes (N, q)."""
    _, decoder, _ = _split(model)
    return model._forward(np.asarray(codes, dtype=model.dtype), training=False, layers=decoder)


def prior_bits(model, codes):
    """The bits per image (N,) the model's learned prior promises for integer codes (N, q)."""
    return _split(model)[2].bits(codes)
