"""Models: ``Sequential`` (a stack of layers) and the feed-forward ``Autoencoder`` built from it.

An autoencoder is an encoder g: R^n -> R^q and a decoder f: R^q -> R^n trained so that f(g(x)) ~ x
(paper, section 2).  Training is mini-batch gradient descent on the reconstruction loss:

    for each epoch:                          shuffle the rows of x
        for each batch x_B (B, n):
            forward:   h = g(x_B), x~ = f(h)                      (caches inputs and outputs)
            loss:      L(x~, x_B), mean over batch and features   (npae.losses)
            backward:  dL/dtheta for every weight and bias        (chain rule, layer by layer)
            update:    theta <- optimiser(theta, dL/dtheta)       (npae.optimizers)
"""
import math
import sys
import time

import numpy as np

from . import _backend
from ._validation import check_array, check_positive_int
from .activations import Sigmoid, get_activation
from .kernels import elementwise, losses as loss_kernels
from .layers import Dense, TiedDense
from .losses import BinaryCrossEntropy, check_probability_targets, get_loss
from .optimizers import get_optimizer
from .progress import epoch_line
from .regularizers import WeightPenalty

PREDICT_CHUNK_ROWS = 4096  # inference in blocks: bounded memory whatever the number of rows


class Sequential:
    """Layers applied in order:  forward is  x -> layer_1 -> ... -> layer_L,  backward the reverse.

    ``forward(x, training=False, logits=False)``: with ``logits=True`` the last layer (a Dense) returns
    its pre-activation z, for a loss that works on logits.  ``backward(grad, logits=...)`` must then be
    given dL/dz.  ``need_input_grad=False`` skips dL/dx of the first layer (the data needs no gradient).
    """

    def __init__(self, layers):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers must not be empty")

    def __repr__(self):
        return "Sequential([" + ", ".join(map(repr, self.layers)) + "])"

    def forward(self, x, training=False, logits=False):
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            if logits and index == last:
                x = layer.forward(x, training=training, apply_activation=False)
            else:
                x = layer.forward(x, training=training)
        return x

    def backward(self, grad_out, logits=False, need_input_grad=True):
        grad = grad_out
        last = len(self.layers) - 1
        for index in range(last, -1, -1):
            layer = self.layers[index]
            if isinstance(layer, Dense):
                grad = layer.backward(grad, through_activation=not (logits and index == last),
                                      need_input_grad=need_input_grad or index > 0)
            else:
                grad = layer.backward(grad)
        return grad

    def parameters(self):
        return [parameter for layer in self.layers for parameter in layer.parameters()]

    def gradients(self):
        return [gradient for layer in self.layers for gradient in layer.gradients()]


class History:
    """What ``fit`` returns, as Keras does: ``history`` maps "loss", "val_loss" and "seconds" to one value
    per epoch (``val_loss`` only with validation data); ``epoch`` lists the epoch numbers; ``params`` the
    run's settings."""

    def __init__(self, params):
        self.params = dict(params)
        self.epoch = []
        self.history = {"loss": [], "seconds": []}

    def __repr__(self):
        last = {key: values[-1] for key, values in self.history.items() if values}
        return f"History(epochs={len(self.epoch)}, last={last})"

    def __getitem__(self, key):
        return self.history[key]


class Autoencoder:
    """A feed-forward autoencoder (FFA): mirrored Dense layers around a bottleneck of size q.

    ``sizes=[784, 64]`` builds the paper's 784-64-784; ``[784, 256, 64, 8]`` builds
    784-256-64-8-64-256-784.  Hidden layers use ``activation``, the latent layer (the last encoder layer)
    ``latent_activation`` (None: the same as ``activation``, as in the paper's Dense(q, relu)), and the
    output layer ``output_activation``.

    Parameters
    ----------
    sizes : list of int, input size first, bottleneck last, at least 2 entries
    activation, latent_activation, output_activation : names from ``npae.activations.ACTIVATIONS``
    loss : "bce" (binary cross-entropy, needs a sigmoid output and targets in [0, 1]) or "mse"
    optimizer : None (Adam with Keras' defaults), "adam", "sgd", or an ``npae.optimizers`` instance
    l1, l2 : weight penalties (npae.regularizers)
    tied : decoder weight matrices are the transposes of the encoder's (one shared parameter each)
    noise : standard deviation of Gaussian noise added to the *inputs* during training only (a denoising
        autoencoder, paper section 3.4); targets stay clean
    dtype : "float32" (default) or "float64"
    seed : int or None.  The same seed on the same machine gives bitwise-identical training runs.
    init : weight initialiser, "glorot_uniform" (Keras' default) or "he_normal"

    After ``fit``: ``history_`` (the last History).  Attributes ``encoder_layers``, ``decoder_layers``,
    ``network`` (a Sequential of both) are there from construction.
    """

    def __init__(self, sizes, activation="relu", latent_activation=None, output_activation="sigmoid",
                 loss="bce", optimizer=None, l1=0.0, l2=0.0, tied=False, noise=0.0, dtype="float32",
                 seed=None, init="glorot_uniform"):
        sizes = list(sizes) if isinstance(sizes, (list, tuple, np.ndarray)) else sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(f"sizes must be a list of at least two layer sizes, e.g. [784, 64], got {sizes!r}")
        self.sizes = [check_positive_int(size, "sizes entry") for size in sizes]
        self.activation = activation
        self.latent_activation = latent_activation
        self.output_activation = output_activation
        self.loss = loss
        self.l1 = l1
        self.l2 = l2
        self.tied = bool(tied)
        if not (np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
        self.noise = float(noise)
        self.dtype = _backend.resolve_dtype(dtype)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be a non-negative integer or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self.init = init

        self.loss_ = get_loss(loss)
        self.optimizer_ = get_optimizer(optimizer)
        self.penalty_ = WeightPenalty(l1, l2)
        # Three independent random streams, so that e.g. turning noise on does not change the shuffles.
        init_seed, shuffle_seed, noise_seed = np.random.SeedSequence(self.seed).spawn(3)
        self._shuffle_rng = np.random.default_rng(shuffle_seed)
        self._noise_rng = np.random.default_rng(noise_seed)
        self._build(np.random.default_rng(init_seed))
        if isinstance(self.loss_, BinaryCrossEntropy) and not self._output_is_sigmoid:
            raise ValueError(f"loss='bce' needs output_activation='sigmoid' (outputs must be probabilities), "
                             f"got output_activation={output_activation!r}; use loss='mse' otherwise")
        self.history_ = None

    # ------------------------------------------------------------------ construction
    def _build(self, rng):
        depth = len(self.sizes) - 1
        self.encoder_layers = []
        for index in range(depth):
            is_latent = index == depth - 1
            name = self.latent_activation if (is_latent and self.latent_activation is not None) else self.activation
            self.encoder_layers.append(Dense(self.sizes[index], self.sizes[index + 1], get_activation(name),
                                             init=self.init, dtype=self.dtype, rng=rng))
        self.decoder_layers = []
        for index in range(depth - 1, -1, -1):  # mirror image of the encoder
            name = self.output_activation if index == 0 else self.activation
            if self.tied:
                layer = TiedDense(self.encoder_layers[index], get_activation(name))
            else:
                layer = Dense(self.sizes[index + 1], self.sizes[index], get_activation(name),
                              init=self.init, dtype=self.dtype, rng=rng)
            self.decoder_layers.append(layer)
        self.network = Sequential(self.encoder_layers + self.decoder_layers)
        self._output_is_sigmoid = isinstance(self.decoder_layers[-1].activation, Sigmoid)
        # BCE on a sigmoid output is computed from the logits (npae.losses): exact, stable, and cheaper.
        self._logits_loss = isinstance(self.loss_, BinaryCrossEntropy) and self._output_is_sigmoid
        self._weights = [layer.W for layer in self.encoder_layers + self.decoder_layers
                         if not isinstance(layer, TiedDense)]
        self._weight_grads = [layer.dW for layer in self.encoder_layers + self.decoder_layers
                              if not isinstance(layer, TiedDense)]

    @property
    def n_features_in_(self):
        return self.sizes[0]

    @property
    def latent_dim(self):
        return self.sizes[-1]

    def get_config(self):
        """The constructor's arguments as plain JSON-able values (used by ``save``)."""
        return {"sizes": list(self.sizes), "activation": self._activation_config(self.activation),
                "latent_activation": self._activation_config(self.latent_activation),
                "output_activation": self._activation_config(self.output_activation),
                "loss": self.loss_.name, "optimizer": self.optimizer_.get_config(), "l1": float(self.l1),
                "l2": float(self.l2), "tied": self.tied, "noise": self.noise, "dtype": self.dtype.name,
                "seed": self.seed, "init": self.init if isinstance(self.init, str) else "glorot_uniform"}

    @staticmethod
    def _activation_config(activation):
        if activation is None or isinstance(activation, str):
            return activation
        return activation.get_config()

    def __repr__(self):
        arrows = "-".join(str(size) for size in self.sizes + self.sizes[-2::-1])
        return (f"Autoencoder({arrows}, activation={self._activation_config(self.activation)!r}, "
                f"loss={self.loss_.name!r}, dtype={self.dtype.name!r})")

    def summary(self):
        """A table of the layers: output size, activation and number of parameters."""
        lines = [f"{'layer':<28}{'output':>8}{'activation':>12}{'parameters':>12}"]
        total = 0
        for layer in self.network.layers:
            count = sum(p.size for p in layer.parameters())
            total += count
            lines.append(f"{type(layer).__name__ + f'({layer.in_features}->{layer.out_features})':<28}"
                         f"{layer.out_features:>8}{layer.activation.name:>12}{count:>12,}")
        lines.append(f"{'total':<48}{total:>12,}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ weights
    def parameters(self):
        return self.network.parameters()

    def get_weights(self):
        """Copies of ``[W1, b1, W2, b2, ...]`` in layer order, each W shaped (in, out), like Keras.
        With ``tied=True`` a decoder layer contributes only its bias (its W is an encoder W transposed)."""
        return [parameter.copy() for parameter in self.parameters()]

    def set_weights(self, weights):
        """Replace all parameters; shapes must match ``get_weights()``.  Validated before anything changes."""
        parameters = self.parameters()
        weights = list(weights)
        if len(weights) != len(parameters):
            raise ValueError(f"weights must be a list of {len(parameters)} arrays, got {len(weights)}")
        checked = []
        for index, (new, old) in enumerate(zip(weights, parameters)):
            new = np.asarray(new)
            if new.shape != old.shape:
                raise ValueError(f"weights[{index}] has shape {new.shape}, expected {old.shape}")
            if not np.issubdtype(new.dtype, np.number) or not np.isfinite(new).all():
                raise ValueError(f"weights[{index}] must be finite real numbers")
            checked.append(new)
        for new, old in zip(checked, parameters):
            np.copyto(old, new, casting="unsafe")

    # ------------------------------------------------------------------ training
    def _check_inputs(self, x, y, argument_x="x", argument_y="y"):
        x = check_array(x, argument_x, n_features=self.sizes[0], dtype=self.dtype)
        if y is None:
            y = x
        else:
            y = check_array(y, argument_y, n_features=self.sizes[0], dtype=self.dtype)
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"{argument_y} has {y.shape[0]} rows but {argument_x} has {x.shape[0]}")
        if isinstance(self.loss_, BinaryCrossEntropy):
            check_probability_targets(y, argument_y)
        return x, y

    def _train_step(self, inputs, targets):
        """Forward, loss, backward and update on one batch; returns the batch loss before the update."""
        output = self.network.forward(inputs, training=True, logits=self._logits_loss)
        if self._logits_loss:
            loss, grad = self.loss_.value_and_grad_from_logits(output, targets, check_targets=False)
        else:
            loss, grad = self.loss_.value_and_grad(output, targets)
        if self.penalty_:
            loss += self.penalty_.value(self._weights)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss}: training diverged (try a smaller learning rate)")
        self.network.backward(grad, logits=self._logits_loss, need_input_grad=False)
        if self.penalty_:
            self.penalty_.add_gradient(self._weights, self._weight_grads)
        self.optimizer_.step(self.network.parameters(), self.network.gradients())
        return loss

    def _noisy(self, clean, buffer):
        """clean + noise * N(0, 1), written into ``buffer`` (not clipped, as in the paper)."""
        self._noise_rng.standard_normal(out=buffer, dtype=buffer.dtype)
        buffer *= buffer.dtype.type(self.noise)
        buffer += clean
        return buffer

    def train_on_batch(self, x, y=None):
        """One update on the batch (x, y) (y defaults to x); returns the batch's loss before the update.
        If the loss is NaN or infinite, a FloatingPointError is raised and the weights are not changed."""
        x, y = self._check_inputs(x, y)
        inputs = self._noisy(x, np.empty_like(x)) if self.noise else x
        return self._train_step(inputs, y)

    def fit(self, x, y=None, epochs=1, batch_size=256, validation_data=None, validation_split=0.0,
            shuffle=True, verbose=1, callbacks=None):
        """Train; returns a :class:`History` (per-epoch ``loss``, ``val_loss``, ``seconds``).

        x : (M, n) training data; y : targets, default x (an autoencoder reconstructs its input).
        validation_data : array (targets = itself) or a tuple (x_val, y_val); or
        validation_split : fraction in [0, 1) taken from the *end* of x before shuffling, as Keras does.
        The epoch's loss is the mean of the batch losses weighted by batch size (Keras' convention).
        verbose : 0 silent, 1 or 2 one line per epoch (loss, val_loss, seconds, ETA) on stdout.
        callbacks : list of callables ``callback(model, epoch, logs)`` run after each epoch, ``logs`` a dict
            of that epoch's loss, val_loss and seconds; one returning True stops training (see
            ``npae.callbacks``, e.g. ``EarlyStopping``).

        If the loss becomes NaN or infinite, a FloatingPointError is raised and the weights are restored
        to those at the start of that epoch (the last ones known to give a finite loss).
        """
        x, y = self._check_inputs(x, y)
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must lie in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        x_val = y_val = None
        if validation_split:
            split = x.shape[0] - int(round(x.shape[0] * validation_split))
            if split < 1 or split == x.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation rows")
            same_targets = y is x
            x, x_val = x[:split], x[split:]
            y, y_val = (x, x_val) if same_targets else (y[:split], y[split:])
        elif validation_data is not None:
            if isinstance(validation_data, (tuple, list)):
                if len(validation_data) != 2:
                    raise ValueError("validation_data must be x_val or a tuple (x_val, y_val)")
                x_val, y_val = self._check_inputs(*validation_data, "validation_data[0]", "validation_data[1]")
            else:
                x_val, y_val = self._check_inputs(validation_data, None, "validation_data")
        callbacks = list(callbacks) if callbacks is not None else []
        for index, callback in enumerate(callbacks):
            if not callable(callback):
                raise ValueError(f"callbacks[{index}] must be callable as callback(model, epoch, logs), "
                                 f"got {callback!r}")
        for callback in callbacks:  # only once all are known to be valid: an error changes nothing
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self)
        stream = sys.stdout

        rows, features = x.shape
        same_targets = y is x
        history = History({"epochs": epochs, "batch_size": batch_size, "steps": math.ceil(rows / batch_size),
                           "samples": rows, "shuffle": bool(shuffle), "verbose": verbose})
        self.history_ = history
        started = time.perf_counter()
        for epoch in range(epochs):
            epoch_start = time.perf_counter()
            snapshot = [p.copy() for p in self.parameters()]
            order = self._shuffle_rng.permutation(rows) if shuffle else None
            loss_sum = 0.0
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # divergence shows in the loss
                    for start in range(0, rows, batch_size):
                        stop = min(start + batch_size, rows)
                        if order is None:
                            inputs, targets = x[start:stop], y[start:stop]
                        else:
                            indices = order[start:stop]
                            inputs = self._gather(x, indices, "inputs")
                            targets = inputs if same_targets else self._gather(y, indices, "targets")
                        if self.noise:
                            buffer = self.network.layers[0]._workspace.get("noisy", inputs.shape, self.dtype)
                            inputs = self._noisy(inputs, buffer)
                        loss_sum += self._train_step(inputs, targets) * (stop - start)
            except FloatingPointError as error:
                self.set_weights(snapshot)
                raise FloatingPointError(f"{error} at epoch {epoch + 1}; the weights were restored to those "
                                         f"at the start of that epoch") from None
            loss = loss_sum / rows
            val_loss = self.evaluate(x_val, y_val) if x_val is not None else None
            seconds = time.perf_counter() - epoch_start
            history.epoch.append(epoch)
            history.history["loss"].append(loss)
            history.history["seconds"].append(seconds)
            if val_loss is not None:
                history.history.setdefault("val_loss", []).append(val_loss)
            logs = {key: values[-1] for key, values in history.history.items()}
            if verbose:
                print(epoch_line(f"Epoch {epoch + 1}/{epochs}", epoch, epochs, logs, time.perf_counter() - started),
                      file=stream, flush=True)
            stop = [bool(callback(self, epoch, logs)) for callback in callbacks]  # every callback sees every epoch
            if any(stop):
                break
        return history

    def _gather(self, source, indices, name):
        buffer = self.network.layers[0]._workspace.get(name, (indices.shape[0], source.shape[1]), self.dtype)
        elementwise.gather_rows(source, indices, buffer)
        return buffer

    # ------------------------------------------------------------------ inference
    def _apply(self, layers, x):
        """Run ``layers`` on x in blocks of PREDICT_CHUNK_ROWS rows; returns a new (M, out) array."""
        out = np.empty((x.shape[0], layers[-1].out_features), dtype=self.dtype)
        for start in range(0, x.shape[0], PREDICT_CHUNK_ROWS):
            block = x[start:start + PREDICT_CHUNK_ROWS]
            for layer in layers:
                block = layer.forward(block, training=False)
            out[start:start + PREDICT_CHUNK_ROWS] = block
        return out

    def evaluate(self, x, y=None, batch_size=PREDICT_CHUNK_ROWS):
        """The mean loss on (x, y) (y defaults to x), including the weight penalty as during training."""
        x, y = self._check_inputs(x, y)
        batch_size = check_positive_int(batch_size, "batch_size")
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            inputs, targets = x[start:start + batch_size], y[start:start + batch_size]
            output = self.network.forward(inputs, training=False, logits=self._logits_loss)
            grad = np.empty_like(output)
            if self._logits_loss:
                loss, _ = self.loss_.value_and_grad_from_logits(output, targets, grad, check_targets=False)
            else:
                loss, _ = self.loss_.value_and_grad(output, targets, grad)
            total += loss * inputs.shape[0]
        return total / x.shape[0] + (self.penalty_.value(self._weights) if self.penalty_ else 0.0)

    def encode(self, x):
        """Latent features h = g(x), shape (M, q)."""
        return self._apply(self.encoder_layers, check_array(x, "x", n_features=self.sizes[0], dtype=self.dtype))

    def decode(self, h):
        """Reconstructions f(h) from latent features h (M, q), shape (M, n)."""
        return self._apply(self.decoder_layers, check_array(h, "h", n_features=self.sizes[-1], dtype=self.dtype))

    def reconstruct(self, x):
        """x~ = f(g(x)), shape (M, n)."""
        return self._apply(self.network.layers, check_array(x, "x", n_features=self.sizes[0], dtype=self.dtype))

    predict = reconstruct

    def reconstruction_error(self, x):
        """RE_i = (1/n) sum_j (x_ij - x~_ij)^2 for each row: the paper's RE, float64 array (M,)."""
        x = check_array(x, "x", n_features=self.sizes[0], dtype=self.dtype)
        errors = np.empty(x.shape[0], dtype=np.float64)
        for start in range(0, x.shape[0], PREDICT_CHUNK_ROWS):
            block = x[start:start + PREDICT_CHUNK_ROWS]
            reconstruction = self._apply(self.network.layers, block)
            loss_kernels.row_mean_squared_error(reconstruction, block, errors[start:start + PREDICT_CHUNK_ROWS])
        return errors

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model to ``path`` (.npz: weights, optimiser state, architecture as JSON), atomically."""
        from .io import save_model

        save_model(self, path)

