"""Float64 training steps equal PyTorch's: Adam, BCE from logits and MSE, plain, deep and tied models.

PyTorch is an optional peer (CI installs its CPU build, so nothing skips there); finite differences in
test_gradcheck.py remain the primary oracle.  The torch twin of each npae model has the same weights
(nn.Linear stores W transposed: weight = W^T) and is trained on the same batches with torch.optim.Adam,
which is Algorithm 1 as npae's Adam is.
"""
import numpy as np
import pytest

import npae

torch = pytest.importorskip("torch")
STEPS = 25


def torch_twin(model):
    """Parameters of an npae Autoencoder as torch leaf tensors, and a forward function."""
    weights = [torch.tensor(w, requires_grad=True) for w in model.get_weights()]
    dense = [layer for layer in model.layers]
    activations = [layer.activation.name for layer in dense]

    def forward(x):
        out, position = x, 0
        for layer, activation in zip(dense, activations):
            if isinstance(layer, npae.TiedDense):
                encoder_index = dense.index(layer.encoder_layer)
                W = weights[_weight_position(dense, encoder_index)].T
                b = weights[position]
                position += 1
            else:
                W, b = weights[position], weights[position + 1]
                position += 2
            out = out @ W + b
            out = {"relu": torch.relu, "identity": lambda t: t, "sigmoid": torch.sigmoid}[activation](out)
        return out

    return weights, forward


def _weight_position(layers, index):
    position = 0
    for layer in layers[:index]:
        position += 1 if isinstance(layer, npae.TiedDense) else 2
    return position


@pytest.mark.parametrize("sizes, options", [
    ([784, 64], {}),
    ([784, 128, 32], {}),
    ([784, 16], {"loss": "mse"}),                                    # MSE on the sigmoid output
    ([784, 64], {"tied": True}),
], ids=["784-64-784 bce", "784-128-32-128-784 bce", "784-16-784 mse", "784-64-784 tied bce"])
def test_twenty_five_adam_steps_equal_pytorch(sizes, options, mnist):
    (x_train, _), _ = mnist
    batches = [x_train[start:start + 64].astype(np.float64) for start in range(0, 128, 64)]
    model = npae.Autoencoder(sizes, dtype="float64", seed=0, **options)
    weights, forward = torch_twin(model)
    optimizer = torch.optim.Adam(weights, lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    if options.get("loss") == "mse":
        loss_function = torch.nn.functional.mse_loss
    else:
        loss_function = torch.nn.functional.binary_cross_entropy_with_logits
    for step in range(STEPS):
        batch = batches[step % len(batches)]
        ours = model.train_on_batch(batch)
        optimizer.zero_grad()
        target = torch.tensor(batch)
        theirs = loss_function(forward(target), target)
        theirs.backward()
        optimizer.step()
        assert ours == pytest.approx(theirs.item(), rel=1e-12)
    for mine, theirs in zip(model.get_weights(), weights):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), rtol=1e-12, atol=1e-13)
