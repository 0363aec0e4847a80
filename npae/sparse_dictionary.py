"""The TopK sparse autoencoder of Gao et al. (2024): a dictionary of feature directions, learned from activations.

Interpretability research trains these on a network's activations x (B, D) to find the "features" the
network uses: a dictionary of n >> D unit directions d_j such that each x is, approximately, a sparse
non-negative combination of a few of them (Bricken et al. 2023, "Towards Monosemanticity"; Gao et al.
2024, "Scaling and evaluating sparse autoencoders", arXiv 2406.04093, with code in openai/sparse_autoencoder).

    x (B, D) --(- b_pre)--> W_enc, + b_enc --> ReLU --> TopK(k) --> z (B, n) --> z W_dec + b_pre --> x_hat (B, D)
                                                                   k of the n latents > 0 in each row
    encoder: Dense(D, n, relu) on x - b_pre     npae.TopK(k)      decoder: UnitNormDecoder, rows of W_dec = dictionary

Each choice, and where it comes from (GPT = the paper, section; code = openai/sparse_autoencoder, file):

* **b_pre**, a bias subtracted before the encoder and added back after the decoder (GPT 2.1; code
  ``model.py``, ``pre_bias``), so the dictionary describes deviations from a typical activation.  It starts
  at the geometric median of the training data (GPT 2.1, following Bricken et al.; code ``train.py``,
  ``init_from_data_``), computed here by Weiszfeld's algorithm on at most 8,192 rows, on the first ``fit``.
* **latents = TopK(ReLU(W_enc (x - b_pre) + b_enc))** (GPT 2.3; code ``model.py``, ``TopK`` with a ReLU):
  exactly k active latents instead of an L1 penalty, so no shrinkage of the kept values and L0 = k by
  construction.  (The code takes the top k and then the ReLU; the same unless fewer than k values are
  positive, where both give zeros.)
* **Decoder rows at unit norm** (GPT 2.1 and A.1; code ``train.py``, ``unit_norm_decoder_`` and
  ``unit_norm_decoder_grad_adjustment_``).  Without it the model could shrink z and grow W_dec at no cost.
  Before each optimiser step the gradient's component along each row is removed,
  dW_j <- dW_j - (dW_j . W_j) W_j (the step then moves tangentially to the unit sphere, to first order),
  and after the step each row is divided by its norm (the ``apply_constraints`` hook that ``fit`` runs
  after every update).  The code renormalises just before the gradient adjustment, i.e. after the next
  backward; npae renormalises right after the step, so the forward pass always sees unit rows.
* **Decoder initialised as the encoder's transpose** (GPT A.1, "tied" initialisation; code ``train.py``,
  ``FastAutoencoder.__init__``), W_enc ~ U(+-1/sqrt(D)) as PyTorch's nn.Linear, then the rows normalised.
  The encoder is not tied afterwards.
* **Normalised MSE** as the loss (GPT 2.1; code ``train.py``, ``mse_scale``): the MSE divided by the MSE
  of always predicting the mean, the data's variance sigma^2 = mean((x - mean(x))^2) over all values,
  measured once from the training data on the first ``fit``, so 1.0 means "no better than the mean".
* **AuxK** (GPT A.2; code ``train.py``, the ``auxk`` branch): a latent is *dead* when it has not fired on
  any of the last ``dead_after`` training samples.  The k_aux largest pre-activations among the dead
  latents, through the ReLU, reconstruct the main model's residual e = x - x_hat (held constant), and
  alpha times the normalised MSE of that reconstruction is added to the loss, alpha = 1/32 and k_aux ~ D/2
  as in the paper:

      z_aux = TopK_{k_aux}(ReLU(pre-activations) * dead)       e_hat = z_aux W_dec        (no b_pre)
      L = ||x_hat - x||^2 / (B D sigma^2)  +  alpha ||e_hat - e||^2 / (B D var_B(e))

  This gives dead latents a gradient again (the main loss gives them none: TopK never selects them), and
  pulls them towards what the live ones fail to explain.  var_B(e) is the residual's variance over the
  batch, as in the code's ``normalized_mse``.  (The code's AuxK reconstruction adds b_pre back to both
  sides, which sends a small gradient into b_pre; the paper's formula, used here, has no b_pre.)

Not followed: Adam's epsilon (the paper's 6.25e-10 is for its scale; npae's Adam takes any), the paper's
batch sizes and learning rates (set per data set by the caller), and its EMA of the weights.

Backward, for the main term (g = dL/dx_hat = 2 (x_hat - x) / (B D sigma^2)):

    decoder:   dW_dec += z^T g     db_pre += sum_B g      dL/dz = g W_dec^T
    TopK:      dL/da = dL/dz * m                  (m: the kept entries; see npae.TopK)
    encoder:   Dense's backward through the ReLU: dW_enc, db_enc and dL/d(x - b_pre)
    b_pre:     db_pre -= sum_B dL/d(x - b_pre)    (b_pre is used twice: the two terms add)

and the AuxK term adds its own dW_dec, and dL/da on the dead latents, before the encoder's backward.
"""
import contextlib

import numpy as np

from . import _backend
from ._validation import check_batch, check_positive_int, check_seed, is_real_number
from .layers import Dense
from .layers.base import Layer
from .layers.topk import TopK
from .optimizers import optimizer_config
from .registry import register
from .training import PREDICT_CHUNK_ROWS, Model, random_streams

__all__ = ["TopKSparseAutoencoder", "UnitNormDecoder", "geometric_median"]

AUX_COEFFICIENT = 1 / 32     # alpha of the AuxK loss (GPT A.2, code Config.auxk_coef)
MEDIAN_ROWS = 8192           # b_pre's geometric median is taken over at most this many rows


def geometric_median(x, iterations=200, tolerance=1e-9):
    """The point y minimising sum_i ||x_i - y|| (Euclidean), by Weiszfeld's algorithm, in float64.

    Each iteration is a weighted mean with weights 1 / ||x_i - y||: y <- sum_i w_i x_i / sum_i w_i, from the
    mean.  A distance below 1e-12 is clipped there (a point on the current estimate does not divide by 0).
    x (M, D) -> (D,).  Stops when y moves by less than ``tolerance`` times max(1, ||y||).
    """
    x = np.asarray(x, dtype=np.float64)
    median = x.mean(axis=0)
    for _ in range(iterations):
        weights = 1.0 / np.maximum(np.linalg.norm(x - median, axis=1), 1e-12)        # (M,)
        updated = weights @ x / weights.sum()                                        # (D,)
        moved = np.linalg.norm(updated - median)
        median = updated
        if moved <= tolerance * max(1.0, np.linalg.norm(median)):
            break
    return median


def _unit_rows(matrix):
    """matrix / ||row||, each row scaled to unit Euclidean norm (an all-zero row stays zero)."""
    norms = np.sqrt(np.sum(matrix * matrix, axis=1, keepdims=True))
    return matrix / np.maximum(norms, np.finfo(matrix.dtype).tiny)


@register
class UnitNormDecoder(Layer):
    """x_hat = z W + b, the n rows of W (the dictionary) kept at unit Euclidean norm.

    Shapes:  z (B, n)   W (n, D)   b (D,)   x_hat (B, D).  In npae.TopKSparseAutoencoder b is b_pre.

    Backward:  dW += z^T g      db += sum_B g      dL/dz = g W^T           (g = dL/dx_hat, (B, D))

    ``remove_parallel_gradient()``:  dW_j <- dW_j - (dW_j . W_j) W_j, before the optimiser's step;
    ``apply_constraints()``:         W_j <- W_j / ||W_j||, after it (``fit`` calls it after every step).
    The rows start as those of ``initial`` (made unit), or at zero.
    """

    def __init__(self, n_latents, output_size, dtype="float32", initial=None):
        self.n_latents = check_positive_int(n_latents, "n_latents")
        self.output_size = check_positive_int(output_size, "output_size")
        self.dtype = _backend.resolve_dtype(dtype)
        shape = (self.n_latents, self.output_size)
        self.W = self.new_parameter(shape, self.dtype, None if initial is None else lambda: _unit_rows(
            np.asarray(initial, dtype=self.dtype)))
        self.b = self.new_parameter((self.output_size,), self.dtype)
        self.dW = self.new_gradient(self.W)
        self.db = self.new_gradient(self.b)

    def parameters(self):
        return [self.W, self.b]

    def gradients(self):
        return [self.dW, self.db]

    def get_config(self):
        return {"n_latents": self.n_latents, "output_size": self.output_size, "dtype": self.dtype.name}

    def output_shape(self, input_shape):
        if tuple(input_shape) != (self.n_latents,):
            raise ValueError(f"{self!r} takes codes of shape (batch, {self.n_latents}), got per-sample shape "
                             f"{tuple(input_shape)}")
        return (self.output_size,)

    def _forward(self, z):                         # z (B, n)
        self.keep(z=z)
        return z @ self.W + self.b                 # (B, D)

    def _backward(self, grad_y):                   # grad_y (B, D)
        self.dW += self.kept.z.T @ grad_y          # (n, D)
        self.db += grad_y.sum(axis=0)              # (D,)
        return grad_y @ self.W.T if self.need_input_grad else None   # (B, n)

    def remove_parallel_gradient(self):
        """dW_j <- dW_j - (dW_j . W_j) W_j for every row j (W's rows must be unit: they are, between steps)."""
        self.dW -= np.sum(self.dW * self.W, axis=1, keepdims=True) * self.W

    def apply_constraints(self):
        self.W[...] = _unit_rows(self.W)


def _normalised_mse_and_grad(prediction, target, variance, scale=1.0):
    """(scale mean((p - t)^2) / variance, its gradient w.r.t. p), the mean over every value; float loss."""
    difference = prediction - target
    loss = scale * float(np.mean(difference * difference, dtype=np.float64)) / variance
    return loss, difference * difference.dtype.type(2.0 * scale / (difference.size * variance))


@register
class TopKSparseAutoencoder(Model):
    """A TopK sparse autoencoder (Gao et al. 2024); the module docstring gives each choice and its source.

    Parameters
    ----------
    input_size : D, the size of the activations it decomposes
    n_latents : n, the number of dictionary directions (often several times D)
    k : the number of active latents per row (1 <= k <= n)
    k_aux : the number of dead latents AuxK uses per row (default min(n, max(1, D // 2)); the paper takes a
        power of two near D / 2); ``aux_coefficient=0`` turns AuxK off
    aux_coefficient : alpha, the weight of the AuxK loss (default 1/32, the paper's)
    dead_after : a latent that has not fired on any of the last ``dead_after`` training samples is dead
        (default 10,000; the paper's 10 million tokens are for its data sets)
    optimizer : None (Adam with Keras' defaults), a name, a config, or an Optimizer instance
    dtype : "float32" (default) or "float64"
    seed : int or None: the initial weights and the shuffles
    data_variance : sigma^2 of the normalised MSE; None until the first ``fit`` measures it (with b_pre)

    Trained by npae's one loop, ``fit(x)``; its ``history_["loss"]`` is the normalised MSE plus the AuxK term,
    ``evaluate(x)`` the normalised MSE alone (``last_terms_`` holds the two terms of the last batch and the
    number of dead latents).  Beyond the training contract: ``encode(x)`` -> sparse codes z
    (M, n), ``decode(z)`` -> reconstructions (M, D), ``reconstruct(x)``, ``dictionary`` (n, D), unit rows;
    ``samples_since_fired`` (n,) and ``dead_latents()``, the training-time dead-latent statistics.
    """

    def __init__(self, input_size, n_latents, k, *, k_aux=None, aux_coefficient=AUX_COEFFICIENT, dead_after=10_000,
                 optimizer=None, dtype=None, seed=None, data_variance=None):
        self.input_size = check_positive_int(input_size, "input_size")
        self.n_latents = check_positive_int(n_latents, "n_latents")
        self.k = check_positive_int(k, "k")
        if self.k > self.n_latents:
            raise ValueError(f"k must be at most n_latents = {self.n_latents}, got {k}")
        default_k_aux = min(self.n_latents, max(1, self.input_size // 2))
        self.k_aux = default_k_aux if k_aux is None else check_positive_int(k_aux, "k_aux")
        if self.k_aux > self.n_latents:
            raise ValueError(f"k_aux must be at most n_latents = {self.n_latents}, got {k_aux}")
        if not (is_real_number(aux_coefficient) and aux_coefficient >= 0):
            raise ValueError(f"aux_coefficient must be a finite number >= 0, got {aux_coefficient!r}")
        self.aux_coefficient = float(aux_coefficient)
        self.dead_after = check_positive_int(dead_after, "dead_after")
        if data_variance is not None and not (is_real_number(data_variance) and data_variance > 0):
            raise ValueError(f"data_variance must be None or a finite number > 0, got {data_variance!r}")
        self.data_variance = None if data_variance is None else float(data_variance)
        dtype = _backend.resolve_dtype("float32" if dtype is None else dtype)
        init_rng = random_streams(check_seed(seed))[0]

        self.encoder = Dense(self.input_size, self.n_latents, "relu", init="pytorch_uniform", dtype=dtype,
                             rng=init_rng)
        self.topk = TopK(self.k)
        self.decoder = UnitNormDecoder(self.n_latents, self.input_size, dtype,
                                       initial=self.encoder.W.T)                  # tied initialisation
        self.aux_topk = TopK(self.k_aux)  # no parameters: not one of the layers
        super().__init__([self.encoder, self.topk, self.decoder], loss="mse", optimizer=optimizer, seed=seed)
        self.input_shape = self.output_shape = (self.input_size,)
        self.latent_shape = (self.n_latents,)
        self.samples_since_fired = np.zeros(self.n_latents, dtype=np.int64)
        self._statistics_frozen = False
        self._held_residual = None
        self.last_terms_ = None

    def __repr__(self):
        return (f"TopKSparseAutoencoder({self.input_size}, {self.n_latents}, k={self.k}, k_aux={self.k_aux}, "
                f"aux_coefficient={self.aux_coefficient!r}, dtype={self.dtype.name!r})")

    def get_config(self):
        return {"input_size": self.input_size, "n_latents": self.n_latents, "k": self.k, "k_aux": self.k_aux,
                "aux_coefficient": self.aux_coefficient, "dead_after": self.dead_after,
                "optimizer": optimizer_config(self.optimizer), "dtype": self.dtype.name, "seed": self.seed,
                "data_variance": self.data_variance}

    # ------------------------------------------------------------------ what the model learned
    @property
    def dictionary(self):
        """The n feature directions, (n_latents, input_size), each row of unit norm (a copy of W_dec)."""
        return self.decoder.W.copy()

    @property
    def pre_bias(self):
        """b_pre (input_size,), a copy."""
        return self.decoder.b.copy()

    def summary(self):
        """The table of layers (Model.summary), with this model's loss."""
        table = super().summary().rsplit("\n", 1)[0]
        return (f"{table}\nloss: normalised MSE, ||x_hat - x||^2 / (B D sigma^2), + {self.aux_coefficient:g} x AuxK "
                f"(k_aux = {self.k_aux}, dead after {self.dead_after:,} samples); TopK keeps k = {self.k}")

    def dead_latents(self):
        """(n,) bool: the latents that have not fired on any of the last ``dead_after`` training samples."""
        return self.samples_since_fired >= self.dead_after

    # ------------------------------------------------------------------ training
    def init_from_data(self, x):
        """b_pre <- the geometric median of (at most 8,192 rows of) x, and sigma^2 <- the variance of x;
        ``fit`` calls it once, before its first step."""
        x = self._check_x(x)
        self.decoder.b[...] = geometric_median(x[:MEDIAN_ROWS])
        variance = float(np.mean(np.square(x - x.mean(axis=0, dtype=np.float64)), dtype=np.float64))
        if not variance > 0:
            raise ValueError("x has no variance (every row is the same): there is nothing to decompose")
        self.data_variance = variance

    def fit(self, x, y=None, **options):
        """npae's ``fit`` (see npae.training.Model.fit), after ``init_from_data(x)`` on the first call."""
        if y is not None:
            raise ValueError("a sparse autoencoder reconstructs its input: call fit(x) without y")
        if self.data_variance is None:
            self.init_from_data(x)
        return super().fit(x, **options)

    def _variance(self, x):
        """sigma^2 of the normalised MSE: the training data's, or this batch's before any fit."""
        if self.data_variance is not None:
            return self.data_variance
        return max(float(np.mean(np.square(x - x.mean(axis=0, dtype=np.float64)))), np.finfo(np.float64).tiny)

    def _before_update(self):
        """The decoder's gradient made tangent to the unit sphere before the update (Gao et al. 2024, A.2);
        the rows are renormalised after it by the decoder's ``apply_constraints``."""
        self.decoder.remove_parallel_gradient()

    @contextlib.contextmanager
    def dead_latent_statistics_frozen(self):
        """Inside this block, training forwards do not update ``samples_since_fired``: the set of dead
        latents, which AuxK uses, stays as it is."""
        previous, self._statistics_frozen = self._statistics_frozen, True
        try:
            yield
        finally:
            self._statistics_frozen = previous

    @contextlib.contextmanager
    def residual_held_fixed(self):
        """Inside this block the AuxK target e = x - x_hat is the one of the first training forward in it.

        AuxK treats e as a constant (the code's ``recons.detach()``): its gradient is the derivative of
        L_aux(weights; e) with e held fixed, not of L_aux(weights; e(weights)).  A finite-difference check
        must hold e fixed too, or it differentiates a different function."""
        previous, self._held_residual = self._held_residual, []
        try:
            yield
        finally:
            self._held_residual = previous

    def noise_held_fixed(self, rows, rng):
        """What gradcheck holds fixed (see Model.noise_held_fixed): the dead latents and AuxK's target."""
        stack = contextlib.ExitStack()
        stack.enter_context(self.dead_latent_statistics_frozen())
        stack.enter_context(self.residual_held_fixed())
        return stack

    def _aux_target(self, residual):
        """The residual AuxK reconstructs: this batch's, or the one held by ``residual_held_fixed``."""
        if self._held_residual is None:
            return residual
        if not self._held_residual:
            self._held_residual.append(residual.copy())
        return self._held_residual[0]

    def _update_dead_latents(self, z):
        """Count the samples since each latent last fired (z > 0), unless frozen; return the dead mask."""
        if not self._statistics_frozen:
            fired = np.any(z > 0, axis=0)                                                   # (n,)
            self.samples_since_fired = np.where(fired, 0, self.samples_since_fired + z.shape[0])
        return self.dead_latents()

    # ------------------------------------------------------------------ forward and backward
    def _encode_batch(self, x, training):
        """(a, z): the ReLU pre-activations a = ReLU((x - b_pre) W_enc + b_enc) and the codes z = TopK(a)."""
        activations = self.encoder.forward(x - self.decoder.b, training=training)     # (B, n)
        return activations, self.topk.forward(activations, training=training)          # (B, n)

    def _forward(self, x, training=False):
        return self.decoder.forward(self._encode_batch(x, training)[1], training=training)

    def _value_and_grad(self, x, y):
        activations, codes = self._encode_batch(x, training=True)
        reconstruction = self.decoder.forward(codes, training=True)                       # (B, D)
        loss, grad_reconstruction = _normalised_mse_and_grad(reconstruction, y, self._variance(y))
        grad_activations = self.topk.backward(self.decoder.backward(grad_reconstruction))   # (B, n)
        dead = self._update_dead_latents(codes)
        aux_loss = 0.0
        if self.aux_coefficient and dead.any():
            aux_loss, grad_aux = self._auxk(activations, dead, self._aux_target(y - reconstruction))
            grad_activations += grad_aux
        grad_centred = self.encoder.backward(grad_activations)                             # (B, D)
        self.decoder.db -= grad_centred.sum(axis=0)              # the encoder's use of b_pre: x - b_pre
        self.last_terms_ = {"mse": loss, "auxk": aux_loss, "dead": int(dead.sum())}
        return loss + aux_loss

    def _auxk(self, activations, dead, residual):
        """The AuxK term and its gradient w.r.t. the activations a (B, n); adds its share of dW_dec."""
        residual_variance = float(np.mean(np.square(residual - residual.mean(axis=0, dtype=np.float64))))
        if not residual_variance > 0:
            return 0.0, np.zeros_like(activations)
        dead_mask = dead.astype(activations.dtype)                                         # (n,)
        codes = self.aux_topk.forward(activations * dead_mask, training=True)               # (B, n)
        W = self.decoder.W
        loss, grad_estimate = _normalised_mse_and_grad(codes @ W, residual, residual_variance,
                                                       scale=self.aux_coefficient)
        self.decoder.dW += codes.T @ grad_estimate                                          # (n, D)
        return loss, self.aux_topk.backward(grad_estimate @ W.T) * dead_mask                # (B, n)

    def _evaluate_checked(self, x, y, batch_size):
        """The normalised MSE on x (without the AuxK term, which is a training device)."""
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            difference = self._forward(x[start:start + batch_size]) - y[start:start + batch_size]
            total += float(np.sum(difference * difference, dtype=np.float64))
        return total / (y.size * self._variance(y))

    # ------------------------------------------------------------------ using it
    def _in_chunks(self, x, function):
        out = None
        for start in range(0, x.shape[0], PREDICT_CHUNK_ROWS):
            block = function(x[start:start + PREDICT_CHUNK_ROWS])
            if out is None:
                out = np.empty((x.shape[0],) + block.shape[1:], dtype=block.dtype)
            out[start:start + PREDICT_CHUNK_ROWS] = block
        return out

    def encode(self, x):
        """The sparse codes z (M, n_latents) of x (M, input_size): k values > 0 (at most) per row."""
        return self._in_chunks(self._check_x(x), lambda block: self._encode_batch(block, training=False)[1])

    def relu_activations(self, x):
        """ReLU((x - b_pre) W_enc + b_enc), (M, n_latents): the values TopK picks the k largest of.  A latent
        that is 0 here on every row receives no gradient from either loss (the ReLU blocks it)."""
        return self._in_chunks(self._check_x(x), lambda block: self._encode_batch(block, training=False)[0].copy())

    def decode(self, z):
        """Reconstructions z W_dec + b_pre (M, input_size) from codes z (M, n_latents)."""
        z = check_batch(z, "z", self.latent_shape, self.dtype)
        return self._in_chunks(z, lambda block: self.decoder.forward(block))

    def reconstruct(self, x):
        """decode(encode(x)), (M, input_size)."""
        return self.predict(x)
