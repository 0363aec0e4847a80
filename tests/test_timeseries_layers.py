"""Conv1D, Conv1DTranspose, LSTM, RepeatVector, TimeDistributed: float64 gradient checks on both NPAE_JIT
paths, PyTorch parity (outputs and every gradient, several shapes), Keras layouts and sizes, saving."""
import math

import numpy as np
import pytest

import npae
from npae.kernels import recurrent as recurrent_kernels

JIT = pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
# (kernel, stride, padding, length): valid and same, strides 1 to 3, an odd leftover, kernel < stride
GEOMETRIES = [(3, 1, "valid", 7), (3, 1, "same", 7), (3, 2, "same", 8), (4, 2, "valid", 9), (5, 3, "same", 10),
              (2, 3, "valid", 8), (1, 1, "same", 4)]
CONVOLUTIONS = [npae.Conv1D, npae.Conv1DTranspose]


# ------------------------------------------------------------------------------------------- gradient checks
@JIT
@pytest.mark.parametrize("kernel, stride, padding, length", GEOMETRIES)
@pytest.mark.parametrize("cls", CONVOLUTIONS)
@pytest.mark.parametrize("channels", [(3, 2), (2, 4)], ids=["3to2", "2to4"])
def test_convolution_1d_gradients_by_finite_differences(cls, channels, kernel, stride, padding, length, jit, rng):
    layer = cls(*channels, kernel, stride=stride, padding=padding, activation="tanh", dtype="float64", rng=3)
    layer.b[:] = rng.standard_normal(layer.b.shape)
    x = rng.standard_normal((2, length, channels[0]))
    assert npae.gradcheck(layer, x, jit=jit) < 1e-7


@JIT
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("batch, steps, inputs, hidden", [(2, 5, 3, 4), (1, 1, 2, 3), (3, 7, 1, 2)])
def test_lstm_gradients_by_finite_differences(batch, steps, inputs, hidden, return_sequences, jit, rng):
    layer = npae.LSTM(inputs, hidden, return_sequences=return_sequences, dtype="float64", rng=4)
    layer.b[:] = rng.standard_normal(layer.b.shape)
    assert npae.gradcheck(layer, rng.standard_normal((batch, steps, inputs)), jit=jit) < 1e-7


@JIT
def test_repeat_vector_and_time_distributed_gradients(jit, rng):
    assert npae.gradcheck(npae.RepeatVector(4), rng.standard_normal((3, 5)), jit=jit) < 1e-7
    dense = npae.Dense(3, 2, activation="sigmoid", dtype="float64", rng=0)
    assert npae.gradcheck(npae.TimeDistributed(dense), rng.standard_normal((2, 4, 3)), jit=jit) < 1e-7


@JIT
def test_whole_lstm_autoencoder_gradient(jit, rng):
    model = npae.Sequential([npae.LSTM(2, 3, dtype="float64", rng=0), npae.RepeatVector(5),
                             npae.LSTM(3, 3, return_sequences=True, dtype="float64", rng=1),
                             npae.TimeDistributed(npae.Dense(3, 2, dtype="float64", rng=2))], input_shape=(5, 2))
    assert npae.gradcheck(model, rng.standard_normal((4, 5, 2)), jit=jit) < 1e-6


@pytest.mark.parametrize("shape", [(4, 3), (1, 1), (5, 8)])
def test_lstm_cell_kernels_match_references(shape, rng):
    batch, hidden = shape
    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-6)):
        z = (3 * rng.standard_normal((batch, 4 * hidden))).astype(dtype)
        c_prev, grad_h, grad_c = (rng.standard_normal((batch, hidden)).astype(dtype) for _ in range(3))
        results = []
        for function in (recurrent_kernels.lstm_cell_forward_numpy, recurrent_kernels.lstm_cell_forward_numba):
            gates, c, tanh_c, h = z.copy(), *(np.zeros((batch, hidden), dtype) for _ in range(3))
            function(gates, c_prev, c, tanh_c, h)
            results.append((gates, c, tanh_c, h))
        for function in (recurrent_kernels.lstm_cell_backward_numpy, recurrent_kernels.lstm_cell_backward_numba):
            gates, _, tanh_c, _ = results[0]
            carried, grad_z = grad_c.copy(), np.zeros_like(z)
            function(gates, c_prev, tanh_c, grad_h, carried, grad_z)
            results.append((carried, grad_z))
        for fast, reference in ((results[1], results[0]), (results[3], results[2])):
            for a, b in zip(fast, reference):
                assert a.dtype == dtype
                np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance)


# ------------------------------------------------------------------------------------------- PyTorch parity
def _keras_padding(length, kernel, stride, padding):
    """(zeros before, zeros after) of Keras' padding of a Conv1D input of ``length``."""
    if padding == "valid":
        return 0, 0
    total = max((math.ceil(length / stride) - 1) * stride + kernel - length, 0)
    return total // 2, total - total // 2


def _transposed_output(full, length, kernel, stride, padding):
    """Keras' Conv1DTranspose output from PyTorch's full one ((T - 1) s + k): cropped, or padded at the end."""
    out = length * stride + (max(kernel - stride, 0) if padding == "valid" else 0)
    before = _keras_padding(out, kernel, stride, padding)[0]
    torch = pytest.importorskip("torch")
    full = torch.nn.functional.pad(full, (0, max(0, before + out - full.shape[2])))
    return full[:, :, before:before + out]


@pytest.mark.parametrize("kernel, stride, padding, length", GEOMETRIES)
@pytest.mark.parametrize("cls", CONVOLUTIONS)
@pytest.mark.parametrize("channels", [(3, 2), (2, 4)], ids=["3to2", "2to4"])
def test_convolution_1d_equals_pytorch(cls, channels, kernel, stride, padding, length, rng):
    """Outputs, dL/dx, dL/dW, dL/db in float64, against torch.nn.functional.conv1d / conv_transpose1d
    (channels first; torch's weight is W transposed (2, 1, 0): (C_out, C_in, k), or (C_in, C_out, k))."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    layer = cls(*channels, kernel, stride=stride, padding=padding, activation="tanh", dtype="float64", rng=2)
    layer.b[:] = rng.standard_normal(layer.b.shape)
    x = rng.standard_normal((3, length, channels[0]))
    out = layer.forward(x, training=True)
    grad_out = rng.standard_normal(out.shape)
    layer.zero_grad()
    grad_x = layer.backward(grad_out)

    x_t = torch.tensor(x.transpose(0, 2, 1).copy(), requires_grad=True)
    W_t = torch.tensor(layer.W.transpose(2, 1, 0).copy(), requires_grad=True)
    b_t = torch.tensor(layer.b.copy(), requires_grad=True)
    if cls is npae.Conv1D:
        z_t = F.conv1d(F.pad(x_t, _keras_padding(length, kernel, stride, padding)), W_t, b_t, stride=stride)
    else:
        z_t = _transposed_output(F.conv_transpose1d(x_t, W_t, stride=stride), length, kernel, stride, padding) \
            + b_t.view(1, -1, 1)
    out_t = torch.tanh(z_t)
    out_t.backward(torch.tensor(grad_out.transpose(0, 2, 1).copy()))
    np.testing.assert_allclose(out, out_t.detach().numpy().transpose(0, 2, 1), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy().transpose(0, 2, 1), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.gradients()[0], W_t.grad.numpy().transpose(2, 1, 0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.gradients()[1], b_t.grad.numpy(), rtol=0, atol=1e-10)


def _torch_lstm(layer):
    """torch.nn.LSTM with the weights of an npae LSTM, through npae.interop (the documented transposes)."""
    from npae.interop import lstm_to_torch

    return lstm_to_torch(layer)


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("batch, steps, inputs, hidden", [(3, 6, 2, 4), (1, 1, 3, 2), (5, 12, 1, 8)])
def test_lstm_equals_pytorch(batch, steps, inputs, hidden, return_sequences, rng):
    """Outputs and all gradients (x, W, U, b) in float64 against torch.nn.LSTM(batch_first=True)."""
    torch = pytest.importorskip("torch")
    layer = npae.LSTM(inputs, hidden, return_sequences=return_sequences, dtype="float64", rng=5)
    layer.b[:] = rng.standard_normal(layer.b.shape)
    x = rng.standard_normal((batch, steps, inputs))
    out = layer.forward(x, training=True)
    grad_out = rng.standard_normal(out.shape)
    layer.zero_grad()
    grad_x = layer.backward(grad_out)

    module = _torch_lstm(layer)
    x_t = torch.tensor(x, requires_grad=True)
    sequence, (h_last, _) = module(x_t)
    out_t = sequence if return_sequences else h_last[0]
    out_t.backward(torch.tensor(grad_out))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.dW, module.weight_ih_l0.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.dU, module.weight_hh_l0.grad.numpy().T, rtol=0, atol=1e-12)
    # b enters z once; torch's two biases each receive all of dL/db
    np.testing.assert_allclose(layer.db, module.bias_ih_l0.grad.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(layer.db, module.bias_hh_l0.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("batch, steps, features, out", [(3, 5, 4, 2), (1, 1, 1, 3), (4, 7, 2, 2)])
def test_repeat_vector_and_time_distributed_equal_pytorch(batch, steps, features, out, rng):
    """RepeatVector(n) = x[:, None].expand(n); TimeDistributed(Dense) = nn.Linear on the last axis (weight W^T):
    outputs and every gradient in float64."""
    torch = pytest.importorskip("torch")
    repeat = npae.RepeatVector(steps)
    distributed = npae.TimeDistributed(npae.Dense(features, out, activation="tanh", dtype="float64", rng=1))
    distributed.layer.b[:] = rng.standard_normal(out)
    x = rng.standard_normal((batch, features))
    repeated = repeat.forward(x, training=True)
    y = distributed.forward(repeated, training=True)
    grad_y = rng.standard_normal(y.shape)
    distributed.zero_grad()
    grad_x = repeat.backward(distributed.backward(grad_y))

    x_t = torch.tensor(x, requires_grad=True)
    linear = torch.nn.Linear(features, out).double()
    with torch.no_grad():
        linear.weight.copy_(torch.tensor(distributed.layer.W.T))
        linear.bias.copy_(torch.tensor(distributed.layer.b))
    y_t = torch.tanh(linear(x_t[:, None, :].expand(-1, steps, -1)))
    y_t.backward(torch.tensor(grad_y))
    np.testing.assert_allclose(y, y_t.detach().numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(grad_x, x_t.grad.numpy(), rtol=0, atol=1e-12)
    dW, db = distributed.gradients()
    np.testing.assert_allclose(dW, linear.weight.grad.numpy().T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(db, linear.bias.grad.numpy(), rtol=0, atol=1e-12)


def test_lstm_from_torch_round_trip(rng):
    """A torch nn.LSTM -> npae (weights W = weight_ih^T, U = weight_hh^T, b = bias_ih + bias_hh) -> same outputs."""
    torch = pytest.importorskip("torch")
    from npae.interop import lstm_from_torch, lstm_to_torch

    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 5, batch_first=True).double()
    layer = lstm_from_torch(module, return_sequences=True)
    x = rng.standard_normal((2, 4, 3))
    np.testing.assert_allclose(layer(x), module(torch.tensor(x))[0].detach().numpy(), rtol=0, atol=1e-12)
    back = lstm_to_torch(layer)
    np.testing.assert_allclose(back(torch.tensor(x))[0].detach().numpy(), layer(x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="batch_first"):
        lstm_from_torch(torch.nn.LSTM(3, 5))
    with pytest.raises(ValueError, match="num_layers"):
        lstm_from_torch(torch.nn.LSTM(3, 5, num_layers=2, batch_first=True))


def test_lstm_keras_layout_loads_one_to_one(rng):
    """Keras' get_weights() order [kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,)], gates i, f, c, o:
    a step written out by hand with those arrays gives the layer's output."""
    from npae.interop import lstm_from_keras_weights

    D, H = 2, 3
    kernel, recurrent = rng.standard_normal((D, 4 * H)), rng.standard_normal((H, 4 * H))
    bias = rng.standard_normal(4 * H)
    layer = lstm_from_keras_weights([kernel, recurrent, bias], dtype="float64")
    assert [p.shape for p in layer.parameters()] == [(D, 4 * H), (H, 4 * H), (4 * H,)]
    x = rng.standard_normal((1, 1, D))
    z = x[0, 0] @ kernel + bias
    sigmoid = 1 / (1 + np.exp(-z))
    i, f, g, o = sigmoid[:H], sigmoid[H:2 * H], np.tanh(z[2 * H:3 * H]), sigmoid[3 * H:]
    np.testing.assert_allclose(layer(x)[0], o * np.tanh(i * g), rtol=1e-12)
    assert f.shape == (H,)  # c_0 = 0: the forget gate has nothing to forget at the first step


# ------------------------------------------------------------------------------------------- Keras sizes, shapes
@pytest.mark.parametrize("cls, length, kernel, stride, padding, expected", [
    (npae.Conv1D, 128, 7, 2, "same", 64), (npae.Conv1D, 10, 3, 1, "valid", 8), (npae.Conv1D, 10, 4, 3, "valid", 3),
    (npae.Conv1DTranspose, 32, 7, 2, "same", 64), (npae.Conv1DTranspose, 8, 3, 1, "valid", 10),
    (npae.Conv1DTranspose, 8, 2, 3, "valid", 24), (npae.Conv1DTranspose, 8, 5, 2, "valid", 19)])
def test_output_lengths_follow_keras(cls, length, kernel, stride, padding, expected):
    layer = cls(2, 3, kernel, stride=stride, padding=padding)
    assert layer.output_shape((length, 2)) == (expected, 3)
    assert layer(np.zeros((1, length, 2), np.float32)).shape == (1, expected, 3)


def test_keras_weight_layouts():
    assert npae.Conv1D(2, 5, 3).W.shape == (3, 2, 5)
    assert npae.Conv1DTranspose(2, 5, 3).W.shape == (3, 5, 2)
    lstm = npae.LSTM(3, 4)
    assert [p.shape for p in lstm.parameters()] == [(3, 16), (4, 16), (16,)]
    np.testing.assert_array_equal(lstm.b, np.r_[np.zeros(4), np.ones(4), np.zeros(8)])  # unit_forget_bias
    np.testing.assert_allclose(lstm.U @ lstm.U.T, np.eye(4), atol=1e-5)                   # orthogonal rows


def test_bad_inputs_are_clear_value_errors():
    with pytest.raises(ValueError, match="kernel_size"):
        npae.Conv1D(1, 2, 0)
    with pytest.raises(ValueError, match=r"\(time, channels\)"):
        npae.Conv1D(1, 2, 3)(np.zeros((4, 10)))
    with pytest.raises(ValueError, match="input channel"):
        npae.Conv1D(1, 2, 3)(np.zeros((4, 10, 2)))
    with pytest.raises(ValueError, match="larger than"):
        npae.Conv1D(1, 2, 5)(np.zeros((4, 3, 1)))
    with pytest.raises(ValueError, match=r"\(time, 3\)"):
        npae.LSTM(3, 2)(np.zeros((4, 10, 2)))
    with pytest.raises(ValueError, match="return_sequences"):
        npae.LSTM(3, 2, return_sequences="yes")
    with pytest.raises(ValueError, match="features"):
        npae.RepeatVector(3)(np.zeros((2, 3, 4)))
    with pytest.raises(RuntimeError, match="before a training forward"):
        npae.LSTM(1, 2).backward(np.zeros((1, 2)))


def test_sequence_autoencoders_train_save_and_load(tmp_path, rng):
    """Both autoencoders of the detector fit (the loss falls), and save/load gives the same predictions."""
    x = np.sin(np.linspace(0, 20, 16 * 24)).reshape(16, 24, 1).astype(np.float32) + \
        0.05 * rng.standard_normal((16, 24, 1)).astype(np.float32)
    models = [
        npae.Sequential([npae.Conv1D(1, 4, 5, stride=2, padding="same", activation="relu", rng=0),
                         npae.Conv1DTranspose(4, 4, 5, stride=2, padding="same", activation="relu", rng=1),
                         npae.Conv1D(4, 1, 5, padding="same", rng=2)], optimizer={"name": "adam",
                                                                                   "learning_rate": 0.01}, seed=0),
        npae.Sequential([npae.LSTM(1, 6, rng=0), npae.RepeatVector(24), npae.LSTM(6, 6, return_sequences=True, rng=1),
                         npae.TimeDistributed(npae.Dense(6, 1, rng=2))], optimizer={"name": "adam",
                                                                                    "learning_rate": 0.01}, seed=0)]
    for index, model in enumerate(models):
        losses = model.fit(x, epochs=15, batch_size=8, verbose=0).history["loss"]
        assert losses[-1] < 0.7 * losses[0]
        path = tmp_path / f"model{index}.npae"
        model.save(path)
        np.testing.assert_array_equal(npae.load(path).predict(x), model.predict(x))

