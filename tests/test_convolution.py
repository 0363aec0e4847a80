"""Convolutional layers: kernels against their references, finite differences, PyTorch parity, shapes, errors.

Oracles, in order of authority: float64 central differences (``npae.gradcheck``) for every layer, padding
and stride, w.r.t. the input, the weights and the bias, on both NPAE_JIT paths; the Numba kernels against
their NumPy references; PyTorch's conv2d / conv_transpose2d / max_pool2d / nearest interpolate (float64,
NCHW, weight layouts converted) to 1e-10; and 10 Adam steps of a whole convolutional autoencoder.
"""
import numpy as np
import pytest

import npae
from npae.kernels import convolution as kernels
from npae.layers import correlation
from npae.layers.convolution import window_geometry

# (kernel, stride, padding, height, width): every padding and stride, odd and even sizes, a kernel of 1,
# a rectangular kernel, and the sizes where "same" pads unevenly or a stride leaves a row unused.
GEOMETRIES = [(3, 1, "valid", 6, 5), (3, 1, "same", 5, 6), (3, 2, "valid", 7, 6), (3, 2, "same", 6, 7),
              (2, 2, "valid", 5, 4), (2, 1, "same", 4, 5), (1, 2, "same", 5, 4), ((3, 2), (2, 1), "same", 5, 6)]
GEOMETRY_IDS = [f"k{k}-s{s}-{p}-{h}x{w}" for k, s, p, h, w in GEOMETRIES]
CHANNELS = [(3, 2), (2, 3)]   # C_out < C_in (computed from the input side at stride 1) and C_out > C_in


# --------------------------------------------------------------------------------------------- kernels
def _random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel, stride, padding, height, width", GEOMETRIES, ids=GEOMETRY_IDS)
def test_im2col_and_col2im_kernels_match_references(kernel, stride, padding, height, width, dtype, rng):
    (kh, kw), (sh, sw) = npae.layers.convolution.as_pair(kernel, "k"), npae.layers.convolution.as_pair(stride, "s")
    out_h, pad_top = window_geometry(height, kh, sh, padding)
    out_w, pad_left = window_geometry(width, kw, sw, padding)
    x = _random(rng, (2, height, width, 3), dtype)
    reference, fast = (np.full((2, out_h, out_w, kh * kw * 3), 7, dtype) for _ in range(2))
    kernels.im2col_numpy(x, kh, kw, sh, sw, pad_top, pad_left, reference)
    kernels.im2col_numba(x, kh, kw, sh, sw, pad_top, pad_left, fast)
    np.testing.assert_array_equal(fast, reference)
    columns = _random(rng, reference.shape, dtype)
    start = _random(rng, x.shape, dtype)
    for accumulate in (False, True):
        expected, got = start.copy(), start.copy()
        kernels.col2im_numpy(columns, kh, kw, sh, sw, pad_top, pad_left, expected, accumulate)
        kernels.col2im_numba(columns, kh, kw, sh, sw, pad_top, pad_left, got, accumulate)
        np.testing.assert_allclose(got, expected, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-5)
    # col2im is the adjoint (transpose) of im2col: <im2col(x), c> = <x, col2im(c)>
    back = np.zeros_like(x)
    kernels.col2im(columns, kh, kw, sh, sw, pad_top, pad_left, back, False)
    assert np.vdot(reference, columns) == pytest.approx(np.vdot(x, back), rel=1e-4 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("channels", [3, 17])   # 17: more channels than one vector holds, and a remainder
@pytest.mark.parametrize("padding, size", [("valid", 7), ("same", 7), ("valid", 6), ("same", 5)])
def test_pooling_and_upsampling_kernels_match_references(padding, size, channels, rng):
    """Max pooling's kernel (its 2 x 2 branch for windows inside the image and its general loop at the
    padding) equals the reference value for value (NaN where it has NaN), argmax and gradients exactly, on
    values with ties, -inf and NaN in every position."""
    x = _random(rng, (2, size, size + 1, channels))
    special = rng.random(x.shape)
    x[special < 0.15] = np.nan
    x[(special >= 0.15) & (special < 0.3)] = -np.inf
    x[(special >= 0.3) & (special < 0.45)] = 1.0     # ties
    x[0, :2, :2] = -np.inf                            # a window of -inf
    out_h, pad_top = window_geometry(size, 2, 2, padding)
    out_w, pad_left = window_geometry(size + 1, 2, 2, padding)
    results = []
    for forward, backward in ((kernels.max_pool_forward_numpy, kernels.max_pool_backward_numpy),
                              (kernels.max_pool_forward_numba, kernels.max_pool_backward_numba)):
        out, argmax = np.zeros((2, out_h, out_w, channels)), np.zeros((2, out_h, out_w, channels), np.int8)
        forward(x, 2, 2, pad_top, pad_left, out, argmax)
        grad = np.full_like(x, 5.0)
        backward(np.arange(out.size, dtype=np.float64).reshape(out.shape), argmax, 2, 2, pad_top, pad_left, grad)
        results.append((out, argmax, grad))
    for expected, got in zip(*results):
        np.testing.assert_array_equal(got, expected)
    assert np.isnan(results[0][0]).any() and np.isinf(results[0][0]).any()   # the special values reached the maxima
    image = _random(rng, (2, 3, 4, 5))
    up = [np.zeros((2, 6, 8, 5)) for _ in range(2)]
    kernels.upsample_nearest_numpy(image, 2, up[0])
    kernels.upsample_nearest_numba(image, 2, up[1])
    np.testing.assert_array_equal(up[1], up[0])
    down = [np.full_like(image, 3.0) for _ in range(2)]
    kernels.upsample_nearest_backward_numpy(up[0], 2, down[0])
    kernels.upsample_nearest_backward_numba(up[0], 2, down[1])
    np.testing.assert_allclose(down[1], down[0], rtol=1e-13)
    np.testing.assert_allclose(down[0], 4 * image, rtol=1e-13)   # each pixel was copied 4 times


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_layers_split_into_image_blocks_equal_one_pass_over_the_batch(padding, rng):
    """The layers run the kernels on blocks of images on every core (npae.layers.pooling): the same bits as
    one kernel call over the whole batch, forward and backward, NaN and ties included, for a batch that
    does not divide evenly into blocks."""
    from npae.kernels import workers
    x = np.round(_random(rng, (37, 7, 7, 5), np.float32) * 2) / 2      # many ties
    x[3, 1, 1, 2] = np.nan
    pool, up = npae.MaxPool2D(2, padding=padding), npae.UpSampling2D(2)
    _, (pad_top, pad_left) = pool._geometry(7, 7)
    assert len(workers.parallel_blocks(37, x[0].nbytes, 1 << 20)) > 1
    with npae._backend.jit(True):
        pooled = pool.forward(x, training=True).copy()
        grad_pooled = _random(rng, pooled.shape, np.float32)
        grad_x = pool.backward(grad_pooled).copy()
        upsampled = up.forward(pooled, training=True).copy()
        grad_upsampled = _random(rng, upsampled.shape, np.float32)
        grad_up = up.backward(grad_upsampled).copy()
        expected, argmax = np.empty_like(pooled), np.empty(pooled.shape, np.int8)
        kernels.max_pool_forward(x, 2, 2, pad_top, pad_left, expected, argmax)
        expected_grad = np.empty_like(x)
        kernels.max_pool_backward(grad_pooled, argmax, 2, 2, pad_top, pad_left, expected_grad)
        expected_up = np.empty_like(upsampled)
        kernels.upsample_nearest(pooled, 2, expected_up)
        expected_grad_up = np.empty_like(pooled)
        kernels.upsample_nearest_backward(grad_upsampled, 2, expected_grad_up)
    np.testing.assert_array_equal(pooled, expected)
    np.testing.assert_array_equal(grad_x, expected_grad)
    np.testing.assert_array_equal(upsampled, expected_up)
    np.testing.assert_array_equal(grad_up, expected_grad_up)


@pytest.mark.parametrize("kernel, pads, size, out_size", [((3, 3), (0, 0), (6, 5), (4, 3)), ((3, 3), (1, 1), (5, 6), (5, 6)),
                                                     ((3, 3), (2, 2), (4, 4), (6, 6)), ((2, 3), (0, 1), (4, 5), (4, 5)),
                                                     ((1, 1), (0, 0), (3, 3), (3, 3))])
def test_gather_taps_kernel_matches_reference(kernel, pads, size, out_size, rng):
    """out[n, i, j] = sum_{di, dj} taps[n, i + di - p_t, j + dj - p_l, tap (di, dj)], checked against the loop."""
    (kh, kw), outputs = kernel, 3
    taps = _random(rng, (2,) + size + (kh * kw * outputs,))
    expected = np.zeros((2,) + out_size + (outputs,))
    for i, j, di, dj in np.ndindex(out_size[0], out_size[1], kh, kw):
        row, column = i + di - pads[0], j + dj - pads[1]
        if 0 <= row < size[0] and 0 <= column < size[1]:
            expected[:, i, j] += taps[:, row, column, (di * kw + dj) * outputs:(di * kw + dj + 1) * outputs]
    for gather in (kernels.gather_taps_numpy, kernels.gather_taps_numba):
        got = np.full_like(expected, 7.0)
        gather(taps, kh, kw, *pads, got)
        np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("width", [1, 5, 16, 33])   # values per pixel (33: the weight stencil's pixel loop)
@pytest.mark.parametrize("kernel, pads, size, out_size", [((3, 3), (0, 0), (6, 5), (4, 3)),
                                                     ((3, 3), (1, 1), (5, 6), (5, 6)),
                                                     ((3, 3), (2, 2), (4, 4), (6, 6)), ((2, 3), (0, 1), (4, 5), (4, 5)),
                                                     ((3, 3), (1, 1), (11, 12), (11, 12))])
def test_stencil_kernels_match_references(kernel, pads, size, out_size, width, rng):
    """scalar_stencil and scalar_weight_stencil (one-channel convolutions, computed on spread rows): Numba
    against NumPy, float64, including outputs larger than the image (pads 2) and kernels that are not square."""
    s, taps = _random(rng, (2,) + size), _random(rng, kernel + (width,))
    expected, got = (np.full((2,) + out_size + (width,), 7.0) for _ in range(2))
    kernels.scalar_stencil_numpy(s, taps, *pads, expected)
    kernels.scalar_stencil_numba(s, taps, *pads, got)
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)
    v = _random(rng, (2,) + out_size + (width,))
    expected, got = (np.full(kernel + (width,), 7.0) for _ in range(2))
    kernels.scalar_weight_stencil_numpy(s, v, *pads, expected)
    kernels.scalar_weight_stencil_numba(s, v, *pads, got)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, inner, columns", [(301, 9, 64), (257, 64, 9), (100, 1, 3), (64, 9, 1)])
def test_narrow_product_kernels_match_references(rows, inner, columns, dtype, rng):
    a, b = _random(rng, (rows, inner), dtype), _random(rng, (inner, columns), dtype)
    tolerance = 1e-4 if dtype == np.float32 else 1e-12
    expected, got = np.full((rows, columns), 7, dtype), np.full((rows, columns), 7, dtype)
    kernels.narrow_product_numpy(a, b, expected)
    kernels.narrow_product_numba(a, b, got)
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
    left, right = _random(rng, (rows, inner), dtype), _random(rng, (rows, columns), dtype)
    expected, got = np.full((inner, columns), 7, dtype), np.full((inner, columns), 7, dtype)
    kernels.narrow_transposed_product_numpy(left, right, expected)
    kernels.narrow_transposed_product_numba(left, right, got)
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance * rows)


# --------------------------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("channels", CHANNELS, ids=["3to2", "2to3"])
@pytest.mark.parametrize("kernel, stride, padding, height, width", GEOMETRIES, ids=GEOMETRY_IDS)
@pytest.mark.parametrize("cls", [npae.Conv2D, npae.Conv2DTranspose])
def test_convolution_gradients_by_finite_differences(cls, kernel, stride, padding, height, width, channels, jit,
                                                     rng):
    """dL/dx, dL/dW and dL/db of every convolution layer, padding and stride, against central differences."""
    if cls is npae.Conv2DTranspose:
        height, width = max(height // 2, 2), max(width // 2, 2)   # it enlarges: keep the check small
    layer = cls(*channels, kernel, stride=stride, padding=padding, activation="tanh", dtype="float64", rng=1)
    layer.b[:] = rng.uniform(-0.5, 0.5, layer.b.shape)
    x = rng.standard_normal((2, height, width, channels[0]))
    assert npae.gradcheck(layer, x, jit=jit) < 1e-7


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("layer", [npae.MaxPool2D(2), npae.MaxPool2D(2, padding="same"), npae.MaxPool2D(3),
                                   npae.UpSampling2D(2), npae.UpSampling2D(3), npae.Flatten(),
                                   npae.Reshape((5, 6, 1))], ids=repr)
def test_parameterless_layer_gradients_by_finite_differences(layer, jit, rng):
    x = rng.permutation(np.linspace(-3, 3, 2 * 5 * 6 * 2)).reshape(2, 5, 6, 2)  # distinct values: no ties
    if isinstance(layer, npae.Reshape):
        x = x.reshape(4, 30)
    assert npae.gradcheck(layer, x, jit=jit) < 1e-7


def test_max_pool_tie_sends_the_gradient_to_the_first_maximum():
    """A window of equal values: the whole gradient goes to its top-left pixel (row-major first)."""
    for jit in (False, True):
        with npae._backend.jit(jit):
            layer = npae.MaxPool2D(2)
            x = np.array([[1.0, 1.0], [1.0, 0.5]]).reshape(1, 2, 2, 1)
            layer.forward(x, training=True)
            grad = layer.backward(np.full((1, 1, 1, 1), 3.0))
            np.testing.assert_array_equal(grad.reshape(2, 2), [[3.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "numba"])
@pytest.mark.parametrize("size", [5, 6, 7])
def test_max_pool_follows_pytorch_on_infinities_and_nans(size, jit, rng):
    """Windows of -inf (also where "same" pads), NaN first, last or twice in a window: the maxima and the
    gradients of both paths equal PyTorch's exactly (its rule: the docstring of MaxPool2D)."""
    torch = pytest.importorskip("torch")
    for _ in range(20):
        x = rng.choice([-np.inf, -np.inf, -np.inf, np.nan, 1.0, 2.0], size=(2, size, size, 3))
        for padding in ("valid", "same"):
            with npae._backend.jit(jit):
                layer = npae.MaxPool2D(2, padding=padding)
                out = layer.forward(x, training=True)
                grad_out = rng.standard_normal(out.shape)
                grad_x = layer.backward(grad_out)
            x_t = torch.tensor(_nchw(x), requires_grad=True)
            out_t = torch.nn.functional.max_pool2d(x_t, 2, ceil_mode=padding == "same")
            out_t.backward(torch.tensor(_nchw(grad_out)))
            np.testing.assert_array_equal(out, _nhwc(out_t))
            np.testing.assert_array_equal(grad_x, _nhwc(x_t.grad))


def test_whole_convolutional_model_gradient(rng):
    model = _small_autoencoder("float64", seed=3)
    x = rng.uniform(0.05, 0.95, (3, 8, 8, 1))
    for jit in (False, True):
        assert npae.gradcheck(model, x, jit=jit) < 1e-6


# --------------------------------------------------------------------------------------------- fast == reference
@pytest.mark.parametrize("cls, channels, padding", [(npae.Conv2D, (4, 6), "valid"), (npae.Conv2D, (6, 2), "same"),
                                                    (npae.Conv2DTranspose, (3, 5), "valid"),
                                                    (npae.Conv2DTranspose, (5, 2), "same")])
def test_layers_give_the_same_numbers_on_both_paths(cls, channels, padding, rng):
    """float32 training steps of a layer with the Numba kernels and with the NumPy references agree."""
    x = rng.uniform(0, 1, (5, 9, 8, channels[0])).astype(np.float32)
    results = []
    for jit in (True, False):
        with npae._backend.jit(jit):
            layer = cls(*channels, 3, padding=padding, activation="relu", rng=0)
            out = layer.forward(x, training=True)
            grad = layer.backward(np.cos(out))
            results.append((out, grad, layer.dW.copy(), layer.db.copy()))
    for fast, reference in zip(*results):
        np.testing.assert_allclose(fast, reference, rtol=1e-5, atol=1e-5)


@pytest.fixture(params=["default", "im2col"])
def strategies(request):
    """Every convolution test that takes this fixture runs twice: with the strategies that
    ``npae.layers.correlation.strategy`` picks, and with im2col forced everywhere."""
    if request.param == "im2col":
        correlation.forced.update({computation: "im2col" for computation in correlation.STRATEGIES})
    yield request.param
    correlation.forced.clear()


def _strategy_cases():
    cases = []
    for computation, names in correlation.STRATEGIES.items():
        for name in names:
            for geometry, geometry_id in zip(GEOMETRIES, GEOMETRY_IDS):
                for channels in [(3, 2), (2, 3), (1, 4), (4, 1)]:
                    layer = npae.Conv2D(*channels, geometry[0], stride=geometry[1], padding=geometry[2])
                    if correlation.applies(name, computation, layer._convolution_geometry(*geometry[3:]), *channels):
                        cases.append(pytest.param(computation, name, geometry, channels,
                                                  id=f"{computation}-{name}-{geometry_id}-{channels[0]}to{channels[1]}"))
    return cases


@pytest.mark.parametrize("computation, strategy, geometry, channels", _strategy_cases())
def test_every_strategy_equals_the_formula(computation, strategy, geometry, channels, rng):
    """Each way of computing correlate / input_grad / weight_grad (float64, Numba kernels) gives the NumPy
    formula's numbers (NPAE_JIT=0), on every geometry and channel count where the strategy applies."""
    kernel, stride, padding, height, width = geometry
    layer = npae.Conv2D(*channels, kernel, stride=stride, padding=padding, dtype="float64", rng=0)
    geometry = layer._convolution_geometry(height, width)
    x = rng.standard_normal((3, height, width, channels[0]))
    g = rng.standard_normal((3,) + layer.output_shape(x.shape[1:]))
    W = rng.standard_normal(layer.W.shape)

    def compute(jit):
        buffer = lambda name, shape, dtype: np.full(shape, np.nan, dtype)  # noqa: E731  (scratch starts as junk)
        with npae._backend.jit(jit):
            if computation == "correlate":
                return correlation.correlate(x, W, geometry, np.full(g.shape, np.nan), buffer)
            if computation == "input_grad":
                return correlation.correlate_input_grad(g, W, geometry, np.full(x.shape, np.nan), buffer)
            return correlation.correlate_weight_grad(x, g, geometry, np.ones(W.shape), buffer)  # += onto ones

    correlation.forced[computation] = strategy
    try:
        np.testing.assert_allclose(compute(True), compute(False), rtol=1e-12, atol=1e-12)
    finally:
        correlation.forced.clear()


# --------------------------------------------------------------------------------------------- PyTorch parity
def _nchw(array):
    return array.transpose(0, 3, 1, 2).copy()


def _nhwc(tensor):
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


def _torch_padding(height, width, kernel, stride, padding):
    """(left, right, top, bottom) zeros of Keras' padding, for torch.nn.functional.pad."""
    (kh, kw), (sh, sw) = kernel, stride
    out_h, top = window_geometry(height, kh, sh, padding)
    out_w, left = window_geometry(width, kw, sw, padding)
    total_h, total_w = max((out_h - 1) * sh + kh - height, 0), max((out_w - 1) * sw + kw - width, 0)
    return (left, total_w - left, top, total_h - top) if padding == "same" else (0, 0, 0, 0)


def _compare_with_pytorch(cls, channels, kernel, stride, padding, height, width, rng, torch_output):
    """One float64 forward and backward of an npae layer and of ``torch_output(x_t, W_t, b_t, layer)``
    (NCHW, weights (C_a, C_b, kh, kw): W transposed (3, 2, 0, 1)); outputs and all gradients to 1e-10."""
    torch = pytest.importorskip("torch")
    layer = cls(*channels, kernel, stride=stride, padding=padding, dtype="float64", rng=2)
    layer.b[:] = rng.standard_normal(layer.b.shape)
    x = rng.standard_normal((3, height, width, channels[0]))
    out = layer.forward(x, training=True)
    grad_out = rng.standard_normal(out.shape)
    layer.zero_grad()
    grad_x = layer.backward(grad_out)
    x_t = torch.tensor(_nchw(x), requires_grad=True)
    W_t = torch.tensor(layer.W.transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b_t = torch.tensor(layer.b.copy(), requires_grad=True)
    out_t = torch_output(x_t, W_t, b_t, layer)
    out_t.backward(torch.tensor(_nchw(grad_out)))
    np.testing.assert_allclose(out, _nhwc(out_t), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grad_x, _nhwc(x_t.grad), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.dW, W_t.grad.numpy().transpose(2, 3, 1, 0), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.db, b_t.grad.numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("channels", CHANNELS, ids=["3to2", "2to3"])
@pytest.mark.parametrize("kernel, stride, padding, height, width", GEOMETRIES, ids=GEOMETRY_IDS)
def test_conv2d_equals_pytorch(kernel, stride, padding, height, width, channels, strategies, rng):
    """Keras' "same" padding can be uneven (the extra zero after the image): torch pads explicitly."""
    def torch_output(x_t, W_t, b_t, layer):
        F = pytest.importorskip("torch").nn.functional
        padded = F.pad(x_t, _torch_padding(height, width, layer.kernel_size, layer.stride, padding))
        return F.conv2d(padded, W_t, b_t, stride=layer.stride)

    _compare_with_pytorch(npae.Conv2D, channels, kernel, stride, padding, height, width, rng, torch_output)


@pytest.mark.parametrize("channels", CHANNELS, ids=["3to2", "2to3"])
@pytest.mark.parametrize("kernel, stride, padding, height, width", GEOMETRIES, ids=GEOMETRY_IDS)
def test_conv2d_transpose_equals_pytorch(kernel, stride, padding, height, width, channels, strategies, rng):
    """PyTorch's conv_transpose2d gives the full output ((H - 1) s + k); Keras' sizes crop it (and, where
    the output is longer, add rows that only the bias reaches)."""
    def torch_output(x_t, W_t, b_t, layer):
        F = pytest.importorskip("torch").nn.functional
        full = F.conv_transpose2d(x_t, W_t, stride=layer.stride)
        (out_h, out_w), (top, left) = layer._geometry(height, width)
        full = F.pad(full, (0, max(0, left + out_w - full.shape[3]), 0, max(0, top + out_h - full.shape[2])))
        return full[:, :, top:top + out_h, left:left + out_w] + b_t.view(1, -1, 1, 1)

    _compare_with_pytorch(npae.Conv2DTranspose, channels, kernel, stride, padding, height, width, rng, torch_output)


@pytest.mark.parametrize("size", [6, 7])
def test_max_pool_and_upsampling_equal_pytorch(size, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rng.standard_normal((2, size, size, 3))
    for padding, ceil_mode in (("valid", False), ("same", True)):  # Keras' "same" for p = 2 is torch's ceil mode
        layer = npae.MaxPool2D(2, padding=padding)
        out = layer.forward(x, training=True)
        grad_out = rng.standard_normal(out.shape)
        grad_x = layer.backward(grad_out)
        x_t = torch.tensor(_nchw(x), requires_grad=True)
        out_t = F.max_pool2d(x_t, 2, ceil_mode=ceil_mode)
        out_t.backward(torch.tensor(_nchw(grad_out)))
        np.testing.assert_allclose(out, _nhwc(out_t), rtol=0, atol=1e-10)
        np.testing.assert_allclose(grad_x, _nhwc(x_t.grad), rtol=0, atol=1e-10)
    layer = npae.UpSampling2D(2)
    out = layer.forward(x, training=True)
    grad_out = rng.standard_normal(out.shape)
    grad_x = layer.backward(grad_out)
    x_t = torch.tensor(_nchw(x), requires_grad=True)
    out_t = F.interpolate(x_t, scale_factor=2, mode="nearest")
    out_t.backward(torch.tensor(_nchw(grad_out)))
    np.testing.assert_allclose(out, _nhwc(out_t), rtol=0, atol=1e-10)
    np.testing.assert_allclose(grad_x, _nhwc(x_t.grad), rtol=0, atol=1e-10)


def _small_autoencoder(dtype, seed=0, constraint=None):
    """Every layer type: Conv2D valid and same (from both sides), MaxPool2D, Conv2DTranspose, UpSampling2D."""
    rng = np.random.default_rng(seed)
    options = dict(dtype=dtype, rng=rng, init="he_uniform", constraint=constraint)
    encoder = [npae.Conv2D(1, 4, 3, activation="relu", **options), npae.Conv2D(4, 3, 3, padding="same",
                                                                              activation="relu", **options),
               npae.MaxPool2D(2)]
    decoder = [npae.UpSampling2D(2), npae.Conv2DTranspose(3, 5, 3, activation="relu", **options),
               npae.Conv2D(5, 1, 3, padding="same", **options)]
    return npae.Autoencoder(encoder=encoder, decoder=decoder, loss=npae.BinaryCrossEntropy(from_logits=True),
                            seed=seed)


def test_ten_adam_steps_of_a_convolutional_autoencoder_equal_pytorch(mnist):
    """Float64, the same initial weights, the same batches, max_norm(2.0) after every step in both."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    (x_train, _), _ = mnist
    images = x_train[:48].reshape(-1, 28, 28, 1)[:, 4:24, 4:24].astype(np.float64)  # the digits' central 20x20
    model = _small_autoencoder("float64", seed=0, constraint=npae.MaxNorm(2.0))
    twin = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Upsample(scale_factor=2, mode="nearest"), nn.ConvTranspose2d(3, 5, 3), nn.ReLU(),
                         nn.Conv2d(5, 1, 3, padding=1)).double()
    convolutions = [module for module in twin if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d))]
    ours = [layer for layer in model.layers if isinstance(layer, (npae.Conv2D, npae.Conv2DTranspose))]
    with torch.no_grad():
        for module, layer in zip(convolutions, ours):
            module.weight.copy_(torch.tensor(layer.W.transpose(3, 2, 0, 1).copy()))
            module.bias.copy_(torch.tensor(layer.b))
    optimizer = torch.optim.Adam(twin.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    for step in range(10):
        batch = images[(step % 3) * 16:(step % 3 + 1) * 16]
        loss = model.train_on_batch(batch)
        optimizer.zero_grad()
        target = torch.tensor(_nchw(batch))
        their_loss = nn.functional.binary_cross_entropy_with_logits(twin(target), target)
        their_loss.backward()
        optimizer.step()
        with torch.no_grad():  # Keras' max_norm(2.0), axis 0 of (kh, kw, ., .): dim 2 of torch's layout
            for module in convolutions:
                norms = module.weight.square().sum(dim=2, keepdim=True).sqrt()
                module.weight.mul_(norms.clamp(0, 2.0) / (1e-7 + norms))
        assert loss == pytest.approx(their_loss.item(), rel=1e-11)
    for module, layer in zip(convolutions, ours):
        np.testing.assert_allclose(layer.W, module.weight.detach().numpy().transpose(2, 3, 1, 0), rtol=0, atol=1e-10)
        np.testing.assert_allclose(layer.b, module.bias.detach().numpy(), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------------- shapes and layout
def test_the_papers_model_shapes_and_keras_layouts():
    from npae.experiments.convolutional import paper_model, small_code_model

    model = paper_model(seed=0)
    x = np.zeros((2, 28, 28, 1), np.float32)
    model.evaluate(x)   # a model built from layers learns its input shape from the first data it checks
    shapes = []
    shape = model.input_shape
    for layer in model.layers:
        shape = layer.output_shape(shape)
        shapes.append(shape)
    assert shapes == [(26, 26, 64), (24, 24, 32), (26, 26, 32), (28, 28, 64), (28, 28, 1)]
    assert [w.shape for w in model.get_weights()[::2]] == [(3, 3, 1, 64), (3, 3, 64, 32), (3, 3, 32, 32),
                                                          (3, 3, 64, 32), (3, 3, 64, 1)]  # Keras' layouts
    assert model.latent_shape == (24, 24, 32)          # the paper's "bottleneck": 18,432 numbers
    small = small_code_model(seed=0)
    small.evaluate(x)
    assert small.latent_shape == (4, 4, 8) and small.latent_size == 128


@pytest.mark.parametrize("cls, length, kernel, stride, padding, expected", [
    (npae.Conv2D, 28, 3, 1, "valid", 26), (npae.Conv2D, 28, 3, 1, "same", 28), (npae.Conv2D, 28, 3, 2, "valid", 13),
    (npae.Conv2D, 28, 3, 2, "same", 14), (npae.Conv2D, 7, 2, 2, "same", 4), (npae.Conv2D, 7, 3, 2, "valid", 3),
    (npae.Conv2DTranspose, 24, 3, 1, "valid", 26), (npae.Conv2DTranspose, 14, 3, 2, "valid", 29),
    (npae.Conv2DTranspose, 14, 3, 2, "same", 28), (npae.Conv2DTranspose, 14, 1, 2, "valid", 28),
    (npae.Conv2DTranspose, 7, 2, 2, "valid", 14)])
def test_output_sizes_follow_keras(cls, length, kernel, stride, padding, expected):
    layer = cls(2, 3, kernel, stride=stride, padding=padding)
    assert layer.output_shape((length, length + 1, 2))[0] == expected
    assert layer.forward(np.zeros((1, length, length + 1, 2), np.float32)).shape[1] == expected


def test_initialisers_use_keras_fans(rng):
    layer = npae.Conv2D(64, 32, 3, init="he_uniform", rng=0)
    limit = np.sqrt(6 / (3 * 3 * 64))              # fan_in = kh kw C_in
    assert np.abs(layer.W).max() <= limit and np.abs(layer.W).max() > 0.95 * limit
    layer = npae.Conv2DTranspose(32, 64, 3, rng=0)  # Glorot, kernel (3, 3, 64, 32)
    limit = np.sqrt(6 / (3 * 3 * 64 + 3 * 3 * 32))
    assert np.abs(layer.W).max() <= limit and np.abs(layer.W).max() > 0.95 * limit
    assert not layer.b.any()


def test_max_norm_is_keras_formula_and_runs_after_every_step(rng):
    W = rng.standard_normal((3, 3, 4, 5)) * 3
    expected = W.copy()
    norms = np.sqrt(np.sum(expected ** 2, axis=0, keepdims=True))
    expected *= np.clip(norms, 0, 2.0) / (1e-7 + norms)
    npae.MaxNorm(2.0)(W)
    np.testing.assert_allclose(W, expected, rtol=1e-14)
    assert np.sqrt(np.sum(W ** 2, axis=0)).max() <= 2.0
    whole_filters = rng.standard_normal((3, 3, 4, 5)) * 3
    npae.MaxNorm(1.5, axis=(0, 1, 2))(whole_filters)
    np.testing.assert_allclose(np.sqrt(np.sum(whole_filters ** 2, axis=(0, 1, 2))), 1.5, rtol=1e-6)
    # in a model: the constraint holds after fit even with a learning rate that would break it
    model = npae.Sequential([npae.Conv2D(1, 2, 3, constraint=npae.MaxNorm(0.5), rng=0), npae.Flatten()],
                            loss="mse", optimizer={"name": "adam", "learning_rate": 1.0})
    x = rng.uniform(0, 1, (8, 5, 5, 1))
    model.fit(x, rng.uniform(0, 1, (8, 18)) * 10, epochs=3, batch_size=4, verbose=0)
    assert np.sqrt(np.sum(model.layers[0].W.astype(np.float64) ** 2, axis=0)).max() <= 0.5 + 1e-6


def test_save_and_load_a_convolutional_model(tmp_path, rng):
    model = _small_autoencoder("float32", seed=1, constraint=npae.MaxNorm(2.0))
    x = rng.uniform(0, 1, (6, 8, 8, 1)).astype(np.float32)
    model.fit(x, epochs=1, batch_size=3, verbose=0)
    model.save(tmp_path / "conv.npz")
    loaded = npae.load(tmp_path / "conv.npz")
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    assert loaded.layers[0].constraint.max_value == 2.0


def test_a_dense_code_between_convolutions(rng):
    """Flatten and Reshape let a convolutional encoder end in a Dense code (and the decoder start from it)."""
    encoder = [npae.Conv2D(1, 2, 3, activation="relu", rng=0), npae.Flatten(), npae.Dense(72, 4, rng=0)]
    decoder = [npae.Dense(4, 784, rng=0), npae.Reshape((28, 28, 1))]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse", seed=0)
    x = rng.uniform(0, 1, (5, 28, 28, 1)).astype(np.float32)
    with pytest.raises(ValueError, match="encoder\\[2\\]"):   # 26 x 26 x 2 = 1,352 values, not 72
        model.fit(x, epochs=1, verbose=0)
    encoder[2] = npae.Dense(26 * 26 * 2, 4, rng=0)
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse", seed=0)
    history = model.fit(x, epochs=2, batch_size=5, verbose=0)
    assert model.encode(x).shape == (5, 4) and len(history.history["loss"]) == 2


# --------------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("build, message", [
    (lambda: npae.Conv2D(0, 2, 3), "in_channels"), (lambda: npae.Conv2D(1, 2.5, 3), "out_channels"),
    (lambda: npae.Conv2D(1, 2, 0), "kernel_size"), (lambda: npae.Conv2D(1, 2, (3, 3, 3)), "kernel_size"),
    (lambda: npae.Conv2D(1, 2, 3, stride=0), "stride"), (lambda: npae.Conv2D(1, 2, 3, padding="full"), "padding"),
    (lambda: npae.Conv2DTranspose(1, 2, 3, padding="causal"), "padding"),
    (lambda: npae.Conv2D(1, 2, 3, constraint="unit_norm"), "constraint"),
    (lambda: npae.Conv2D(1, 2, 3, constraint=npae.MaxNorm(2.0, axis=5)), "axis"),
    (lambda: npae.MaxNorm(-1.0), "max_value"), (lambda: npae.MaxPool2D(0), "pool_size"),
    (lambda: npae.MaxPool2D(12), "pool_size must be at most 11"),
    (lambda: npae.UpSampling2D(1.5), "size"), (lambda: npae.Reshape((2, -1)), "shape"),
    (lambda: npae.Conv2D(1, 2, 3, activation="swishy"), "activation")])
def test_bad_constructor_arguments_name_the_argument(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("layer, x, message", [
    (npae.Conv2D(1, 2, 3), np.zeros((2, 28, 28)), "shape \\(batch, height, width, channels\\)"),
    (npae.Conv2D(1, 2, 3), np.zeros((2, 28, 28, 3)), "1 input channel"),
    (npae.Conv2D(1, 2, 5), np.zeros((2, 4, 6, 1)), "5x5 kernel is larger than the 4x6 input"),
    (npae.Conv2DTranspose(2, 1, 3), np.zeros((2, 5, 5, 1)), "2 input channels"),
    (npae.MaxPool2D(4), np.zeros((1, 3, 8, 2)), "4x4 pool is larger"),
    (npae.UpSampling2D(2), np.zeros((3, 4)), "shape \\(batch, height, width, channels\\)"),
    (npae.Reshape((5, 5)), np.zeros((2, 24)), "cannot reshape")])
def test_bad_inputs_are_refused_before_any_work(layer, x, message):
    with pytest.raises(ValueError, match=message):
        layer.forward(x, training=True)
    assert getattr(layer, "_kept", None) is None   # nothing was kept: the forward never ran


def test_layers_that_do_not_line_up_are_refused_when_the_model_first_sees_data(rng):
    encoder = [npae.Conv2D(1, 8, 3), npae.MaxPool2D(2)]
    decoder = [npae.Conv2DTranspose(4, 1, 3)]     # 8 channels arrive, it takes 4
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse")
    before = [w.copy() for w in model.get_weights()]
    with pytest.raises(ValueError, match="decoder\\[0\\].*4 input channels.*\\(13, 13, 8\\)"):
        model.fit(rng.uniform(0, 1, (4, 28, 28, 1)), epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    wrong_size = npae.Autoencoder(encoder=[npae.Conv2D(1, 2, 3)], decoder=[npae.Conv2D(2, 1, 3, padding="same")],
                                  loss="mse")
    with pytest.raises(ValueError, match="give back its input's shape"):
        wrong_size.fit(rng.uniform(0, 1, (4, 8, 8, 1)), epochs=1, verbose=0)


def test_backward_checks_the_gradient_shape(rng):
    layer = npae.Conv2D(1, 2, 3)
    with pytest.raises(RuntimeError, match="before a training forward"):
        layer.backward(np.zeros((1, 2, 2, 2)))
    layer.forward(np.zeros((1, 4, 4, 1)), training=True)
    with pytest.raises(ValueError, match="grad_output has shape \\(1, 3, 3, 2\\), expected \\(1, 2, 2, 2\\)"):
        layer.backward(np.zeros((1, 3, 3, 2)))


def test_a_convolutional_autoencoder_checks_its_shapes_at_once_or_on_first_use(rng):
    encoder = [npae.Conv2D(1, 2, 3, activation="relu", rng=0), npae.MaxPool2D(2)]
    decoder = [npae.UpSampling2D(2), npae.Conv2DTranspose(2, 1, 3, rng=1)]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss="mse", input_shape=(8, 8, 1))
    assert model.latent_shape == (3, 3, 2) and model.latent_size == 18
    assert model.decode(np.zeros((1, 3, 3, 2), np.float32)).shape == (1, 8, 8, 1)
    with pytest.raises(ValueError, match=r"decoder.s output has shape \(8, 8, 1\).*\(9, 9, 1\)"):
        npae.Autoencoder(encoder=[npae.Conv2D(1, 2, 3, rng=0), npae.MaxPool2D(2)],
                         decoder=[npae.UpSampling2D(2), npae.Conv2DTranspose(2, 1, 3, rng=1)], loss="mse",
                         input_shape=(9, 9, 1))
    later = npae.Autoencoder(encoder=[npae.Conv2D(1, 2, 3, rng=0), npae.MaxPool2D(2)],
                             decoder=[npae.UpSampling2D(2), npae.Conv2DTranspose(2, 1, 3, rng=1)], loss="mse")
    with pytest.raises(ValueError, match="does not know its shapes yet"):
        later.decode(np.zeros((1, 3, 3, 2), np.float32))
    assert later.predict(rng.uniform(0, 1, (2, 8, 8, 1))).shape == (2, 8, 8, 1)  # learned from predict
    assert later.latent_shape == (3, 3, 2)


def test_blocks_on_several_threads_give_the_same_bits_every_time(rng):
    """The layers split a batch into blocks of images computed on every core (npae.kernels.workers.in_blocks):
    whichever thread takes which block, a training step gives the same bits, and the formula's numbers."""
    x = rng.uniform(0, 1, (40, 12, 12, 6)).astype(np.float32)
    results = []
    for jit in (True, True, False):
        with npae._backend.jit(jit):
            for layer in (npae.Conv2D(6, 5, 3, rng=0), npae.Conv2D(6, 1, 3, padding="same", rng=0),
                          npae.Conv2DTranspose(6, 4, 3, rng=0), npae.Conv2D(6, 3, 3, stride=2, rng=0)):
                out = layer.forward(x, training=True)
                grad = layer.backward(np.cos(out))
                results.append((out, grad, layer.dW.copy(), layer.db.copy()))
    first, second, reference = results[:4], results[4:8], results[8:]
    for a, b, c in zip(first, second, reference):
        for fast, again, formula in zip(a, b, c):
            np.testing.assert_array_equal(fast, again)
            np.testing.assert_allclose(fast, formula, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("channels, outputs, height, padding", [(64, 32, 26, "valid"), (32, 32, 24, "same"),
                                                                (16, 16, 27, "valid"), (64, 1, 28, "same"),
                                                                (1, 64, 28, "valid")])
def test_winograd_float32_error_stays_within_three_times_the_direct_products(channels, outputs, height, padding, rng):
    """F(2x2, 3x3) in float32 (npae.layers.winograd) against the float64 truth: its largest error relative to
    the largest output is at most 3x im2col's in float32 (2.2x measured, one input channel) and below 1e-6
    (the docstring's table)."""
    x = rng.standard_normal((4, height, height, channels))
    W = rng.uniform(-1, 1, (3, 3, channels, outputs)) * np.sqrt(6 / (9 * channels + 9 * outputs))
    layer = npae.Conv2D(channels, outputs, 3, padding=padding, dtype="float64")
    geometry = layer._convolution_geometry(height, height)
    output_shape = (4,) + layer.output_shape((height, height, channels))
    truth = np.empty(output_shape)
    with npae._backend.jit(False):
        correlation.correlate(x, W, geometry, truth, None)
    buffer = lambda name, shape, dtype: np.empty(shape, dtype)  # noqa: E731
    errors = {}
    try:
        for how in ("im2col", "winograd"):
            correlation.forced["correlate"] = how
            result = correlation.correlate(x.astype(np.float32), W.astype(np.float32), geometry,
                                           np.empty(output_shape, np.float32), buffer)
            errors[how] = np.abs(result - truth).max() / np.abs(truth).max()
    finally:
        correlation.forced.clear()
    assert errors["winograd"] <= 3 * errors["im2col"]
    assert errors["winograd"] < 1e-6


def test_winograd_transforms_written_as_additions_are_the_matrices_of_the_paper(rng):
    """npae.layers.winograd applies B^T and A^T as additions of slices; they equal the matrices B^T d and A^T m
    of its docstring (Lavin and Gray 2016), and one 4 x 4 tile gives the direct 2 x 2 correlation."""
    from npae.layers import winograd
    d, m = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    np.testing.assert_allclose(winograd._b_transpose(d, axis=0), winograd.B_T @ d, rtol=0, atol=1e-15)
    np.testing.assert_allclose(winograd._a_transpose(m, axis=0), winograd.A_T @ m, rtol=0, atol=1e-15)
    tile, g = rng.standard_normal((4, 4)), rng.standard_normal((3, 3))
    Y = winograd.A_T @ ((winograd.G @ g @ winograd.G.T) * (winograd.B_T @ tile @ winograd.B_T.T)) @ winograd.A_T.T
    direct = np.array([[np.sum(tile[i:i + 3, j:j + 3] * g) for j in range(2)] for i in range(2)])
    np.testing.assert_allclose(Y, direct, rtol=1e-12, atol=1e-12)


class _PlainFormulas(npae.Activation):
    """A built-in activation's two formulas, as a user's own class would give them: the layer then takes its
    generic path (one pixel per row), the yardstick of the image-row path."""
    name = "plain formulas (test)"

    def __init__(self, built_in):
        self.built_in = built_in

    def function(self, z):
        return self.built_in.function(z)

    def derivative(self, z, a):
        return self.built_in.derivative(z, a)


@pytest.mark.parametrize("activation", ["relu", "identity", "sigmoid", "elu"])
@pytest.mark.parametrize("channels_out", [1, 5, 40])
def test_the_fused_activation_on_image_rows_equals_the_plain_formulas(activation, channels_out, rng):
    """Conv2D with a built-in activation runs f(z + b) and f' (with db) on rows of Wo pixels when it has few
    channels (npae.layers.convolution._pixel_rows): the same a, dx, dW and db as the activation's plain
    formulas on one pixel per row, over two backward passes."""
    x = _random(rng, (11, 9, 8, 3), np.float64)
    fused = npae.Conv2D(3, channels_out, 3, padding="same", activation=activation, dtype="float64", rng=1)
    plain = npae.Conv2D(3, channels_out, 3, padding="same", dtype="float64", rng=1,
                        activation=_PlainFormulas(npae.activations.get_activation(activation)))
    fused.b[...] = plain.b[...] = _random(rng, (channels_out,), np.float64)
    assert fused._pixel_rows(np.empty((1, 9, 8, channels_out)))[1] == (8 if channels_out < 32 else 1)
    assert plain._pixel_rows(np.empty((1, 9, 8, channels_out)))[1] == 1
    with npae._backend.jit(True):
        outputs = [layer.forward(x, training=True).copy() for layer in (fused, plain)]
        np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-13, atol=1e-13)
        grad = _random(rng, outputs[0].shape, np.float64)
        for _ in range(2):
            grads_x = [layer.backward(grad).copy() for layer in (fused, plain)]
    np.testing.assert_allclose(grads_x[0], grads_x[1], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.dW, plain.dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused.db, plain.db, rtol=1e-12, atol=1e-12)
    assert np.abs(fused.db).max() > 0
