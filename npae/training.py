"""The one training contract of npae, and the one loop that trains every model.

A model is layers and a loss.  One training step on a batch (x_B, y_B) is three calls, as in PyTorch:

    model.zero_grad()                               every gradient <- 0
    loss = model.value_and_grad(x_B, y_B)           forward, loss, backward: each parameter's gradient
                                                    now holds dL/dtheta (accumulated, see npae.layers)
    model.optimizer.step(model.parameters(), model.gradients())      theta <- optimiser(theta, dL/dtheta)

``train_on_batch`` is exactly these three calls, and ``fit`` repeats them over shuffled mini-batches:

    for each epoch:                       shuffle the rows of x
        for each batch (x_B, y_B):        (x_B + noise when the model denoises; y_B stays clean)
            the three calls above
        the loss on the validation data; callbacks

Subclasses (``npae.Sequential``, ``npae.Autoencoder``, ``npae.VariationalAutoencoder``) say what their
forward pass and loss are by implementing ``_value_and_grad(x, y)`` and ``_forward(x, training)``; the
batching, shuffling, noise, validation, divergence checks, weights and saving live here, once.

Penalties.  The loss that is minimised and reported is the subclass's loss, plus the weight penalty
(``l1``/``l2``, npae.regularizers), plus ``activity_loss()`` of every layer that has that method: a layer
may add a term computed from its own output during its forward (npae.layers.activity, a sparse code),
and adds its gradient in its backward.

Divergence.  A step whose loss is NaN or infinite is never applied, and a step that leaves a weight NaN
or infinite is undone (a weight constraint's result included): in both cases ``fit`` puts back the
weights *and* the optimiser's state (moments, step count) of the last snapshot whose loss was finite (the
start of that epoch, or of the one before if the loss was already not finite at that start), and raises
FloatingPointError.  So ``fit`` never returns, or raises, with non-finite weights, and the model it leaves
evaluates to a finite loss.
"""
import contextlib
import math
import sys
import time
import warnings

import numpy as np

from ._validation import check_batch, check_flag, check_positive_int, check_seed
from .callbacks import History, epoch_line
from .kernels import elementwise, losses as loss_kernels
from .layers.base import Buffers, Layer
from .losses import get_loss
from .optimizers import get_optimizer
from .regularizers import WeightPenalty

PREDICT_CHUNK_ROWS = 4096  # inference in blocks: bounded memory whatever the number of rows


def in_chunks(function, x, rows=PREDICT_CHUNK_ROWS):
    """function(block) for blocks of ``rows`` rows of x, gathered into one new array (M, ...): inference in
    bounded memory, whatever the number M of rows.  (Every model's predict, encode, decode and
    reconstruction error go through here.)"""
    out = None
    for start in range(0, x.shape[0], rows):
        block = function(x[start:start + rows])
        if out is None:
            out = np.empty((x.shape[0],) + block.shape[1:], dtype=block.dtype)
        out[start:start + block.shape[0]] = block
    return out


def random_streams(seed):
    """Three independent generators from one seed: (initial weights, shuffling, noise).  Separate streams,
    so that e.g. turning noise on does not change the shuffles or the initial weights."""
    return tuple(np.random.default_rng(stream) for stream in np.random.SeedSequence(seed).spawn(3))


def _callback_list(callbacks):
    """``callbacks`` as a list: None is none, one callable is a list of one (``callbacks=EarlyStopping()``
    means what it says), anything else must be an iterable of them."""
    if callbacks is None:
        return []
    if callable(callbacks):
        return [callbacks]
    try:
        return list(callbacks)
    except TypeError:
        raise ValueError(f"callbacks must be a list of callables callback(model, epoch, logs), got "
                         f"{callbacks!r:.80}") from None


def _wants_to_stop(answer, index):
    """A callback's answer: true stops training, None or false goes on; anything else is a mistake to name."""
    if answer is None or isinstance(answer, (bool, np.bool_, int, np.integer)):
        return bool(answer)
    raise ValueError(f"callbacks[{index}] returned {answer!r:.80}; a callback returns True to stop training, or "
                     "None / False to go on")


class Model(Buffers):
    """Base class of the trainable models; see the module docstring.

    Parameters common to every model: ``loss`` (name, config dict or Loss), ``optimizer`` (None: Adam
    with Keras' defaults; a name, a config dict, or an Optimizer instance, which this model then owns),
    ``l1``/``l2`` (weight penalties on the layers' ``weights_to_penalize()``), ``noise`` (standard
    deviation of Gaussian noise added to the training inputs only: a denoising model), ``seed`` (None or
    an int: the same seed gives bitwise-identical training on the same machine).  The seed draws the
    shuffles, the noise and the initial weights of the layers a model builds itself (``Autoencoder(sizes)``,
    the VAE); a layer you build draws its initial weights from its own ``rng`` argument, so for
    bitwise-identical runs of a model built from layers give every layer an ``rng`` too.

    Attributes: ``layers``, ``loss`` (a Loss), ``optimizer`` (an Optimizer), ``penalty`` (a WeightPenalty),
    ``input_shape`` and ``output_shape`` (per sample), ``dtype``.  After ``fit``: ``history_``.
    """

    _registry_kinds = ("model",)  # what npae.register files a subclass under (npae.registry)

    def __init__(self, layers, *, loss, optimizer=None, l1=0.0, l2=0.0, noise=0.0, seed=None):
        self.layers = list(layers)
        self.loss = get_loss(loss)
        self.penalty = WeightPenalty(l1, l2)
        if isinstance(noise, bool) or not isinstance(noise, (int, float, np.floating, np.integer)) \
                or not (np.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite standard deviation >= 0, got {noise!r}")
        self.noise = float(noise)
        self.seed = check_seed(seed)
        _, self.shuffle_rng, self.noise_rng = random_streams(self.seed)  # the first: see Autoencoder
        self._collect_parameters()
        self.optimizer = get_optimizer(optimizer)
        self.optimizer.bind(self._parameters)
        self.history_ = None
        self._warned_about_output_range = False

    # ------------------------------------------------------------------ parameters
    def _collect_parameters(self):
        """Gather the layers' parameters once (their arrays never change identity: set_weights copies)."""
        parameters, gradient_owners, seen = [], [], {}
        for position, layer in enumerate(self.layers):
            gradients = layer.gradients()
            for index, parameter in enumerate(layer.parameters()):
                if id(parameter) in seen:  # a parameter used by two layers is one parameter, with one gradient
                    first, gradient = seen[id(parameter)]
                    if gradients[index] is not gradient:
                        raise ValueError(f"layers[{position}] ({layer!r:.80}) shares a parameter with layers[{first}] "
                                         "but has a gradient array of its own, whose contributions would be lost: "
                                         "give both layers the same gradient array (gradients accumulate, as "
                                         "TiedDense adds into its encoder layer's dW)")
                    continue
                seen[id(parameter)] = (position, gradients[index])
                parameters.append(parameter)
                gradient_owners.append((layer, index))
        dtypes = {p.dtype for p in parameters}
        if len(dtypes) > 1:
            raise ValueError(f"the layers' parameters mix dtypes {sorted(map(str, dtypes))}; build every layer "
                             "with the same dtype")
        self.dtype = dtypes.pop() if dtypes else np.dtype(np.float32)
        self._parameters = parameters
        # For gradients(): each layer with parameters, and which of its gradients are this model's
        # (all of them, None, unless one of its parameters was already another layer's).
        plan = {}
        for layer, index in gradient_owners:
            plan.setdefault(id(layer), (layer, []))[1].append(index)
        self._gradient_plan = [(layer, None if indices == list(range(len(layer.parameters()))) else indices)
                               for layer, indices in plan.values()]
        self._weights_to_penalize = [pair for layer in self.layers for pair in layer.weights_to_penalize()]
        self._activity_layers = [layer for layer in self.layers if callable(getattr(layer, "activity_loss", None))]
        self._constrained_layers = [layer for layer in self.layers
                                    if type(layer).apply_constraints is not Layer.apply_constraints]

    def parameters(self):
        """Every trainable array, each once, in layer order (what the optimiser updates in place)."""
        return list(self._parameters)

    def gradients(self):
        """The gradient of each parameter, in the same order."""
        gradients = []
        for layer, indices in self._gradient_plan:
            layer_gradients = layer.gradients()
            gradients.extend(layer_gradients if indices is None else [layer_gradients[i] for i in indices])
        return gradients

    def zero_grad(self):
        """Set every gradient to zero (before a batch: gradients accumulate)."""
        for layer in self.layers:
            layer.zero_grad()

    def get_weights(self):
        """Copies of every parameter, in ``parameters()`` order (for Dense: W (in, out), then b, like Keras)."""
        return [parameter.copy() for parameter in self._parameters]

    def set_weights(self, weights):
        """Replace all parameters; shapes must match ``get_weights()``.  Validated before anything changes."""
        try:
            weights = list(weights)
        except TypeError:
            raise ValueError(f"weights must be a list of {len(self._parameters)} arrays (as get_weights() "
                             f"returns), got {weights!r:.80}") from None
        if len(weights) != len(self._parameters):
            raise ValueError(f"weights must be a list of {len(self._parameters)} arrays, got {len(weights)}")
        checked = []
        for index, (new, old) in enumerate(zip(weights, self._parameters)):
            new = np.asarray(new)
            if new.shape != old.shape:
                raise ValueError(f"weights[{index}] has shape {new.shape}, expected {old.shape}")
            if not (np.issubdtype(new.dtype, np.floating) or np.issubdtype(new.dtype, np.integer)):
                raise ValueError(f"weights[{index}] must hold real numbers, got dtype {new.dtype}")
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows as infinity, refused below
                converted = new.astype(self.dtype)
            if not np.isfinite(converted).all():
                raise ValueError(f"weights[{index}] must be finite in {self.dtype} (no NaN, no infinity, no "
                                 f"values beyond +-{np.finfo(self.dtype).max:.3g})")
            checked.append(converted)
        for new, old in zip(checked, self._parameters):
            np.copyto(old, new)

    def count_parameters(self):
        return sum(p.size for p in self._parameters)

    def noise_held_fixed(self, rows, rng):
        """A context in which ``value_and_grad`` on batches of ``rows`` rows draws no random numbers, so that
        it is a function of the parameters alone (what ``gradcheck`` differentiates).  Only a model that
        draws inside its forward pass (the VAE's eps) has anything to hold; here, nothing."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ what subclasses define
    def _forward(self, x, training=False):
        """The network's output for a checked batch x (raw: logits for a loss that takes logits)."""
        raise NotImplementedError

    def _value_and_grad(self, x, y):
        """Forward, loss and backward on a checked batch; returns the mean loss without the penalty."""
        raise NotImplementedError

    def get_config(self):
        raise NotImplementedError

    # ------------------------------------------------------------------ inputs
    def _set_input_shape(self, input_shape):
        """Fix the per-sample input shape (and check the layers line up); see Sequential."""
        raise NotImplementedError

    def _check_x(self, x, argument="x"):
        """x as a checked batch of the model's input shape; a model built without one learns it here."""
        if self.input_shape is None:
            self._set_input_shape(check_batch(x, argument, None, self.dtype).shape[1:])
        return check_batch(x, argument, self.input_shape, self.dtype)

    def _check_inputs(self, x, y, argument_x="x", argument_y="y"):
        x = self._check_x(x, argument_x)
        if y is None:
            y = x
        else:
            y = check_batch(y, argument_y, self.output_shape, self.dtype)
            if y.shape[0] != x.shape[0]:
                raise ValueError(f"{argument_y} has {y.shape[0]} rows but {argument_x} has {x.shape[0]}")
        self.loss.check_targets(y, argument_y)
        self._warn_if_targets_out_of_range(y, argument_y)
        return x, y

    def _output_range(self):
        """(low, high) of what the model can predict, or None if unbounded/unknown (see Sequential)."""
        return None

    def _warn_if_targets_out_of_range(self, y, argument):
        output_range = self._output_range()
        if output_range is None or self._warned_about_output_range:
            return
        low, high = float(np.min(y)), float(np.max(y))
        if low < output_range[0] or high > output_range[1]:
            self._warned_about_output_range = True
            warnings.warn(f"{argument} has values in [{low:g}, {high:g}], but this model's outputs lie in "
                          f"{list(output_range)}, so the loss cannot reach 0 and training may stall; for such "
                          "data end the model without a sigmoid, with loss='mse' (Autoencoder(sizes, loss='mse', "
                          "output_activation='identity'); with layers: a last layer with activation='identity')",
                          stacklevel=3)

    # ------------------------------------------------------------------ one step
    def value_and_grad(self, x, y=None):
        """Forward, loss and backward on the batch (x, y): returns the mean loss (with the weight penalty)
        and leaves dL/dtheta *added* to each gradient (call ``zero_grad()`` first for a fresh batch)."""
        x, y = self._check_inputs(x, y)
        return self._value_and_grad_with_penalty(x, y)

    def _activity_loss(self):
        """The sum of the layers' activity penalties of the last forward (see Penalties, module docstring)."""
        return sum(layer.activity_loss() for layer in self._activity_layers)

    def _value_and_grad_with_penalty(self, x, y):
        loss = self._value_and_grad(x, y) + self._activity_loss()
        if self.penalty:
            weights = [W for W, _ in self._weights_to_penalize]
            loss += self.penalty.value(weights)
            self.penalty.add_gradient(weights, [dW for _, dW in self._weights_to_penalize])
        return loss

    def _step(self, x, y):
        """zero_grad, value_and_grad, optimiser step: returns (loss, whether every updated weight is finite).
        A loss that is not finite raises FloatingPointError before the update; a non-finite update is for
        the caller to undo (it holds the snapshot to restore)."""
        self.zero_grad()
        loss = self._value_and_grad_with_penalty(x, y)
        if not math.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss}: training diverged (try a smaller learning rate)")
        self._before_update()
        finite = self.optimizer.step(self._parameters, self.gradients())
        for layer in self._constrained_layers:  # a constraint may make a weight non-finite too: look again
            layer.apply_constraints()
            finite = finite and all(np.isfinite(parameter).all() for parameter in layer.parameters())
        return loss, finite

    def _before_update(self):
        """Called between backward and the optimiser's step, with the batch's gradients in place: a model
        may change them there (a TopK dictionary makes its decoder's gradient tangent to the unit sphere).
        Nothing by default."""

    def _snapshot(self):
        return [p.copy() for p in self._parameters], self.optimizer.get_state()

    def _restore(self, snapshot):
        weights, (iterations, state) = snapshot
        for parameter, saved in zip(self._parameters, weights):
            np.copyto(parameter, saved)
        self.optimizer.set_state(iterations, state)

    def train_on_batch(self, x, y=None):
        """One update on the batch (x, y) (y defaults to x); returns the batch's loss before the update.

        If the loss is NaN or infinite, or the update would make a weight so, a FloatingPointError is
        raised and the weights and the optimiser's state are as they were before the call.
        """
        x, y = self._check_inputs(x, y)
        inputs = self._noisy(x, np.empty_like(x)) if self.noise else x
        snapshot = self._snapshot()
        with np.errstate(over="ignore", invalid="ignore"):
            loss, finite = self._step(inputs, y)
        if not finite:
            self._restore(snapshot)
            raise FloatingPointError("the update made a weight NaN or infinite: training diverged (try a smaller "
                                     "learning rate); the weights and the optimiser's state were restored")
        return loss

    def _noisy(self, clean, buffer):
        """clean + noise * N(0, 1), written into ``buffer`` (not clipped, as in the paper)."""
        self.noise_rng.standard_normal(out=buffer, dtype=buffer.dtype)
        buffer *= buffer.dtype.type(self.noise)
        buffer += clean
        return buffer

    # ------------------------------------------------------------------ the loop
    def _validation_arrays(self, x, y, validation_data, validation_split):
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float, np.floating)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a number in [0, 1), got {validation_split!r}")
        if validation_data is not None and validation_split:
            raise ValueError("give validation_data or validation_split, not both")
        if validation_split:
            split = x.shape[0] - int(round(x.shape[0] * validation_split))
            if split < 1 or split == x.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation rows")
            same_targets = y is x
            x, x_val = x[:split], x[split:]
            y, y_val = (x, x_val) if same_targets else (y[:split], y[split:])
            return x, y, x_val, y_val
        if validation_data is None:
            return x, y, None, None
        if isinstance(validation_data, (tuple, list)):
            if len(validation_data) != 2:
                raise ValueError("validation_data must be x_val or a tuple (x_val, y_val)")
            return (x, y) + self._check_inputs(*validation_data, "validation_data[0]", "validation_data[1]")
        return (x, y) + self._check_inputs(validation_data, None, "validation_data")

    def fit(self, x, y=None, epochs=1, batch_size=256, validation_data=None, validation_split=0.0,
            shuffle=True, verbose=1, callbacks=None):
        """Train; returns a :class:`npae.History` (per-epoch ``loss``, ``val_loss``, ``seconds``).

        x : (M, ...) training data; y : targets, default x (an autoencoder reconstructs its input).
        validation_data : an array (targets = itself) or a tuple (x_val, y_val); or
        validation_split : fraction in [0, 1) taken from the *end* of x before shuffling, as Keras does.
        The epoch's loss is the mean of the batch losses weighted by batch size (Keras' convention).
        verbose : 0 silent, 1 or 2 one line per epoch (loss, val_loss, seconds, ETA) on stdout.
        callbacks : list of callables ``callback(model, epoch, logs)`` run after each epoch, ``logs`` a dict
            of that epoch's loss, val_loss and seconds; one returning True stops training (see
            ``npae.callbacks``, e.g. ``EarlyStopping``).

        On divergence, see the module docstring: FloatingPointError, with the weights and the optimiser's
        state of the start of that epoch.  Every argument is checked before the first step.
        """
        x, y = self._check_inputs(x, y)
        epochs = check_positive_int(epochs, "epochs")
        batch_size = check_positive_int(batch_size, "batch_size")
        if verbose not in (0, 1, 2, True, False):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        shuffle = check_flag(shuffle, "shuffle")
        x, y, x_val, y_val = self._validation_arrays(x, y, validation_data, validation_split)
        callbacks = _callback_list(callbacks)
        for index, callback in enumerate(callbacks):
            if not callable(callback):
                raise ValueError(f"callbacks[{index}] must be callable as callback(model, epoch, logs), "
                                 f"got {callback!r}")
        for callback in callbacks:  # only once all are known to be valid: an error changes nothing
            if hasattr(callback, "on_train_begin"):
                callback.on_train_begin(self)

        rows = x.shape[0]
        history = History({"epochs": epochs, "batch_size": batch_size, "steps": math.ceil(rows / batch_size),
                           "samples": rows, "shuffle": bool(shuffle), "verbose": int(verbose)})
        self.history_ = history
        started = time.perf_counter()
        known_finite = None  # the last snapshot whose loss was computed and finite (see _train_epoch)
        self._set_buffer_reuse(True)
        try:
            for epoch in range(epochs):
                epoch_start = time.perf_counter()
                loss, known_finite = self._train_epoch(x, y, batch_size, shuffle, epoch, known_finite)
                logs = {"loss": loss}
                if x_val is not None:
                    logs["val_loss"] = self._evaluate_checked(x_val, y_val, PREDICT_CHUNK_ROWS)
                logs["seconds"] = time.perf_counter() - epoch_start
                history.record(epoch, logs)
                if verbose:
                    print(epoch_line(f"Epoch {epoch + 1}/{epochs}", epoch, epochs, logs,
                                     time.perf_counter() - started), file=sys.stdout, flush=True)
                self._set_buffer_reuse(False)  # a callback may call forward: it must get new arrays
                stop = [_wants_to_stop(callback(self, epoch, logs), index)  # every one sees every epoch
                        for index, callback in enumerate(callbacks)]
                self._set_buffer_reuse(True)
                if any(stop):
                    break
        finally:
            self._set_buffer_reuse(False)
        return history

    def _set_buffer_reuse(self, enabled):
        for owner in [self] + self.layers:
            owner.reuse_buffers(enabled)

    def _train_epoch(self, x, y, batch_size, shuffle, epoch, known_finite=None):
        """One pass over (x, y) in shuffled batches; returns (the mean loss, the snapshot of this epoch's start).

        Divergence: the weights go back to the last ones whose loss was finite.  That is this epoch's start
        once its first batch's loss was finite there; if that very loss was not (the last update of the
        previous epoch overflowed), the start of the previous epoch, ``known_finite``, whose first loss was."""
        rows = x.shape[0]
        start_snapshot = self._snapshot()
        start_is_finite = False
        order = self.shuffle_rng.permutation(rows) if shuffle else None
        same_targets = y is x
        loss_sum = 0.0
        try:
            with np.errstate(over="ignore", invalid="ignore"):  # divergence shows in the loss and the weights
                for start in range(0, rows, batch_size):
                    stop = min(start + batch_size, rows)
                    if order is None:
                        inputs, targets = x[start:stop], y[start:stop]
                    else:
                        indices = order[start:stop]
                        inputs = self._gather(x, indices, "inputs")
                        targets = inputs if same_targets else self._gather(y, indices, "targets")
                    if self.noise:
                        inputs = self._noisy(inputs, self.buffer("noisy_inputs", inputs.shape, self.dtype))
                    loss, finite = self._step(inputs, targets)
                    start_is_finite = True  # _step raises before any update if the loss is not finite
                    if not finite:
                        raise FloatingPointError("an update made a weight NaN or infinite: training diverged "
                                                 "(try a smaller learning rate)")
                    loss_sum += loss * (stop - start)
        except FloatingPointError as error:
            previous = not start_is_finite and known_finite is not None
            self._restore(known_finite if previous else start_snapshot)
            if previous and self.history_ is not None:
                self.history_.forget_last()  # the previous epoch's end was undone with it
            raise FloatingPointError(f"{error} at epoch {epoch + 1}; the weights and the optimiser's state were "
                                     f"restored to those at the start of {'the previous' if previous else 'that'} "
                                     "epoch, the last whose loss was finite") from None
        return loss_sum / rows, start_snapshot

    def _gather(self, source, indices, name):
        """source[indices] (a shuffled batch) into a reused buffer, row by row."""
        buffer = self.buffer(name, (indices.shape[0],) + source.shape[1:], self.dtype)
        elementwise.gather_rows(source.reshape(source.shape[0], -1), indices,
                                buffer.reshape(indices.shape[0], -1))
        return buffer

    # ------------------------------------------------------------------ evaluation and inference
    def evaluate(self, x, y=None, batch_size=PREDICT_CHUNK_ROWS):
        """The mean loss on (x, y) (y defaults to x), including the penalties as during training."""
        x, y = self._check_inputs(x, y)
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._evaluate_checked(x, y, batch_size)

    def _evaluate_checked(self, x, y, batch_size):
        total = 0.0
        for start in range(0, x.shape[0], batch_size):
            inputs, targets = x[start:start + batch_size], y[start:start + batch_size]
            output = self._forward(inputs, training=False)
            loss, _ = self.loss.value_and_grad(output, targets, self.buffer("evaluation_gradient", output.shape, self.dtype),
                                           check_targets=False)
            total += (loss + self._activity_loss()) * inputs.shape[0]
        penalty = self.penalty.value([W for W, _ in self._weights_to_penalize]) if self.penalty else 0.0
        return total / x.shape[0] + penalty

    def predict(self, x, batch_size=PREDICT_CHUNK_ROWS):
        """The model's predictions for x, a new array (for a loss on logits: after the sigmoid)."""
        x = self._check_x(x)
        batch_size = check_positive_int(batch_size, "batch_size")
        return self._predict_checked(x, batch_size)

    def _predict_checked(self, x, batch_size=PREDICT_CHUNK_ROWS):
        return in_chunks(lambda block: self.loss.to_prediction(self._forward(block, training=False)), x, batch_size)

    def _reconstruction_errors(self, x):
        """RE_i = (1/n) sum_j (x_ij - x~_ij)^2 over the n values of each row of a checked x (x~ the
        prediction): the paper's reconstruction error, float64 (M,), a chunk of rows at a time."""
        def errors(block):
            rows = block.shape[0]
            out = np.empty(rows)
            loss_kernels.row_mean_squared_error(np.ascontiguousarray(self._predict_checked(block)).reshape(rows, -1),
                                                block.reshape(rows, -1), out)
            return out

        return in_chunks(errors, x)

    # ------------------------------------------------------------------ persistence
    def save(self, path):
        """Write the model to ``path`` (.npz: architecture as JSON, weights, optimiser state, random
        generators' states), atomically; ``npae.load(path)`` reads it back.  See npae.io."""
        from .io import save_model

        save_model(self, path)

    def summary(self):
        """A table of the layers: output shape, activation and number of parameters, then the loss."""
        rows, shape = [], self.input_shape
        for layer in self.layers:
            shape = layer.output_shape(shape) if shape is not None else None
            activation = getattr(getattr(layer, "activation", None), "name", None) or ""
            rows.append((type(layer).__name__, str(shape), activation, f"{sum(p.size for p in layer.parameters()):,}"))
        rows.append(("total", "", "", f"{self.count_parameters():,}"))
        header = ("layer", "output shape", "activation", "parameters")
        widths = [max(len(row[column]) for row in rows + [header]) for column in range(4)]   # every name fits
        lines = ["  ".join([row[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(row[1:], widths[1:])])
                 for row in [header] + rows]
        lines.append(f"loss: {self.loss!r}" + (" (applies the sigmoid to the last layer's output)"
                                               if getattr(self.loss, "from_logits", False) else ""))
        return "\n".join(lines)
