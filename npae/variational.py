"""The variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes"), in npae's layers.

A plain autoencoder maps x to one code h.  A variational one maps x to a *distribution* over codes,
q(z|x) = N(mu(x), diag sigma^2(x)), draws a code from it, and decodes the code into the parameters of
a distribution over images, p(x|z) = Bernoulli(sigmoid(logits(z))) per pixel.  Trained so that codes
drawn from the prior N(0, I) decode into plausible images, it is a generative model: ``sample(n)``.

    x (B, D) --encoder--> h (B, H) --head--> [mu | log_var] (B, 2q) --> z = mu + sigma * eps --decoder--> logits (B, D)
                                             sigma = exp(0.5 log_var),  eps ~ N(0, I) (B, q)

The head is one Dense layer H -> 2q whose first q outputs are mu and last q are log_var: PyTorch's two
layers fc21 and fc22 side by side in one matrix, W_head = [W_mu | W_log_var] (H, 2q).  One product
instead of two: with OpenBLAS' two threads, a (B, q) x (q, H) product with q = 20 takes ~4x longer
than on one thread, and two heads cost 315 us a step against 139 us for one (measured, 128 x 400 x 20).

Conventions (the two questions asked most about VAE code):
* the encoder's second head is log sigma^2, the *log variance*, so sigma = exp(0.5 log_var), never
  exp(log_var).  A log keeps the variance positive without a constraint, and the KL term below is
  written in it directly;
* eps is drawn from the model's seeded generator of Gaussian noise (``model.noise_rng``, the one a
  denoising model draws its input noise from), so the same seed gives the same training run and a
  saved model resumes exactly.  Tests and learners can pass eps in: ``value_and_grad(x, eps=eps)``,
  ``train_on_batch(x, eps=eps)``, or ``with model.fixed_eps(eps): ...`` around any call.

The loss, per image, is the negative evidence lower bound (ELBO), in nats:

    L(x) = R(x) + KL(x)
    R(x)  = -log p(x|z) = sum_j BCE(x_j, sigmoid(logit_j))               (summed over the D pixels)
    KL(x) = KL(N(mu, sigma^2) || N(0, I)) = -0.5 sum_k (1 + log_var_k - mu_k^2 - exp(log_var_k))

and the batch's loss is the mean over its B images, as in PyTorch's examples/vae (whose printed test
loss is this number).  Note the scale: the sum over 784 pixels makes it ~100 nats, not npae's
per-pixel BCE of ~0.1.

Backward, given g = dL/dz (B, q) from the decoder (the 1/B of the mean already in it):

    z = mu + sigma * eps:       dz/dmu = 1          dz/dlog_var = 0.5 exp(0.5 log_var) eps = 0.5 sigma eps
    KL:                         dKL/dmu = mu        dKL/dlog_var = -0.5 (1 - exp(log_var)) = 0.5 (sigma^2 - 1)

    dL/dmu      = g                  + mu / B                (sampling path + KL term)
    dL/dlog_var = g * 0.5 sigma eps  + 0.5 (sigma^2 - 1) / B

The sampling path is what the "reparameterisation trick" buys: eps is an input, not a function of the
parameters, so z is a differentiable function of mu and log_var and the chain rule goes through it.
The head's gradient is [dL/dmu | dL/dlog_var]; the hidden layer gets both through the one matrix.

Training is the one loop of :mod:`npae.training`: this class only says what its forward pass and its
loss are.  ``history_`` also holds the two terms per epoch ("reconstruction", "kl", and with
validation data "val_reconstruction", "val_kl"), so that their curves can be drawn separately.
"""
import contextlib

import numpy as np

from . import _backend
from ._memory import check_allocation
from ._validation import check_batch, check_positive_int, check_seed
from .activations import activation_config, get_activation
from .initializers import get_initializer
from .kernels import sigmoid as sigmoid_kernels
from .layers import Dense
from .losses import BinaryCrossEntropy
from .optimizers import optimizer_config
from .registry import register
from .training import PREDICT_CHUNK_ROWS, Model, _callback_list, in_chunks, random_streams

__all__ = ["VariationalAutoencoder", "bernoulli_negative_log_likelihood", "kl_divergence", "reparameterize"]

EVALUATION_SEED = 0  # evaluate() draws its eps from default_rng(0): the same model, the same number


def reparameterize(mean, log_variance, eps):
    """z = mu + sigma * eps with sigma = exp(0.5 log_var); returns (z, sigma), both of mu's shape (B, q)."""
    sigma = np.exp(0.5 * log_variance)
    return mean + sigma * eps, sigma


def kl_divergence(mean, log_variance):
    """KL(N(mu, sigma^2) || N(0, I)) of each row, in nats: -0.5 sum_k (1 + log_var - mu^2 - exp(log_var)).

    mean, log_variance : (B, q).  Returns float64 (B,), summed in float64.  (Closed form for two Gaussians;
    Kingma & Welling 2014, appendix B.)  It is 0 exactly when mu = 0 and log_var = 0, positive otherwise.
    """
    mean, log_variance = np.asarray(mean), np.asarray(log_variance)
    return -0.5 * np.sum(1 + log_variance - mean * mean - np.exp(log_variance), axis=1, dtype=np.float64)


def _pytorch_bias(fan_in, size, rng, dtype):
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=size).astype(dtype)


@register
class VariationalAutoencoder(Model):
    """A variational autoencoder of Dense layers, trained on the negative ELBO (see the module docstring).

    ``VariationalAutoencoder([784, 400, 20])`` is PyTorch's examples/vae: Dense(784, 400, relu), the head
    Dense(400, 2 x 20) for mu and log_var, then Dense(20, 400, relu), Dense(400, 784) giving Bernoulli logits.
    In general ``sizes = [D, H_1, ..., H_k, q]``: hidden layers H_1..H_k with ``activation``, a latent space
    of q dimensions, and a decoder that mirrors the encoder (q, H_k, ..., H_1, D).

    Parameters
    ----------
    sizes : list of at least two ints, input size first, latent size q last (q >= 1)
    activation : the hidden layers' activation (default "relu")
    optimizer : None (Adam with Keras' defaults), "adam", "sgd", a config, or an Optimizer instance
    l1, l2 : weight penalties (npae.regularizers), added to the loss
    noise : standard deviation of Gaussian noise added to the training inputs (a denoising VAE)
    dtype : "float32" (default) or "float64"
    seed : int or None: initial weights, shuffles and every eps of training
    init : "glorot_uniform" (default, Keras'), "he_uniform", "he_normal", or "pytorch_uniform": PyTorch's
        nn.Linear default, weights *and biases* ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (npae's other
        initialisers start biases at 0)

    Inputs must lie in [0, 1] (pixels / 255): the decoder is a Bernoulli model of each pixel.

    Methods beyond the training contract: ``encode(x)`` -> mu (and log_var with
    ``return_log_variance=True``), ``decode(z)`` -> probabilities, ``reconstruct(x)`` = decode(mu),
    ``sample(n, seed)``, ``elbo_terms(x)`` per image, ``evaluate(x)`` -> the mean negative ELBO per image
    (nats), ``reconstruction_error(x)`` (the paper's RE of the mean reconstruction).

    Attributes: ``sizes``, ``latent_size``, ``hidden_layers``, ``head`` (its W is [W_mu | W_log_var]),
    ``decoder``, ``layers`` (all of them, in parameter order: PyTorch's fc1, fc21 and fc22 side by side, fc3,
    fc4).
    """

    def __init__(self, sizes, activation="relu", optimizer=None, l1=0.0, l2=0.0, noise=0.0, dtype=None,
                 seed=None, init=None):
        sizes = list(sizes) if isinstance(sizes, (list, tuple, np.ndarray)) else sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(f"sizes must be a list of at least two sizes (input size first, latent size last), "
                             f"e.g. [784, 400, 20], got {sizes!r}")
        if isinstance(sizes[-1], (int, np.integer)) and not isinstance(sizes[-1], bool) and sizes[-1] < 1:
            raise ValueError(f"the latent size (the last entry of sizes) must be at least 1, got {sizes[-1]}")
        self.sizes = [check_positive_int(size, "sizes entry") for size in sizes]
        self.activation = "relu" if activation is None else activation
        self.init = "glorot_uniform" if init is None else init
        if not isinstance(self.init, str):
            raise ValueError(f"init must be the name of an initialiser, got {self.init!r}")
        get_initializer(self.init)  # a bad name fails here, before any layer is built
        get_activation(self.activation)
        dtype = _backend.resolve_dtype("float32" if dtype is None else dtype)
        init_rng = random_streams(check_seed(seed))[0]

        def dense(fan_in, fan_out, activation_name):
            layer = Dense(fan_in, fan_out, activation_name, init=self.init, dtype=dtype, rng=init_rng)
            if self.init == "pytorch_uniform":
                layer.b[...] = _pytorch_bias(fan_in, fan_out, init_rng, dtype)
            return layer

        *hidden, latent = self.sizes[1:]
        widths = [self.sizes[0]] + hidden
        self.hidden_layers = [dense(widths[i], widths[i + 1], self.activation) for i in range(len(hidden))]
        self.head = dense(widths[-1], 2 * latent, "identity")             # [mu | log_var]
        decoder_sizes = [latent] + widths[::-1]                           # e.g. [20, 400, 784]
        self.decoder = [dense(decoder_sizes[i], decoder_sizes[i + 1],
                              self.activation if i + 2 < len(decoder_sizes) else "identity")  # logits last
                        for i in range(len(decoder_sizes) - 1)]
        layers = self.hidden_layers + [self.head] + self.decoder
        # The loss object gives the per-pixel BCE from logits, its target checks and the sigmoid for
        # predictions; the reconstruction term is D times that mean (a sum over the pixels).
        super().__init__(layers, loss=BinaryCrossEntropy(from_logits=True), optimizer=optimizer, l1=l1, l2=l2,
                         noise=noise, seed=seed)
        self.input_shape = self.output_shape = (self.sizes[0],)
        self.latent_shape = (latent,)
        self._fixed_eps = None
        self._reset_term_sums()
        self._last_evaluation_terms = None

    @property
    def latent_size(self):
        return self.sizes[-1]

    def __repr__(self):
        encoder = "-".join(map(str, self.sizes[:-1]))
        return (f"VariationalAutoencoder({encoder}-[mu, log_var: {self.latent_size}]-{self.latent_size}-"
                f"{'-'.join(map(str, self.sizes[-2::-1]))}, activation={get_activation(self.activation).name!r}, "
                f"dtype={self.dtype.name!r})")

    def get_config(self):
        return {"sizes": list(self.sizes), "activation": activation_config(get_activation(self.activation)),
                "optimizer": optimizer_config(self.optimizer), "l1": self.penalty.l1, "l2": self.penalty.l2,
                "noise": self.noise, "dtype": self.dtype.name, "seed": self.seed, "init": self.init}

    def summary(self):
        """A table of the layers by role."""
        rows = [("encoder", layer) for layer in self.hidden_layers]
        rows += [("mu | log_var", self.head)]
        rows += [("decoder", layer) for layer in self.decoder]
        lines = [f"{'role':<14}{'layer':<24}{'activation':>12}{'parameters':>14}"]
        for role, layer in rows:
            count = sum(p.size for p in layer.parameters())
            lines.append(f"{role:<14}{f'Dense({layer.in_features}, {layer.out_features})':<24}"
                         f"{layer.activation.name:>12}{count:>14,}")
        lines.append(f"{'total':<50}{self.count_parameters():>14,}")
        lines.append("sampling: z = mu + exp(0.5 log_var) * eps, eps ~ N(0, I); loss: negative ELBO per image = "
                     "BCE summed over pixels (from logits) + KL(q(z|x) || N(0, I))")
        return "\n".join(lines)

    # ------------------------------------------------------------------ eps
    @contextlib.contextmanager
    def fixed_eps(self, eps):
        """Inside this block every training forward uses ``eps`` (B, q) instead of drawing it: for
        gradient checks, for comparisons with another framework, and to see what the noise does.
        Batches must then have exactly B rows."""
        eps = check_batch(eps, "eps", self.latent_shape, self.dtype)
        previous, self._fixed_eps = self._fixed_eps, eps
        try:
            yield
        finally:
            self._fixed_eps = previous

    def noise_held_fixed(self, rows, rng):
        """eps drawn once from ``rng`` and held (see Model.noise_held_fixed), unless already fixed."""
        if self._fixed_eps is not None:
            return contextlib.nullcontext()
        return self.fixed_eps(rng.standard_normal((rows, self.latent_size)))

    def _eps_for(self, rows):
        if self._fixed_eps is None:
            eps = self.buffer("eps", (rows, self.latent_size), self.dtype)
            self.noise_rng.standard_normal(out=eps, dtype=self.dtype)
            return eps
        if self._fixed_eps.shape[0] != rows:
            raise ValueError(f"eps has {self._fixed_eps.shape[0]} rows but the batch has {rows}; give eps of shape "
                             f"({rows}, {self.latent_size})")
        return self._fixed_eps

    def value_and_grad(self, x, y=None, *, eps=None):
        """Forward, loss and backward (see npae.training.Model); ``eps`` (B, q) fixes the noise of the draw."""
        with self._eps_context(eps):
            return super().value_and_grad(x, y)

    def train_on_batch(self, x, y=None, *, eps=None):
        """One update on the batch (see npae.training.Model); ``eps`` (B, q) fixes the noise of the draw."""
        with self._eps_context(eps):
            return super().train_on_batch(x, y)

    def _eps_context(self, eps):
        return contextlib.nullcontext() if eps is None else self.fixed_eps(eps)

    # ------------------------------------------------------------------ forward and backward
    def _head_output(self, x, training):
        """[mu | log_var] (B, 2q): the head's output for a batch x."""
        h = x
        for layer in self.hidden_layers:
            h = layer.forward(h, training=training)
        return self.head.forward(h, training=training)

    def _encode_batch(self, x, training):
        """(mu, log_var), views (B, q) of the head's output."""
        both = self._head_output(x, training)
        return both[:, :self.latent_size], both[:, self.latent_size:]

    def _decode_logits(self, z, training):
        for layer in self.decoder:
            z = layer.forward(z, training=training)
        return z

    def forward(self, x):
        """Logits of the mean reconstruction decoder(mu(x)), shape (M, D), a new array (``reconstruct`` gives
        the probabilities)."""
        return in_chunks(self._forward, check_batch(x, "x", self.input_shape, self.dtype))

    def _forward(self, x, training=False):
        """Logits of the *mean* reconstruction, decoder(mu): what ``predict`` and ``reconstruct`` return
        (after the sigmoid).  Training draws z instead; that is ``_value_and_grad``'s job."""
        mean, _ = self._encode_batch(x, training)
        return self._decode_logits(mean, training)

    def _value_and_grad(self, x, y):
        """The batch's mean negative ELBO; adds its gradient to every parameter's.  The two lines that fill
        grad_head are the module docstring's dL/dmu and dL/dlog_var."""
        rows, pixels = x.shape
        eps = self._eps_for(rows)                                         # checked before any work
        mean, log_variance = self._encode_batch(x, training=True)         # (B, q) each
        z, sigma = reparameterize(mean, log_variance, eps)
        logits = self._decode_logits(z, training=True)                    # (B, D)
        grad_buffer = self.buffer("reconstruction_gradient", logits.shape, self.dtype)
        mean_bce, grad_logits = self.loss.value_and_grad(logits, y, grad_buffer, check_targets=False)
        reconstruction = mean_bce * pixels                                # summed over pixels, mean over batch
        grad_logits *= self.dtype.type(pixels)                            # (sigmoid(logits) - x) / B
        kl = float(np.sum(kl_divergence(mean, log_variance))) / rows

        grad_z = grad_logits
        for layer in reversed(self.decoder):
            grad_z = layer.backward(grad_z)                               # dL/dz (B, q)
        inverse_rows = self.dtype.type(1.0 / rows)
        grad_head = self.buffer("head_gradient", (rows, 2 * self.latent_size), self.dtype)
        q = self.latent_size
        grad_head[:, :q] = grad_z + mean * inverse_rows                   # dL/dmu: sampling path + KL
        grad_head[:, q:] = grad_z * (0.5 * sigma * eps) + 0.5 * (sigma * sigma - 1) * inverse_rows  # dL/dlog_var
        grad_hidden = self.head.backward(grad_head, need_input_grad=bool(self.hidden_layers))
        for index in range(len(self.hidden_layers) - 1, -1, -1):
            grad_hidden = self.hidden_layers[index].backward(grad_hidden, need_input_grad=index > 0)
        self._term_sums += (reconstruction * rows, kl * rows)
        self._term_rows += rows
        return reconstruction + kl

    # ------------------------------------------------------------------ the two terms, per epoch
    def _reset_term_sums(self):
        self._term_sums = np.zeros(2)
        self._term_rows = 0

    def fit(self, x, y=None, epochs=1, batch_size=256, validation_data=None, validation_split=0.0, shuffle=True,
            verbose=1, callbacks=None):
        """Train (npae.training.Model.fit); ``history_`` also gets the per-epoch means of the two terms,
        "reconstruction" and "kl" (and "val_reconstruction", "val_kl" with validation data)."""
        # Last, so that the positions in fit's messages about the caller's callbacks stay theirs.
        callbacks = _callback_list(callbacks) + [_TermRecorder()]
        return super().fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=validation_data,
                           validation_split=validation_split, shuffle=shuffle, verbose=verbose, callbacks=callbacks)

    # ------------------------------------------------------------------ evaluation
    def _terms_per_image(self, x, y, rng, n_samples=1, batch_size=PREDICT_CHUNK_ROWS):
        """(R, KL) of each image, float64 (M,) each; R averaged over ``n_samples`` draws of eps from ``rng``."""
        reconstruction = np.zeros(x.shape[0])
        kl = np.empty(x.shape[0])
        for start in range(0, x.shape[0], batch_size):
            inputs, targets = x[start:start + batch_size], y[start:start + batch_size]
            mean, log_variance = self._encode_batch(inputs, training=False)
            kl[start:start + inputs.shape[0]] = kl_divergence(mean, log_variance)
            for _ in range(n_samples):
                eps = rng.standard_normal(mean.shape).astype(self.dtype)
                logits = self._decode_logits(reparameterize(mean, log_variance, eps)[0], training=False)
                reconstruction[start:start + inputs.shape[0]] += bernoulli_negative_log_likelihood(logits, targets)
        return reconstruction / n_samples, kl

    def elbo_terms(self, x, n_samples=1, seed=EVALUATION_SEED):
        """The two terms of the negative ELBO of each image of x (M, D): ``(reconstruction, kl)``, float64
        (M,) each, in nats.  KL is exact; the reconstruction term -log p(x|z) is averaged over
        ``n_samples`` draws z ~ q(z|x), eps from ``np.random.default_rng(seed)``.  Their sum is a Monte-Carlo
        estimate (unbiased, noisier with fewer draws) of the negative ELBO, which is an upper bound on
        -log p(x); a single estimate may fall below -log p(x).  It is the anomaly score "elbo" (npae.anomaly)."""
        x = check_batch(x, "x", self.input_shape, self.dtype)
        self.loss.check_targets(x, "x")
        n_samples = check_positive_int(n_samples, "n_samples")
        return self._terms_per_image(x, x, np.random.default_rng(check_seed(seed)), n_samples)

    def _evaluate_checked(self, x, y, batch_size):
        """The mean negative ELBO per image (nats), one eps per image from default_rng(EVALUATION_SEED)
        (so the same model on the same data always gives the same number), plus the weight penalty."""
        reconstruction, kl = self._terms_per_image(x, y, np.random.default_rng(EVALUATION_SEED), 1, batch_size)
        self._last_evaluation_terms = (float(reconstruction.mean()), float(kl.mean()))
        penalty = self.penalty.value([W for W, _ in self._weights_to_penalize]) if self.penalty else 0.0
        return float(np.mean(reconstruction + kl)) + penalty

    def evaluate(self, x, y=None, batch_size=PREDICT_CHUNK_ROWS):
        """The mean negative ELBO per image of x (M, D), in nats: the scale PyTorch's examples/vae prints
        (BCE summed over pixels + KL, a one-sample estimate; see ``elbo_terms`` for more samples)."""
        return super().evaluate(x, y, batch_size)

    # ------------------------------------------------------------------ the VAE's own uses
    def encode(self, x, return_log_variance=False):
        """mu(x), shape (M, q): the centre of q(z|x), the usual "code" of an image.  With
        ``return_log_variance=True``, ``(mu, log_var)``; sigma = exp(0.5 log_var)."""
        x = check_batch(x, "x", self.input_shape, self.dtype)
        both = in_chunks(lambda block: self._head_output(block, training=False), x)
        mean, log_variance = both[:, :self.latent_size].copy(), both[:, self.latent_size:].copy()
        return (mean, log_variance) if return_log_variance else mean

    def decode(self, z):
        """The decoder's Bernoulli means (pixel probabilities) for codes z (M, q): shape (M, D)."""
        z = check_batch(z, "z", self.latent_shape, self.dtype)
        return in_chunks(lambda block: self.loss.to_prediction(self._decode_logits(block, training=False)), z)

    def reconstruct(self, x):
        """decode(mu(x)), shape (M, D): the mean reconstruction (no sampling), as probabilities."""
        return self.predict(x)

    def sample(self, n, seed=None):
        """``n`` new images from the model: z ~ N(0, I) from ``np.random.default_rng(seed)``, decoded to
        pixel probabilities, shape (n, D).  (Bernoulli draws from them would look speckled; the means are
        what PyTorch's and Keras' examples show.)"""
        if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be an integer >= 1 (the number of images to draw), got {n!r}")
        rng = np.random.default_rng(check_seed(seed))
        # the codes (n, q) in float64 as drawn, and the images (n, D) returned
        check_allocation(int(n) * (8 * self.latent_size + self.dtype.itemsize * int(np.prod(self.input_shape))),
                         f"sample({n}): {int(n):,} images")
        return self.decode(rng.standard_normal((int(n), self.latent_size)).astype(self.dtype))

    def reconstruction_error(self, x):
        """The paper's RE of the mean reconstruction: (1/D) sum_j (x_j - x~_j)^2, float64 (M,)."""
        return self._reconstruction_errors(check_batch(x, "x", self.input_shape, self.dtype))


def bernoulli_negative_log_likelihood(logits, x):
    """-log p(x | logits) of each row under independent Bernoulli pixels, p_j = sigmoid(logit_j), in nats:
    sum_j BCE(x_j, sigmoid(logit_j)), float64 (B,).  logits, x : (B, D), x in [0, 1].

    npae's BCE-from-logits kernel (npae.kernels.sigmoid, exact for any logit), one row at a time: it
    returns one sum per call, and ~2 us of call overhead per row is nothing next to the matrix products.
    """
    logits = np.ascontiguousarray(logits)
    x = np.ascontiguousarray(x, dtype=logits.dtype)
    if logits.ndim != 2 or logits.shape != x.shape:
        raise ValueError(f"logits and x must be 2-D arrays of one shape, got {logits.shape} and {x.shape}")
    scratch = np.empty((1, logits.shape[1]), dtype=logits.dtype)  # the kernel's gradient output, unused
    one = logits.dtype.type(1)
    return np.array([sigmoid_kernels.sigmoid_bce_from_logits(logits[i:i + 1], x[i:i + 1], one, scratch)
                     for i in range(logits.shape[0])], dtype=np.float64)


class _TermRecorder:
    """The callback ``VariationalAutoencoder.fit`` adds after the caller's: the epoch's mean reconstruction
    and KL terms into ``history_``."""

    def on_train_begin(self, model):
        model._reset_term_sums()

    def __call__(self, model, epoch, logs):
        terms = {"reconstruction": model._term_sums[0] / max(model._term_rows, 1),
                 "kl": model._term_sums[1] / max(model._term_rows, 1)}
        if "val_loss" in logs and model._last_evaluation_terms is not None:
            terms["val_reconstruction"], terms["val_kl"] = model._last_evaluation_terms
        model._reset_term_sums()
        for key, value in terms.items():
            model.history_.history.setdefault(key, []).append(float(value))
        return False
