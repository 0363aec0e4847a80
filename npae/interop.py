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

``from_torch`` maps the layer types npae has (``nn.Linear`` and the activations ReLU, LeakyReLU, Sigmoid,
Tanh, ELU, Softplus, Identity) back, fusing an activation that follows a Linear into its Dense.  Keras
users need no bridge: ``model.set_weights(keras_model.get_weights())`` loads a Keras model of the same
layers one to one, since the layouts are Keras' (see ``examples/interop.py``).

PyTorch is optional: it is imported only inside these functions, and a missing PyTorch is a clear error.
"""
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
        else:
            raise ValueError(f"npae.interop cannot convert a {type(layer).__name__} layer to PyTorch")
    return nn.Sequential(*[module for module in modules if not isinstance(module, nn.Identity)])


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
    "Softplus": lambda module: "softplus",
    "Identity": lambda module: "identity",
}


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
        else:
            raise ValueError(f"{argument}[{index}] is a torch {name}, which npae.interop does not convert "
                             f"(it converts Linear and the activations {', '.join(sorted(_ACTIVATIONS_FROM_TORCH))})")
        index += 1
    if not layers:
        raise ValueError(f"{argument} holds no layers")
    return layers


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
        return Autoencoder(encoder=_layers_from_torch(torch, _children(module.encoder), "encoder"),
                           decoder=_layers_from_torch(torch, _children(module.decoder), "decoder"),
                           loss=loss, optimizer=optimizer, seed=seed)
    return Sequential(_layers_from_torch(torch, _children(module), "module"), loss=loss, optimizer=optimizer,
                      seed=seed)


def _children(module):
    children = list(module.children())
    return children if children else [module]
