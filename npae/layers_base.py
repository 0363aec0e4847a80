"""The layer protocol shared by Dense layers and activations (see npae.layers for the full story)."""


class Layer:
    """Base class: a layer without parameters."""

    def forward(self, x, training=True):
        raise NotImplementedError

    def backward(self, grad_out):
        raise NotImplementedError

    def parameters(self):
        return []

    def gradients(self):
        return []
