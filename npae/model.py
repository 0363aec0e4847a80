"""Models: ``Sequential`` (any stack of layers and a loss) and the ``Autoencoder`` built on it.

An autoencoder is an encoder g: R^n -> R^q and a decoder f: R^q -> R^n trained so that f(g(x)) ~ x
(paper, section 2).  Here it is a Sequential whose layers are the encoder's followed by the decoder's,
trained on targets y = x; the training itself is the one loop of :mod:`npae.training`.

    npae.Autoencoder([784, 64])                       the paper's 784-64-784: Dense(64, relu), Dense(784)
                                                      with a sigmoid, binary cross-entropy, Adam
    npae.Autoencoder(encoder=[...], decoder=[...],    any layers, e.g. convolutional ones
                     loss=npae.BinaryCrossEntropy(from_logits=True))
    npae.Sequential([...], loss="mse")                a network that is not an autoencoder
"""
import inspect

import numpy as np

from . import _backend
from ._validation import check_batch, check_flag, check_positive_int, check_seed
from .activations import Sigmoid, get_activation
from .layers import Dense, TiedDense
from .layers.activity import ActivityRegularization
from .layers.base import Layer
from .losses import BinaryCrossEntropy, get_loss, loss_config
from .optimizers import optimizer_config
from .training import Model, in_chunks, random_streams


def _check_layers(layers, argument):
    layers = list(layers) if isinstance(layers, (list, tuple)) else layers
    if not isinstance(layers, list) or not layers:
        raise ValueError(f"{argument} must be a non-empty list of layers, got {layers!r}")
    seen = set()
    for index, layer in enumerate(layers):
        if not isinstance(layer, Layer):
            raise ValueError(f"{argument}[{index}] must be an npae layer (a subclass of npae.Layer), got {layer!r}")
        if id(layer) in seen:
            raise ValueError(f"{argument}[{index}] ({layer!r}) appears twice: a layer keeps the arrays of its last "
                             "forward, so each position needs its own layer (TiedDense shares a weight matrix)")
        seen.add(id(layer))
    return layers


def _accepts_input_grad_hint(layer):
    try:
        return "need_input_grad" in inspect.signature(layer.backward).parameters
    except (TypeError, ValueError):
        return False


def chain_shapes(layers, input_shape, argument="layers"):
    """The per-sample shape after each layer, from ``input_shape``: a ValueError names the first layer that
    cannot take the shape the previous one gives (before any data is touched)."""
    shapes, shape = [], tuple(input_shape)
    for index, layer in enumerate(layers):
        try:
            shape = tuple(layer.output_shape(shape))
        except ValueError as error:
            raise ValueError(f"{argument}[{index}] does not fit the shape before it: {error}") from None
        shapes.append(shape)
    return shapes


class Sequential(Model):
    """Layers applied in order: forward x -> layer_1 -> ... -> layer_L, backward the reverse.

    Parameters
    ----------
    layers : list of layers (npae's or your own, see npae.layers.base)
    loss : name ("mse", "bce"), config dict, or Loss; default "mse".  ``"bce"`` takes probabilities; for a
        network that ends in logits use ``npae.BinaryCrossEntropy(from_logits=True)``.
    input_shape : per-sample shape of x, e.g. (784,) or (28, 28, 1).  Default: the first layer's, when it
        says (Dense does); otherwise taken from the first data the model sees.
    optimizer, l1, l2, noise, seed : see :class:`npae.training.Model`.

    ``fit``, ``evaluate``, ``predict``, ``train_on_batch``, ``value_and_grad``, ``zero_grad``,
    ``get_weights``/``set_weights``, ``save``/``npae.load``, ``summary``: see npae.training.Model.
    """

    def __init__(self, layers, loss="mse", optimizer=None, *, input_shape=None, l1=0.0, l2=0.0, noise=0.0,
                 seed=None):
        layers = _check_layers(layers, "layers")
        super().__init__(layers, loss=loss, optimizer=optimizer, l1=l1, l2=l2, noise=noise, seed=seed)
        if input_shape is None and isinstance(layers[0], Dense):
            input_shape = (layers[0].in_features,)
        self._set_input_shape(input_shape)
        self._input_grad_hint = _accepts_input_grad_hint(layers[0])

    def _set_input_shape(self, input_shape):
        if input_shape is None:
            self.input_shape = self.output_shape = None
            return
        input_shape = tuple(check_positive_int(size, "input_shape entry") for size in input_shape)
        shapes = chain_shapes(self.layers, input_shape)
        self.input_shape, self.output_shape = input_shape, shapes[-1]

    def __repr__(self):
        return "Sequential([" + ", ".join(map(repr, self.layers)) + f"], loss={self.loss!r})"

    def get_config(self):
        from .registry import layers_config

        return {"layers": layers_config(self.layers), "loss": loss_config(self.loss),
                "optimizer": optimizer_config(self.optimizer), "input_shape": list(self.input_shape or []) or None,
                "l1": self.penalty.l1, "l2": self.penalty.l2, "noise": self.noise, "seed": self.seed}

    # ------------------------------------------------------------------ forward and backward
    def forward(self, x, training=False):
        """The network's output for x (B, *input_shape): a new array (logits for a loss on logits; see
        ``predict`` for the prediction)."""
        return self._forward(self._check_x(x), training)

    def _forward(self, x, training=False, layers=None):
        for layer in self.layers if layers is None else layers:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_output, need_input_grad=True):
        """Backprop dL/d(output) through every layer (after a training forward); returns dL/dx, or None
        with ``need_input_grad=False`` (the first layer may then skip that product)."""
        grad = grad_output
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            if index == 0 and not need_input_grad and self._input_grad_hint:
                return layer.backward(grad, need_input_grad=False)
            grad = layer.backward(grad)
        return grad

    def _value_and_grad(self, x, y):
        output = self._forward(x, training=True)
        grad_buffer = self.buffer("loss_gradient", output.shape, output.dtype)
        loss, grad = self.loss.value_and_grad(output, y, grad_buffer, check_targets=False)
        self.backward(grad, need_input_grad=False)
        return loss

    def _output_range(self):
        activation = getattr(self.layers[-1], "activation", self.layers[-1])
        if isinstance(activation, Sigmoid) and not getattr(self.loss, "from_logits", False):
            return (0.0, 1.0)
        return None


class Autoencoder(Sequential):
    """An autoencoder: encoder layers, then decoder layers, trained to reconstruct x (targets y = x).

    Two ways to build one:

    ``Autoencoder(sizes)``, the paper's mirrored feed-forward autoencoder (FFA): ``sizes=[784, 64]`` builds
    784-64-784, ``[784, 256, 64, 8]`` builds 784-256-64-8-64-256-784, all Dense.  Hidden layers use
    ``activation``, the code layer (the last encoder layer) ``latent_activation`` (None: the same as
    ``activation``, as in the paper's Dense(q, relu)), the output layer ``output_activation``.  With
    loss="bce" the output layer computes logits and the loss applies the sigmoid (npae.losses explains why);
    ``reconstruct`` returns probabilities either way.

    ``Autoencoder(encoder=[...], decoder=[...], loss=...)``: any layers; the code is the encoder's output.
    Then the sizes-only options (activation, latent_activation, output_activation, tied, init, dtype) do
    not apply; ``loss`` is required; ``input_shape`` (per sample, e.g. (28, 28, 1)) lets the layers' shapes
    be checked at once, and is otherwise learned from the first data the model sees.

    Parameters
    ----------
    sizes : list of int, input size first, code size last, at least 2 entries
    activation, latent_activation, output_activation : activation names (or configs, or Activation objects)
    loss : "bce" (binary cross-entropy, needs a sigmoid output and targets in [0, 1]; the default with
        sizes) or "mse", or a Loss
    optimizer : None (Adam with Keras' defaults), "adam", "sgd", a config, or an Optimizer instance
    l1, l2 : weight penalties (npae.regularizers)
    tied : decoder weight matrices are the transposes of the encoder's (one shared parameter each)
    noise : standard deviation of Gaussian noise added to the *inputs* during training only (a denoising
        autoencoder, paper section 3.4); targets stay clean
    dtype : "float32" (default) or "float64"
    seed : int or None.  The same seed on the same machine gives bitwise-identical training runs.
    init : weight initialiser, "glorot_uniform" (Keras' default), "he_uniform" or "he_normal"
    activity_l1 : lambda of an L1 penalty on the code, lambda * sum_j |h_j| per observation averaged over
        the batch, added to the loss: a *sparse* autoencoder (the Keras blog's ``l1(10e-5)`` is 1e-4).  An
        ``npae.layers.activity.ActivityRegularization`` layer after the code layer, the last of ``encoder``.

    Attributes: ``encoder``, ``decoder`` (lists of layers), ``layers`` (both), ``latent_shape``,
    ``latent_size``; after ``fit``: ``history_``.
    """

    def __init__(self, sizes=None, activation=None, latent_activation=None, output_activation=None, loss=None,
                 optimizer=None, l1=0.0, l2=0.0, tied=None, noise=0.0, dtype=None, seed=None, init=None, *,
                 encoder=None, decoder=None, input_shape=None, activity_l1=0.0):
        if isinstance(activity_l1, bool) or not isinstance(activity_l1, (int, float, np.floating, np.integer)) \
                or not (np.isfinite(activity_l1) and activity_l1 >= 0):
            raise ValueError(f"activity_l1 must be a finite number >= 0, got {activity_l1!r}")
        self.activity_l1 = float(activity_l1)
        sizes_options = {"activation": activation, "latent_activation": latent_activation,
                         "output_activation": output_activation, "tied": tied, "dtype": dtype, "init": init}
        self._seed_for_init = seed
        if sizes is not None:
            if encoder is not None or decoder is not None:
                raise ValueError("give sizes, or encoder and decoder, not both")
            encoder, decoder, loss = self._build_from_sizes(sizes, loss, **sizes_options)
        else:
            if encoder is None or decoder is None:
                raise ValueError("give sizes (e.g. Autoencoder([784, 64])), or both encoder=[...] and decoder=[...]")
            given = sorted(name for name, value in sizes_options.items() if value is not None)
            if given:
                raise ValueError(f"{', '.join(given)} only apply to Autoencoder(sizes); with encoder and decoder "
                                 "set them on the layers")
            if loss is None:
                raise ValueError("give the loss of an Autoencoder built from layers, e.g. loss='mse' or "
                                 "loss=npae.BinaryCrossEntropy(from_logits=True)")
            self.sizes = None
        if sizes is not None and input_shape is not None:
            raise ValueError("input_shape applies to Autoencoder(encoder=..., decoder=...); sizes[0] is the input size")
        if self.activity_l1 and isinstance(encoder, (list, tuple)):  # (anything else: _check_layers says)
            encoder = list(encoder) + [ActivityRegularization(l1=self.activity_l1)]
        self.encoder = _check_layers(encoder, "encoder")
        self.decoder = _check_layers(decoder, "decoder")
        layers = _check_layers(self.encoder + self.decoder, "encoder + decoder")
        self.latent_shape = None
        super().__init__(layers, loss=loss, optimizer=optimizer, input_shape=input_shape, l1=l1, l2=l2, noise=noise,
                         seed=seed)

    def _build_from_sizes(self, sizes, loss, activation, latent_activation, output_activation, tied, dtype,
                          init):
        sizes = list(sizes) if isinstance(sizes, (list, tuple, np.ndarray)) else sizes
        if not isinstance(sizes, list) or len(sizes) < 2:
            raise ValueError(f"sizes must be a list of at least two layer sizes, e.g. [784, 64], got {sizes!r}")
        self.sizes = [check_positive_int(size, "sizes entry") for size in sizes]
        self.activation = "relu" if activation is None else activation
        self.latent_activation = latent_activation
        self.output_activation = "sigmoid" if output_activation is None else output_activation
        self.tied = False if tied is None else check_flag(tied, "tied")
        self.init = "glorot_uniform" if init is None else init
        dtype = _backend.resolve_dtype("float32" if dtype is None else dtype)
        loss = get_loss("bce" if loss is None else loss)
        output = get_activation(self.output_activation)
        if isinstance(loss, BinaryCrossEntropy):
            if not isinstance(output, Sigmoid):
                raise ValueError(f"loss='bce' needs output_activation='sigmoid' (outputs must be probabilities), "
                                 f"got output_activation={self.output_activation!r}; use loss='mse' otherwise")
            # The sigmoid moves into the loss: the network ends in logits (see npae.losses).
            loss, output = BinaryCrossEntropy(from_logits=True, epsilon=loss.epsilon), "identity"
        init_rng = random_streams(check_seed(self._seed_for_init))[0]
        depth = len(self.sizes) - 1
        encoder = []
        for index in range(depth):
            is_code = index == depth - 1
            name = self.latent_activation if is_code and self.latent_activation is not None else self.activation
            encoder.append(Dense(self.sizes[index], self.sizes[index + 1], name, init=self.init, dtype=dtype,
                                 rng=init_rng))
        decoder = []
        for index in range(depth - 1, -1, -1):  # the mirror image of the encoder
            name = output if index == 0 else self.activation
            if self.tied:
                decoder.append(TiedDense(encoder[index], name))
            else:
                decoder.append(Dense(self.sizes[index + 1], self.sizes[index], name, init=self.init, dtype=dtype,
                                     rng=init_rng))
        return encoder, decoder, loss

    def _set_input_shape(self, input_shape):
        """Check the encoder, then the decoder, against ``input_shape`` (naming the part that does not fit)
        and that the decoder gives back that shape, before anything is set."""
        if input_shape is not None:
            code = chain_shapes(self.encoder, input_shape, "encoder")[-1]
            output = chain_shapes(self.decoder, code, "decoder")[-1]
            if tuple(output) != tuple(input_shape):
                raise ValueError(f"the decoder's output has shape {tuple(output)}, but an autoencoder must give "
                                 f"back its input's shape {tuple(input_shape)}")
            self.latent_shape = tuple(code)
        super()._set_input_shape(input_shape)

    @property
    def latent_size(self):
        """The number of values in one code (q for an FFA)."""
        if self.input_shape is None:
            return None
        return int(np.prod(self.latent_shape))

    def __repr__(self):
        if self.sizes is not None:
            arrows = "-".join(str(size) for size in self.sizes + self.sizes[-2::-1])
            sparse = f", activity_l1={self.activity_l1!r}" if self.activity_l1 else ""
            return (f"Autoencoder({arrows}, activation={self.activation!r}, loss={self.loss.name!r}, "
                    f"dtype={self.dtype.name!r}{sparse})")
        return (f"Autoencoder(encoder=[{', '.join(map(repr, self.encoder))}], decoder=["
                f"{', '.join(map(repr, self.decoder))}], loss={self.loss!r})")

    def get_config(self):
        from .activations import activation_config
        from .registry import layers_config

        common = {"optimizer": optimizer_config(self.optimizer), "l1": self.penalty.l1, "l2": self.penalty.l2,
                  "noise": self.noise, "seed": self.seed}
        if self.sizes is not None:
            def activation(value):
                return activation_config(get_activation(value)) if value is not None else None

            return {"sizes": list(self.sizes), "activation": activation(self.activation),
                    "latent_activation": activation(self.latent_activation),
                    "output_activation": activation(self.output_activation),
                    "loss": "bce" if isinstance(self.loss, BinaryCrossEntropy) else loss_config(self.loss),
                    "tied": self.tied, "dtype": self.dtype.name,
                    "init": self.init if isinstance(self.init, str) else None, "activity_l1": self.activity_l1,
                    **common}
        entries = layers_config(self.encoder + self.decoder)
        return {"encoder": entries[:len(self.encoder)], "decoder": entries[len(self.encoder):],
                "loss": loss_config(self.loss), "input_shape": list(self.input_shape) if self.input_shape else None,
                **common}

    # ------------------------------------------------------------------ the autoencoder's own uses
    def _run(self, layers, x, finish=None):
        """``layers`` applied to x in chunks of rows (then ``finish``, e.g. the loss's sigmoid)."""
        def run(block):
            block = self._forward(block, training=False, layers=layers)
            return block if finish is None else finish(block)

        return in_chunks(run, x)

    def encode(self, x):
        """The codes h = g(x), shape (M, *latent_shape): the latent features."""
        return self._run(self.encoder, self._check_x(x))

    def decode(self, h):
        """Reconstructions f(h) from codes h (M, *latent_shape), shape (M, *input_shape)."""
        if self.latent_shape is None:
            raise ValueError("this autoencoder does not know its shapes yet: build it with input_shape=(...), or "
                             "call fit, predict or encode first")
        return self._run(self.decoder, check_batch(h, "h", self.latent_shape, self.dtype), self.loss.to_prediction)

    def reconstruct(self, x):
        """x~ = f(g(x)), shape (M, *input_shape): probabilities for a model trained with BCE."""
        return self.predict(x)

    def reconstruction_error(self, x):
        """RE_i = (1/n) sum_j (x_ij - x~_ij)^2 over the n values of each observation: the paper's RE,
        float64 array (M,)."""
        return self._reconstruction_errors(self._check_x(x))


def _register_built_ins():
    from .registry import register_all

    register_all((Sequential, Autoencoder))


_register_built_ins()
