"""npae.TopK: the k largest of each row kept, ties to the lowest index, gradient through the kept entries."""
import itertools

import numpy as np
import pytest

import npae
from npae.layers.topk import topk_mask


def test_keeps_the_k_largest_of_each_row_and_zeros_the_rest(rng):
    x = rng.standard_normal((50, 9))
    y = npae.TopK(4)(x)
    assert np.all(np.count_nonzero(y, axis=1) == 4)
    for row_in, row_out in zip(x, y):
        kept = np.sort(row_in)[-4:]
        np.testing.assert_array_equal(np.sort(row_out[row_out != 0]), kept)


def test_ties_go_to_the_lowest_index():
    x = np.array([[1.0, 3.0, 2.0, 3.0, 3.0],      # three 3s for two places: columns 1 and 3
                  [0.0, 0.0, 0.0, 0.0, 0.0],      # all tied: the first two
                  [5.0, -1.0, 5.0, 5.0, 4.0]])
    np.testing.assert_array_equal(topk_mask(x, 2), [[0, 1, 0, 1, 0], [1, 1, 0, 0, 0], [1, 0, 1, 0, 0]])
    # the same rule whatever the row's order of visit: every permutation of a tied row keeps the first places
    for order in itertools.permutations(range(4)):
        row = np.array([[2.0, 2.0, 1.0, 2.0]])[:, order]
        kept = np.nonzero(topk_mask(row, 2)[0])[0]
        np.testing.assert_array_equal(kept, np.nonzero(row[0] == 2.0)[0][:2])


@pytest.mark.parametrize("k", [1, 3, 7])
def test_gradient_checks_in_float64(k, rng):
    x = rng.standard_normal((6, 7))   # continuous values: no ties, the gradient exists everywhere checked
    assert npae.gradcheck(npae.TopK(k), x) < 1e-7


def test_backward_passes_the_gradient_through_the_kept_entries_only(rng):
    layer = npae.TopK(2)
    x = rng.standard_normal((4, 5))
    y = layer.forward(x, training=True)
    grad = rng.standard_normal(x.shape)
    np.testing.assert_array_equal(layer.backward(grad), np.where(y != 0, grad, 0))


def test_equals_torch_topk_forward_and_backward(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((8, 10))
    grad = rng.standard_normal(x.shape)
    layer = npae.TopK(3)
    y = layer.forward(x, training=True)
    x_torch = torch.tensor(x, requires_grad=True)
    values, indices = torch.topk(x_torch, 3, dim=1)
    y_torch = torch.zeros_like(x_torch).scatter(1, indices, values)
    y_torch.backward(torch.tensor(grad))
    np.testing.assert_array_equal(y, y_torch.detach().numpy())
    np.testing.assert_array_equal(layer.backward(grad), x_torch.grad.numpy())


def test_float32_stays_float32(rng):
    assert npae.TopK(2)(rng.standard_normal((3, 4)).astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize("k", [0, -1, 2.0, True, "3"])
def test_bad_k_is_a_value_error(k):
    with pytest.raises(ValueError, match="k must be a positive integer"):
        npae.TopK(k)


def test_rows_shorter_than_k_are_refused():
    with pytest.raises(ValueError, match="at least k = 5"):
        npae.TopK(5)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least k = 2"):
        npae.TopK(2)(np.zeros((2, 3, 3)))


def test_backward_before_a_training_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before a training forward"):
        npae.TopK(1).backward(np.zeros((1, 2)))


def test_a_model_with_a_topk_layer_trains_saves_and_loads(rng, tmp_path):
    model = npae.Sequential([npae.Dense(6, 10, "relu", dtype="float64"), npae.TopK(3),
                             npae.Dense(10, 6, dtype="float64")], loss="mse", seed=0)
    x = rng.standard_normal((32, 6))
    model.fit(x, x, epochs=2, batch_size=8, verbose=0)
    assert npae.gradcheck(model, x[:4], x[:4]) < 1e-7
    model.save(tmp_path / "model.npz")
    loaded = npae.load(tmp_path / "model.npz")
    assert isinstance(loaded.layers[1], npae.TopK) and loaded.layers[1].k == 3
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
