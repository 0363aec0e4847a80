"""A bridge to PyTorch, for when a model understood here should train on GPUs or many machines.

    torch_module = npae.interop.to_torch(model)      # an nn.Module with the same weights
    model = npae.interop.from_torch(torch_module, loss="mse")

``to_torch`` gives a module whose outputs equal the model's (to rounding: 1e-12 in float64): its
``forward`` returns what ``model.predict`` returns, so for a model trained with binary cross-entropy
from logits it ends in the sigmoid that npae's loss applies; ``logits=True`` leaves it out, for training
with ``torch.nn.BCEWithLogitsLoss``.  An Autoencoder becomes a module with ``encoder`` and ``decoder``
submodules (``nn.Sequential``) and ``forward(x) = decoder(encoder(x))``.

The layouts: npae's Dense computes x W + b with W of shape (in, out), as Keras does; ``nn.Linear``
stores its weight as (out, in) and computes x weight^T + bias, so weight = W^T.  A tied decoder layer
reuses the encoder's weight tensor itself (one parameter, as in npae).  Every parameter is copied, in
the model's dtype; nothing is shared with the npae model afterwards.

Convolutional layers.  npae's images are channels last, (N, H, W, C), as in Keras; PyTorch's are
channels first.  Each converted convolutional layer is a small module that takes and returns channels-last
tensors (it permutes around torch's own ``nn.Conv2d``, ``nn.ConvTranspose2d``, ``nn.MaxPool2d``,
``nn.Upsample``), so the converted model takes the same arrays as the npae model, and Flatten flattens in
the same (h, w, c) order.  Kernels: npae's Conv2D W (kh, kw, C_in, C_out) is torch's weight (C_out, C_in,
kh, kw); Conv2DTranspose's W (kh, kw, C_out, C_in) is torch's (C_in, C_out, kh, kw); Keras' "same"
padding (the odd zero after the image) is an explicit ``F.pad``; Keras' transposed-convolution sizes crop
(or extend) torch's full output.

``from_torch`` maps the layer types npae has back: ``nn.Linear`` and the activations ReLU, LeakyReLU,
Sigmoid, Tanh, ELU, Softplus, Identity (an activation that follows a Linear is fused into its Dense), and
the channels-last convolutional modules that ``to_torch`` makes (a plain channels-first ``nn.Conv2d`` is
refused: its layout is not npae's).  Keras
users need no bridge: ``model.set_weights(keras_model.get_weights())`` loads a Keras model of the same
layers one to one, since the layouts are Keras' (see ``examples/interop.py``).

PyTorch is optional: it is imported only inside these functions, and a missing PyTorch is a clear error.
"""
import math

import numpy as np

__all__ = ["to_torch", "from_torch"]


def _torch():
    try:
        import torch
    except ImportError:
        raise ImportError("npae.interop needs PyTorch, which is not installed: pip install torch "
                          "(the CPU build is enough; see the README)") from None
    return torch


_ACTIVATIONS_TO_TORCH = {
    "identity": lambda nn, activation: nn.Identity(),
    "relu": lambda nn, activation: nn.ReLU(),
    "leaky_relu": lambda nn, activation: nn.LeakyReLU(activation.negative_slope),
    "sigmoid": lambda nn, activation: nn.Sigmoid(),
    "tanh": lambda nn, activation: nn.Tanh(),
    "elu": lambda nn, activation: nn.ELU(activation.alpha),
    "softplus": lambda nn, activation: nn.Softplus(),
}


def _activation_to_torch(nn, activation):
    converter = _ACTIVATIONS_TO_TORCH.get(activation.name)
    if converter is None or type(activation).__module__ != "npae.activations":
        raise ValueError(f"the activation {activation!r} has no PyTorch counterpart in npae.interop")
    return converter(nn, activation)


def _layers_to_torch(torch, layers, converted):
    """nn modules for npae ``layers``; ``converted`` maps id(npae Dense) -> its nn.Linear (for tied ones)."""
    from .activations import Activation
    from .layers import Dense, TiedDense

    nn = torch.nn
    modules = []
    for layer in layers:
        if isinstance(layer, TiedDense):
            if id(layer.encoder_layer) not in converted:
                raise ValueError("a TiedDense layer's encoder layer must be part of the same model")
            modules.append(_TiedLinear(torch, converted[id(layer.encoder_layer)], layer.b))
            modules.append(_activation_to_torch(nn, layer.activation))
        elif isinstance(layer, Dense):
            dtype = getattr(torch, layer.dtype.name)
            linear = nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T)))  # (out, in) = W^T
                linear.bias.copy_(torch.from_numpy(layer.b.copy()))
            converted[id(layer)] = linear
            modules.append(linear)
            modules.append(_activation_to_torch(nn, layer.activation))
        elif isinstance(layer, Activation):
            modules.append(_activation_to_torch(nn, layer))
        elif type(layer).__name__ in _CONVOLUTIONAL_TO_TORCH:
            modules.append(_CONVOLUTIONAL_TO_TORCH[type(layer).__name__](torch, layer))
            if hasattr(layer, "activation"):
                modules.append(_activation_to_torch(nn, layer.activation))
        else:
            raise ValueError(f"npae.interop cannot convert a {type(layer).__name__} layer to PyTorch")
    return nn.Sequential(*[module for module in modules if not isinstance(module, nn.Identity)])


# ------------------------------------------------------------------------------------------------
# Channels-last modules around torch's convolutional ones (classes made once, on first use)

_CLASSES = {}


def _classes(torch):
    if _CLASSES:
        return _CLASSES
    from .layers.convolution import transposed_length, window_geometry

    functional = torch.nn.functional

    def keras_padding(height, width, kernel, stride):
        """(left, right, top, bottom): Keras' "same" zeros, the odd one after the image."""
        (kh, kw), (sh, sw) = kernel, stride
        out_h, top = window_geometry(height, kh, sh, "same")
        out_w, left = window_geometry(width, kw, sw, "same")
        total_h, total_w = max((out_h - 1) * sh + kh - height, 0), max((out_w - 1) * sw + kw - width, 0)
        return left, total_w - left, top, total_h - top

    class ChannelsLastConv2d(torch.nn.Module):
        """npae.Conv2D: x (N, H, W, C_in) -> (N, Ho, Wo, C_out), Keras' padding; ``conv`` holds the weights."""

        def __init__(self, conv, padding):
            super().__init__()
            self.conv, self.padding = conv, padding

        def forward(self, x):
            x = x.permute(0, 3, 1, 2)
            if self.padding == "same":
                x = functional.pad(x, keras_padding(x.shape[2], x.shape[3], self.conv.kernel_size, self.conv.stride))
            return self.conv(x).permute(0, 2, 3, 1)

    class ChannelsLastConvTranspose2d(torch.nn.Module):
        """npae.Conv2DTranspose: torch's full output ((H - 1) s + k), cut (or extended) to Keras' size."""

        def __init__(self, conv, padding):
            super().__init__()
            self.conv, self.padding = conv, padding

        def forward(self, x):
            height, width = x.shape[1], x.shape[2]
            (kh, kw), (sh, sw) = self.conv.kernel_size, self.conv.stride
            out_h, out_w = (transposed_length(height, kh, sh, self.padding),
                            transposed_length(width, kw, sw, self.padding))
            top, left = window_geometry(out_h, kh, sh, self.padding)[1], window_geometry(out_w, kw, sw, self.padding)[1]
            full = functional.conv_transpose2d(x.permute(0, 3, 1, 2), self.conv.weight, stride=self.conv.stride)
            full = functional.pad(full, (0, max(0, left + out_w - full.shape[3]), 0, max(0, top + out_h - full.shape[2])))
            out = full[:, :, top:top + out_h, left:left + out_w] + self.conv.bias.view(1, -1, 1, 1)
            return out.permute(0, 2, 3, 1)

    class ChannelsLast(torch.nn.Module):
        """A channels-first module (max pooling, upsampling) applied to channels-last tensors."""

        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, x):
            return self.module(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)

    class ChannelsLastMaxPool2d(torch.nn.Module):
        """npae.MaxPool2D: non-overlapping p x p windows; "same" pads with -infinity as Keras does, the
        odd one after the image (torch's ceil_mode pads only after it: different whenever Keras pads
        2 or more on an axis, such as pool 3 on a length of 7)."""

        def __init__(self, pool_size, padding):
            super().__init__()
            self.pool_size, self.padding = pool_size, padding

        def forward(self, x):
            x = x.permute(0, 3, 1, 2)
            if self.padding == "same":
                window = (self.pool_size, self.pool_size)
                x = functional.pad(x, keras_padding(x.shape[2], x.shape[3], window, window), value=-math.inf)
            return functional.max_pool2d(x, self.pool_size).permute(0, 2, 3, 1)

    class Reshape(torch.nn.Module):
        """npae.Reshape: (N, ...) -> (N, *shape)."""

        def __init__(self, shape):
            super().__init__()
            self.shape = tuple(shape)

        def forward(self, x):
            return x.reshape(x.shape[0], *self.shape)

    _CLASSES.update(ChannelsLastConv2d=ChannelsLastConv2d, ChannelsLastConvTranspose2d=ChannelsLastConvTranspose2d,
                    ChannelsLast=ChannelsLast, ChannelsLastMaxPool2d=ChannelsLastMaxPool2d, Reshape=Reshape)
    return _CLASSES


def _conv2d_to_torch(torch, layer):
    conv = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                           dtype=getattr(torch, layer.dtype.name))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.W.transpose(3, 2, 0, 1).copy()))  # (C_out, C_in, kh, kw)
        conv.bias.copy_(torch.from_numpy(layer.b.copy()))
    return _classes(torch)["ChannelsLastConv2d"](conv, layer.padding)


def _conv2d_transpose_to_torch(torch, layer):
    # torch's ConvTranspose2d(in, out) holds weight (C_in, C_out, kh, kw); npae's W is (kh, kw, C_out, C_in)
    conv = torch.nn.ConvTranspose2d(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                                    dtype=getattr(torch, layer.dtype.name))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(layer.W.transpose(3, 2, 0, 1).copy()))
        conv.bias.copy_(torch.from_numpy(layer.b.copy()))
    return _classes(torch)["ChannelsLastConvTranspose2d"](conv, layer.padding)


_CONVOLUTIONAL_TO_TORCH = {
    "Conv2D": _conv2d_to_torch,
    "Conv2DTranspose": _conv2d_transpose_to_torch,
    "MaxPool2D": lambda torch, layer: _classes(torch)["ChannelsLastMaxPool2d"](layer.pool_size, layer.padding),
    "UpSampling2D": lambda torch, layer: _classes(torch)["ChannelsLast"](
        torch.nn.Upsample(scale_factor=layer.size, mode="nearest")),
    "Flatten": lambda torch, layer: torch.nn.Flatten(),
    "Reshape": lambda torch, layer: _classes(torch)["Reshape"](layer.shape),
}


def _TiedLinear(torch, encoder_linear, bias):
    """x W_enc^T + b with W_enc the encoder's weight *tensor*: torch's form of npae's TiedDense.
    encoder_linear.weight is (out_enc, in_enc) = W_enc^T, so x W_enc^T = x weight (no transpose)."""

    class TiedLinear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_linear = [encoder_linear]  # a list: not registered twice as a submodule
            self.bias = torch.nn.Parameter(torch.from_numpy(bias.copy()))

        def forward(self, x):
            return x @ self.encoder_linear[0].weight + self.bias

    return TiedLinear()


def to_torch(model, logits=False):
    """An ``nn.Module`` computing what ``model.predict`` computes (see the module docstring)."""
    torch = _torch()
    from .model import Autoencoder, Sequential

    if not isinstance(model, Sequential):
        raise ValueError(f"to_torch takes an npae Sequential or Autoencoder, got {type(model).__name__}")
    output = [] if logits or not getattr(model.loss, "from_logits", False) else [torch.nn.Sigmoid()]
    converted = {}
    if isinstance(model, Autoencoder):
        encoder = _layers_to_torch(torch, model.encoder, converted)
        decoder = _layers_to_torch(torch, model.decoder, converted)
        decoder = torch.nn.Sequential(*decoder, *output)
        return _AutoencoderModule(torch, encoder, decoder)
    return torch.nn.Sequential(*_layers_to_torch(torch, model.layers, converted), *output)


def _AutoencoderModule(torch, encoder, decoder):
    class Autoencoder(torch.nn.Module):
        """forward(x) = decoder(encoder(x)), as npae's Autoencoder."""

        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = encoder, decoder

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return Autoencoder()


_ACTIVATIONS_FROM_TORCH = {
    "ReLU": lambda module: "relu",
    "LeakyReLU": lambda module: {"name": "leaky_relu", "negative_slope": float(module.negative_slope)},
    "Sigmoid": lambda module: "sigmoid",
    "Tanh": lambda module: "tanh",
    "ELU": lambda module: {"name": "elu", "alpha": float(module.alpha)},
    "Softplus": lambda module: _softplus_from_torch(module),
    "Identity": lambda module: "identity",
}


def _softplus_from_torch(module):
    """npae's softplus is log(1 + e^z): torch's with beta = 1 and its default threshold 20 (linear above
    it), which changes the value by less than e^-20, below float32's resolution there.  Another threshold
    changes the function where it matters (threshold=1: 0.165 at z = 1), so it is refused."""
    if float(module.beta) != 1.0:
        raise ValueError(f"a torch Softplus with beta={module.beta} has no npae counterpart (npae's softplus is "
                         "log(1 + e^z), torch's beta = 1)")
    if float(module.threshold) != 20.0:
        raise ValueError(f"a torch Softplus with threshold={module.threshold} has no npae counterpart (it is linear "
                         "above the threshold; npae's softplus is log(1 + e^z) everywhere, torch's with the "
                         "default threshold 20)")
    return "softplus"


_CONVERTED_LEAVES = ("ChannelsLastConv2d", "ChannelsLastConvTranspose2d", "ChannelsLast", "ChannelsLastMaxPool2d",
                     "Reshape", "Flatten")


def _sequence(torch, module, argument):
    """The modules of ``module`` in the order it applies them: the entries of an nn.Sequential (a module
    used twice appears twice: tied layers, which npae's Sequential cannot express, are refused), or
    ``module`` itself when it is one layer.  Any other container is refused: the order in which it
    registered its children need not be the order of its ``forward``."""
    if isinstance(module, torch.nn.Sequential):
        modules = list(module)
        seen = {}
        for index, child in enumerate(modules):
            if id(child) in seen:
                raise ValueError(f"{argument}[{index}] is the same module as {argument}[{seen[id(child)]}] (one "
                                 "module used twice, its weights shared); npae.interop converts only layers "
                                 "with weights of their own")
            seen[id(child)] = index
        return modules
    if not list(module.children()) or type(module).__name__ in _CONVERTED_LEAVES:
        return [module]
    raise ValueError(f"{argument} is a torch {type(module).__name__} with its own forward; from_torch converts "
                     "nn.Sequential modules (whose order is the order of the computation), or a module with "
                     "encoder and decoder sequences")


def _layers_from_torch(torch, modules, argument):
    from .activations import get_activation
    from .layers import Dense

    layers = []
    modules = list(modules)
    index = 0
    while index < len(modules):
        module = modules[index]
        name = type(module).__name__
        if isinstance(module, torch.nn.Linear):
            activation = "identity"
            following = modules[index + 1] if index + 1 < len(modules) else None
            if following is not None and type(following).__name__ in _ACTIVATIONS_FROM_TORCH:
                activation = _ACTIVATIONS_FROM_TORCH[type(following).__name__](following)
                index += 1  # fused into the Dense layer
            weight = module.weight.detach().cpu().numpy()
            dtype = weight.dtype.name
            if dtype not in ("float32", "float64"):
                raise ValueError(f"{argument}[{index}] has dtype {dtype}; npae uses float32 or float64")
            layer = Dense(module.in_features, module.out_features, activation=activation, init="zeros", dtype=dtype)
            layer.W[...] = weight.T  # nn.Linear's (out, in) -> npae's (in, out)
            if module.bias is not None:
                layer.b[...] = module.bias.detach().cpu().numpy()
            layers.append(layer)
        elif name in _ACTIVATIONS_FROM_TORCH:
            layers.append(get_activation(_ACTIVATIONS_FROM_TORCH[name](module)))
        elif name in _CONVERTED_LEAVES:
            activation = "identity"
            following = modules[index + 1] if index + 1 < len(modules) else None
            fuses = name in ("ChannelsLastConv2d", "ChannelsLastConvTranspose2d")
            if fuses and following is not None and type(following).__name__ in _ACTIVATIONS_FROM_TORCH:
                activation = _ACTIVATIONS_FROM_TORCH[type(following).__name__](following)
                index += 1
            layers.append(_convolutional_from_torch(torch, module, activation, f"{argument}[{index}]"))
        else:
            raise ValueError(f"{argument}[{index}] is a torch {name}, which npae.interop does not convert "
                             f"(it converts Linear and the activations {', '.join(sorted(_ACTIVATIONS_FROM_TORCH))})")
        index += 1
    if not layers:
        raise ValueError(f"{argument} holds no layers")
    return layers


def _convolutional_from_torch(torch, module, activation, where):
    from .layers import Conv2D, Conv2DTranspose, Flatten, MaxPool2D, Reshape, UpSampling2D

    name = type(module).__name__
    if name == "Flatten":
        return Flatten()
    if name == "Reshape":
        return Reshape(module.shape)
    if name == "ChannelsLastMaxPool2d":
        return MaxPool2D(module.pool_size, padding=module.padding)
    if name == "ChannelsLast":
        inner = module.module
        if isinstance(inner, torch.nn.MaxPool2d) and not inner.ceil_mode:
            return MaxPool2D(int(np.atleast_1d(inner.kernel_size)[0]), padding="valid")
        if isinstance(inner, torch.nn.Upsample) and inner.mode == "nearest":
            return UpSampling2D(int(inner.scale_factor))
        raise ValueError(f"{where}: a channels-last {type(inner).__name__} has no npae counterpart")
    conv = module.conv
    weight = conv.weight.detach().cpu().numpy()
    cls = Conv2D if name == "ChannelsLastConv2d" else Conv2DTranspose
    layer = cls(conv.in_channels, conv.out_channels, tuple(conv.kernel_size), stride=tuple(conv.stride),
                padding=module.padding, activation=activation, init="zeros", dtype=weight.dtype.name)
    layer.W[...] = weight.transpose(2, 3, 1, 0)  # the inverse of to_torch's transpose(3, 2, 0, 1)
    layer.b[...] = conv.bias.detach().cpu().numpy()
    return layer


def from_torch(module, loss="mse", optimizer=None, seed=None):
    """An npae model with ``module``'s weights: an Autoencoder when the module has ``encoder`` and
    ``decoder`` sequences, else a Sequential.  ``loss`` is the npae loss to train it with (PyTorch keeps
    its loss outside the module)."""
    torch = _torch()
    from .model import Autoencoder, Sequential

    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"from_torch takes a torch.nn.Module, got {type(module).__name__}")
    if isinstance(getattr(module, "encoder", None), torch.nn.Module) and \
            isinstance(getattr(module, "decoder", None), torch.nn.Module):
        encoder, decoder = _sequence(torch, module.encoder, "encoder"), _sequence(torch, module.decoder, "decoder")
        shared = {id(child) for child in encoder} & {id(child) for child in decoder}
        if shared:
            raise ValueError("the encoder and the decoder share a module (weights used twice); npae.interop "
                             "converts only layers with weights of their own")
        return Autoencoder(encoder=_layers_from_torch(torch, encoder, "encoder"),
                           decoder=_layers_from_torch(torch, decoder, "decoder"),
                           loss=loss, optimizer=optimizer, seed=seed)
    return Sequential(_layers_from_torch(torch, _sequence(torch, module, "module"), "module"), loss=loss,
                      optimizer=optimizer, seed=seed)


# ------------------------------------------------------------------------------------------------------
# LSTM layers, both ways (PyTorch's nn.LSTM, Keras' get_weights()): see npae.LSTM for the layouts.
__all__ += ["lstm_to_torch", "lstm_from_torch", "lstm_from_keras_weights"]


def lstm_to_torch(layer):
    """An ``nn.LSTM(D, H, batch_first=True)`` with the weights of ``layer`` (an :class:`npae.LSTM`).

    Both use the gate order i, f, c (g), o: weight_ih_l0 = W^T (4H, D), weight_hh_l0 = U^T (4H, H),
    bias_ih_l0 = b and bias_hh_l0 = 0 (torch adds the two biases).  Its output ``(sequence, (h_T, c_T))``:
    ``sequence`` is the layer's output with ``return_sequences=True``, ``h_T[0]`` without."""
    from .layers.recurrent import LSTM

    if not isinstance(layer, LSTM):
        raise ValueError(f"layer must be an npae.LSTM, got {layer!r}")
    torch = _torch()
    dtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    module = torch.nn.LSTM(layer.input_size, layer.hidden_size, batch_first=True).to(dtype)
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.from_numpy(layer.W.T.copy()))
        module.weight_hh_l0.copy_(torch.from_numpy(layer.U.T.copy()))
        module.bias_ih_l0.copy_(torch.from_numpy(layer.b.copy()))
        module.bias_hh_l0.zero_()
    return module


def lstm_from_torch(module, return_sequences=False):
    """An :class:`npae.LSTM` with the weights of a one-layer, unidirectional ``nn.LSTM(..., batch_first=True)``
    without projection: W = weight_ih_l0^T, U = weight_hh_l0^T, b = bias_ih_l0 + bias_hh_l0."""
    from .layers.recurrent import LSTM

    torch = _torch()
    if not isinstance(module, torch.nn.LSTM):
        raise ValueError(f"module must be a torch.nn.LSTM, got {type(module).__name__}")
    for name, wanted in (("num_layers", 1), ("bidirectional", False), ("proj_size", 0), ("batch_first", True),
                         ("bias", True)):
        if getattr(module, name) != wanted:
            raise ValueError(f"lstm_from_torch takes an nn.LSTM with {name}={wanted!r} (npae's LSTM is one layer, "
                             f"one direction, (batch, time, features)), got {name}={getattr(module, name)!r}")
    weight = module.weight_ih_l0.detach()
    dtype = "float64" if weight.dtype == torch.float64 else "float32"
    layer = LSTM(module.input_size, module.hidden_size, return_sequences=return_sequences, dtype=dtype)
    layer.W[...] = weight.numpy().T
    layer.U[...] = module.weight_hh_l0.detach().numpy().T
    layer.b[...] = (module.bias_ih_l0 + module.bias_hh_l0).detach().numpy()
    return layer


def lstm_from_keras_weights(weights, return_sequences=False, dtype="float32"):
    """An :class:`npae.LSTM` from a Keras LSTM's ``get_weights()``: [kernel (D, 4H), recurrent_kernel (H, 4H),
    bias (4H,)], gates i, f, c, o: npae's own layout, so the arrays are copied as they are."""
    from .layers.recurrent import LSTM

    try:
        kernel, recurrent, bias = (np.asarray(w) for w in weights)
    except (TypeError, ValueError):
        raise ValueError("weights must be Keras' [kernel, recurrent_kernel, bias]") from None
    if kernel.ndim != 2 or kernel.shape[1] % 4 or recurrent.shape != (kernel.shape[1] // 4, kernel.shape[1]) \
            or bias.shape != (kernel.shape[1],):
        raise ValueError(f"weights must have shapes (D, 4H), (H, 4H), (4H,), got {kernel.shape}, {recurrent.shape}, "
                         f"{bias.shape}")
    layer = LSTM(kernel.shape[0], kernel.shape[1] // 4, return_sequences=return_sequences, dtype=dtype)
    for parameter, value in zip(layer.parameters(), (kernel, recurrent, bias)):
        parameter[...] = value
    return layer
