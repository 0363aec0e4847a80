"""The three computations behind Conv2D and Conv2DTranspose, and the one place that decides how each runs.

Shapes (one letter each, as in the formulas): x (N, H, W, C) images, channels last;  W (kh, kw, C, O)
kernel;  g, z (N, Ho, Wo, O);  stride s;  p_t, p_l zeros before the image (a :class:`Geometry`).
Everything is one sum over the kernel's window, read three ways (x is 0 outside the image):

    correlate(x, W)              z[n, i, j, o]     = sum_{di, dj, c}  x[n, i s + di - p_t, j s + dj - p_l, c] W[di, dj, c, o]
    correlate_input_grad(g, W)   dx[n, y, x', c]   = sum_{di, dj, o}  g[n, i, j, o] W[di, dj, c, o]
                                                     over the (i, j) with y = i s + di - p_t, x' = j s + dj - p_l
    correlate_weight_grad(x, g)  dW[di, dj, c, o] += sum_{n, i, j}    x[n, i s + di - p_t, j s + dj - p_l, c] g[n, i, j, o]

The second is the transpose of the first in x, the third its transpose in W: with g = dL/dz they are
dL/dx and dL/dW.  Conv2D uses them as written.  Conv2DTranspose, whose kernel W (kh, kw, C_out, C_in)
is that of the convolution from its output back to its input, swaps the roles:

    z = correlate_input_grad(x, W)      dL/dx = correlate(dL/dz, W)      dL/dW += correlate_weight_grad(dL/dz, x)

How they are computed.  With ``NPAE_JIT=0`` each is its formula in NumPy (a tensor contraction over
views of the windows: what a learner reads).  Otherwise :func:`strategy` picks one of, per shape:

* ``im2col`` (any stride): copy every window into a row of a matrix X_col (N Ho Wo, kh kw C), so that
  z = X_col W_col, dL/dW_col = X_col^T g and dL/dX_col = g W_col^T, then col2im adds each row back
  onto its window (``npae.kernels.convolution``).  Three products as in Dense; but X_col is kh kw = 9
  times the input, and its traffic costs about as much as the products.
* ``taps`` (stride 1, correlate and input_grad): ONE product with the kernel's taps side by side,
  t = x W_taps with W_taps[c, (di, dj, o)] = W[di, dj, c, o] (N H W, kh kw O), then every output pixel
  adds the kh kw contributions of its window, t[n, i + di - p_t, j + dj - p_l, (di, dj)]
  (``kernels.gather_taps``).  No copy of the input; the product's output is wide (kh kw O columns),
  which BLAS runs faster than the O columns of im2col's.  The input gradient is the same with the
  kernel turned by 180 degrees and its channel axes swapped, and pads kh - 1 - p_t, kw - 1 - p_l.
* ``shifted`` (stride 1, weight_grad): in the zero-padded grid (N, Hp, Wp, .) that holds every window,
  the pixel under tap (di, dj) of output pixel r (a flat index) is pixel r + di Wp + dj: a shifted,
  contiguous view of the grid as a (N Hp Wp, C) matrix.  So dW[di, dj] = X_grid[shifted]^T G_grid, one
  tall product per tap over every pixel (BLAS' best case) on views: nothing copied but a padded x and g.
* ``winograd`` (stride 1, 3 x 3, correlate; only when forced): F(2x2, 3x3) of :mod:`npae.layers.winograd`,
  2.25x fewer multiplications, written as a lesson in NumPy.
* ``stencil`` (stride 1, one input channel for correlate, one output channel for input_grad, either for
  weight_grad): plain Numba loops (``kernels.scalar_stencil``, ``kernels.scalar_weight_stencil``): a
  scalar image times a vector of weights per tap, where a product would have an inner dimension or an
  output width of 1 (the first and last layers of the paper's model).

``benchmarks/bench_conv.py`` times every strategy against im2col on each of the paper's layers; the
rules in :func:`strategy` are what won there (its docstring gives the numbers).
"""
from collections import namedtuple

import numpy as np

from .. import _backend
from ..kernels import blas
from ..kernels import convolution as kernels
from ..kernels.workers import in_blocks, parallel_blocks
from .winograd import winograd_correlate

Geometry = namedtuple("Geometry", "kernel stride pads")   # (kh, kw), (s_h, s_w), (p_t, p_l)

STRATEGIES = {"correlate": ("im2col", "taps", "stencil", "winograd"), "input_grad": ("im2col", "taps", "stencil"),
              "weight_grad": ("im2col", "shifted", "stencil")}
forced = {}  # {computation: strategy}: set by the tests and the benchmark to run one strategy everywhere

# The im2col matrix of a whole batch is large (150 images of the paper's 64 -> 1 convolution: 271 MB in
# float32), so im2col works on blocks of images whose columns fit in COLUMNS_BLOCK_BYTES: inference on
# 10,000 images then needs no more memory than training.  A product with many output columns is
# compute-bound and each BLAS call has a fixed cost (waking its threads): 64 MB blocks (631 ms for the
# 64 -> 32 layer against 5,886 ms with one image a block); a product with few output columns is bound by
# memory: one image a block keeps its columns in the cache from im2col to the product (336 ms against 620).
COLUMNS_BLOCK_BYTES = 64 << 20
NARROW_PRODUCT_COLUMNS = 4           # at most this many output columns: a memory-bound product
NARROW_COLUMNS_BLOCK_BYTES = 2 << 20
TAPS_BLOCK_BYTES = 8 << 20           # taps of a block of images: in the L3 cache between product and gather
NARROW_PRODUCT_WIDTH = 9             # see product and transposed_product
WIDE_PRODUCT_COLUMNS = 16


def applies(how, computation, geometry, channels, outputs):
    """Whether strategy ``how`` can compute ``computation`` for a kernel of ``channels`` -> ``outputs``."""
    if how == "im2col":
        return True
    if geometry.stride != (1, 1):
        return False
    if how == "stencil":
        return {"correlate": channels == 1, "input_grad": outputs == 1,
                "weight_grad": channels == 1 or outputs == 1}[computation]
    if how == "winograd":   # F(2x2, 3x3): a 3 x 3 kernel only; a lesson, run only when forced (npae.layers.winograd)
        return computation == "correlate" and geometry.kernel == (3, 3)
    return True


def strategy(computation, geometry, channels, outputs):
    """Which way ``computation`` ("correlate", "input_grad" or "weight_grad") runs for a kernel of
    ``channels`` -> ``outputs`` channels (C, O in the module docstring): ``forced`` if set, else the rule
    that won in benchmarks/bench_conv.py (batch 150, float32, interleaved medians on a 2-core AMD EPYC, where
    differences under ~10-15% are noise):

    * a stride: im2col, the only strategy that takes one;
    * one channel in (C = 1) or out (O = 1): the stencils, where a product would have an inner dimension
      or an output width of 1 (64 -> 1: input_grad 26 ms against 107 with taps and 153 with im2col,
      weight_grad 19 against 86 shifted and 127 im2col; 1 -> 64: correlate 24 against 27 im2col and 95
      taps, weight_grad 19 against 20 im2col);
    * correlate: taps when O <= C, else im2col.  Both do the same multiplications; they differ in scratch
      (taps writes and reads back kh kw O values per pixel, im2col kh kw C) and in the product's shape
      (taps' has an inner dimension of C, im2col's only O columns).  64 -> 32: taps 73 ms against 84;
      16 -> 8 at 14 x 14: 6.2 against 9.9; but 8 -> 16 at 16 x 16: 18.1 against 5.4.  At O = C the layer
      alone favours im2col (the 32 -> 32 transposed layer: 69 against 50 ms) but the training step does
      not: the paper's model with im2col there took 1.08-1.17x as long (two models stepped alternately in
      one process), im2col's 100 MB of columns pushing the other layers' arrays out of the cache;
    * input_grad: taps.  Its product has the same shape as im2col's (g W^T, kh kw C columns), and the
      gather writes each output once where col2im adds into it kh kw times: faster on every layer of
      bench_conv (64 -> 32: 86 ms against 106; 16 -> 8 at 14 x 14: 9.6 against 11.6);
    * weight_grad: shifted views when C >= 16 and C O >= 256, else im2col.  Shifted runs kh kw products of
      C x O values over every pixel; with few such values each pass over the pixels does too little
      arithmetic for what it reads: 16 -> 8 at 14 x 14: 18.1 ms against 9.1 with im2col, 8 -> 16: 23.2
      against 6.5, 8 -> 8: 7.0 against 2.5; but 64 -> 32: 77 against 94.
    The small-bottleneck model's step with these rules against taps and shifted everywhere (the rule
    before), two models stepped alternately in one process: faster in each of five runs, by 1-9 %
    (85-108 ms against 86-119).
    """
    if computation in forced:
        return forced[computation]
    if geometry.stride != (1, 1):
        return "im2col"
    if applies("stencil", computation, geometry, channels, outputs):
        return "stencil"
    if computation == "correlate":
        return "taps" if outputs <= channels else "im2col"
    if computation == "input_grad":
        return "taps"
    return "shifted" if channels >= 16 and channels * outputs >= 256 else "im2col"


# --------------------------------------------------------------------------------------------------------
# The three computations
# --------------------------------------------------------------------------------------------------------
def correlate(x, W, geometry, out, buffer):
    """out (N, Ho, Wo, O) <- z = x correlated with W (module docstring); x (N, H, W, C), W (kh, kw, C, O).
    ``buffer(name, shape, dtype)`` gives scratch arrays (a layer's :meth:`Layer.buffer`)."""
    if not _backend.jit_enabled():   # the formula: a contraction of every window with W over (di, dj, c)
        out[...] = np.tensordot(_window_view(x, geometry, out.shape), W, axes=3)
        return out
    how = strategy("correlate", geometry, W.shape[2], W.shape[3])
    if how == "stencil":   # one input channel: x is a scalar image, each tap a vector of O weights
        return _stencil(x.reshape(x.shape[:3]), W.reshape(W.shape[:2] + W.shape[3:]), geometry.pads, out)
    if how == "taps":
        return _taps(x, _taps_matrix(W, buffer), geometry.kernel, geometry.pads, out, buffer)
    if how == "winograd":
        return winograd_correlate(x, W, geometry.pads, out)
    return _correlate_im2col(x, W, geometry, out, buffer)


def correlate_input_grad(g, W, geometry, out, buffer):
    """out (N, H, W, C) <- dx, the transpose of :func:`correlate` in x applied to g (N, Ho, Wo, O)."""
    (kh, kw), (pad_top, pad_left) = geometry.kernel, geometry.pads
    if not _backend.jit_enabled():   # each output pixel sends g W^T back to the pixels of its window
        contributions = np.tensordot(g, W, axes=([3], [3]))                       # (N, Ho, Wo, kh, kw, C)
        kernels.col2im(contributions.reshape(g.shape[:3] + (-1,)), kh, kw, *geometry.stride, pad_top, pad_left,
                       out, False)
        return out
    how = strategy("input_grad", geometry, W.shape[2], W.shape[3])
    flipped = W[::-1, ::-1].transpose(0, 1, 3, 2)        # (kh, kw, O, C): W turned by 180 degrees, axes swapped
    if how == "stencil":   # one output channel: g is a scalar image, each (flipped) tap a vector of C weights
        taps = np.ascontiguousarray(flipped.reshape(kh, kw, W.shape[2]))
        return _stencil(g.reshape(g.shape[:3]), taps, (kh - 1 - pad_top, kw - 1 - pad_left), out)
    if how == "taps":   # a correlation of g with the flipped kernel
        return _taps(g, _taps_matrix(flipped, buffer), geometry.kernel, (kh - 1 - pad_top, kw - 1 - pad_left),
                     out, buffer)
    return _input_grad_im2col(g, W, geometry, out, buffer)


def correlate_weight_grad(x, g, geometry, dW, buffer):
    """dW (kh, kw, C, O) += the transpose of :func:`correlate` in W: sum over every output pixel of its
    window of x (N, H, W, C) times g (N, Ho, Wo, O)."""
    if not _backend.jit_enabled():   # every window times its output pixel's g, summed over (n, i, j)
        dW += np.tensordot(_window_view(x, geometry, g.shape), g, axes=([0, 1, 2], [0, 1, 2]))
        return dW
    how = strategy("weight_grad", geometry, dW.shape[2], dW.shape[3])
    if how == "stencil":
        return _weight_grad_stencil(x, g, geometry, dW, buffer)
    if how == "shifted":
        return _weight_grad_shifted(x, g, geometry, dW, buffer)
    return _weight_grad_im2col(x, g, geometry, dW, buffer)


def _window_view(x, geometry, output_shape):
    """Every window of x as a read-only view (N, Ho, Wo, kh, kw, C), zeros on the padding."""
    (kh, kw), (sh, sw), (pad_top, pad_left) = geometry
    return kernels.window_view(x, kh, kw, sh, sw, pad_top, pad_left, output_shape[1], output_shape[2])


# --------------------------------------------------------------------------------------------------------
# Blocks of images, on every core (npae.kernels.workers.in_blocks runs them)
# --------------------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------------------
# im2col: any stride
# --------------------------------------------------------------------------------------------------------
def _correlate_im2col(x, W, geometry, out, buffer):
    (kh, kw), (sh, sw), (pad_top, pad_left) = geometry
    batch, out_h, out_w, outputs = out.shape
    window = kh * kw * W.shape[2]
    W_col = W.reshape(window, outputs)                                            # (kh kw C, O)

    def block(index, start, stop, slot):
        columns = buffer(f"columns/{slot}", (stop - start, out_h, out_w, window), x.dtype)
        kernels.im2col(x[start:stop], kh, kw, sh, sw, pad_top, pad_left, columns)  # (n, Ho, Wo, kh kw C)
        product(columns.reshape(-1, window), W_col, out[start:stop].reshape(-1, outputs))
    in_blocks(image_blocks(batch, out_h * out_w * window * x.itemsize, outputs), block)
    return out


def _input_grad_im2col(g, W, geometry, out, buffer):
    (kh, kw), (sh, sw), (pad_top, pad_left) = geometry
    batch, out_h, out_w, outputs = g.shape
    window = kh * kw * W.shape[2]
    W_col = W.reshape(window, outputs)

    def block(index, start, stop, slot):
        grad_columns = buffer(f"columns/{slot}", (stop - start, out_h, out_w, window), g.dtype)
        product(g[start:stop].reshape(-1, outputs), W_col.T, grad_columns.reshape(-1, window))  # g W_col^T
        kernels.col2im(grad_columns, kh, kw, sh, sw, pad_top, pad_left, out[start:stop], False)
    in_blocks(image_blocks(batch, out_h * out_w * window * g.itemsize, outputs), block)
    return out


def _weight_grad_im2col(x, g, geometry, dW, buffer):
    (kh, kw), (sh, sw), (pad_top, pad_left) = geometry
    batch, out_h, out_w, outputs = g.shape
    window = kh * kw * x.shape[3]
    blocks = image_blocks(batch, out_h * out_w * window * x.itemsize, outputs)
    terms = buffer("weight_gradient_terms", (len(blocks), window, outputs), dW.dtype)

    def block(index, start, stop, slot):
        columns = buffer(f"columns/{slot}", (stop - start, out_h, out_w, window), x.dtype)
        kernels.im2col(x[start:stop], kh, kw, sh, sw, pad_top, pad_left, columns)
        transposed_product(columns.reshape(-1, window), g[start:stop].reshape(-1, outputs), terms[index])  # X_col^T g
    in_blocks(blocks, block)
    return _add_in_order(dW, terms.reshape((len(blocks),) + dW.shape))


def _add_in_order(dW, terms):
    """dW += terms[0] + terms[1] + ..., in block order whichever thread computed them (reproducible)."""
    for term in terms:
        dW += term
    return dW


# --------------------------------------------------------------------------------------------------------
# taps, shifted views and stencils: stride 1
# --------------------------------------------------------------------------------------------------------
def _taps_matrix(W, buffer):
    """W (kh, kw, C, O) as W_taps (C, kh kw O): W_taps[c, (di kw + dj) O + o] = W[di, dj, c, o]."""
    kh, kw, channels, outputs = W.shape
    matrix = buffer("taps_matrix", (channels, kh, kw, outputs), W.dtype)
    np.copyto(matrix, W.transpose(2, 0, 1, 3))
    return matrix.reshape(channels, kh * kw * outputs)


def _taps(x, W_taps, kernel, pads, out, buffer):
    """out[n, i, j] <- sum_{di, dj} (x W_taps)[n, i + di - p_t, j + dj - p_l, tap (di, dj)], in blocks of
    images whose taps stay in the cache from the product to the gather."""
    batch, height, width, channels = x.shape
    taps_per_pixel = W_taps.shape[1]

    def block(index, start, stop, slot):
        taps = buffer(f"taps/{slot}", (stop - start, height, width, taps_per_pixel), x.dtype)
        product(x[start:stop].reshape(-1, channels), W_taps, taps.reshape(-1, taps_per_pixel))
        kernels.gather_taps(taps, *kernel, *pads, out[start:stop])
    in_blocks(parallel_blocks(batch, height * width * taps_per_pixel * x.itemsize, TAPS_BLOCK_BYTES), block)
    return out


def _weight_grad_shifted(x, g, geometry, dW, buffer):
    """dW[di, dj] += X_grid[r + di Wp + dj]^T G_grid[r] over the flat pixels r of the padded grid (module
    docstring): each block's x and g copied once into grids of (Ho + kh - 1) x (Wo + kw - 1) pixels."""
    (kh, kw), _, (pad_top, pad_left) = geometry
    batch, height, width, channels = x.shape
    _, out_h, out_w, outputs = g.shape
    grid_h, grid_w = out_h + kh - 1, out_w + kw - 1
    blocks = parallel_blocks(batch, grid_h * grid_w * (channels + outputs) * x.itemsize, TAPS_BLOCK_BYTES)
    terms = buffer("weight_gradient_terms", (len(blocks), kh, kw, channels, outputs), dW.dtype)

    def block(index, start, stop, slot):
        x_grid = _in_grid(buffer(f"x_grid/{slot}", (stop - start, grid_h, grid_w, channels), x.dtype),
                          x[start:stop], pad_top, pad_left)
        g_grid = _in_grid(buffer(f"g_grid/{slot}", (stop - start, grid_h, grid_w, outputs), g.dtype),
                          g[start:stop], 0, 0)
        x_rows, g_rows = x_grid.reshape(-1, channels), g_grid.reshape(-1, outputs)
        rows = x_rows.shape[0] - (kh - 1) * grid_w - (kw - 1)     # the last output pixel's flat index + 1
        for di in range(kh):
            for dj in range(kw):
                shift = di * grid_w + dj
                transposed_product(x_rows[shift:shift + rows], g_rows[:rows], terms[index, di, dj])  # (C, O)
    in_blocks(blocks, block)
    return _add_in_order(dW, terms)


def _stencil(s, taps, pads, out):
    """out[n, i, j] <- sum_{di, dj} s[n, i + di - p_t, j + dj - p_l] taps[di, dj] (kernels.scalar_stencil)."""
    def block(index, start, stop, slot):
        kernels.scalar_stencil(s[start:stop], taps, *pads, out[start:stop])
    in_blocks(parallel_blocks(out.shape[0], out[0].nbytes, TAPS_BLOCK_BYTES), block)
    return out


def _weight_grad_stencil(x, g, geometry, dW, buffer):
    """dW with one output channel: dW[di, dj, :, 0] += sum_{n, i, j} g[n, i, j] x[n, i + di - p_t, j + dj - p_l, :];
    with one input channel the same sum read from x's side: dW[di, dj, 0, :] += sum_{n, y, x'} x[n, y, x']
    g[n, y - di + p_t, x' - dj + p_l, :], taps turned by 180 degrees (di' = kh - 1 - di)."""
    (kh, kw), _, (pad_top, pad_left) = geometry
    channels, outputs = dW.shape[2:]
    if outputs == 1:
        scalars, vectors, pads, width = g.reshape(g.shape[:3]), x, (pad_top, pad_left), channels
    else:
        scalars, vectors, pads, width = x.reshape(x.shape[:3]), g, (kh - 1 - pad_top, kw - 1 - pad_left), outputs
    blocks = parallel_blocks(x.shape[0], x[0].nbytes + g[0].nbytes, TAPS_BLOCK_BYTES)
    terms = buffer("weight_gradient_terms", (len(blocks), kh, kw, width), dW.dtype)

    def block(index, start, stop, slot):
        kernels.scalar_weight_stencil(scalars[start:stop], vectors[start:stop], *pads, terms[index])
    in_blocks(blocks, block)
    if outputs == 1:
        _add_in_order(dW[:, :, :, 0], terms)
    else:
        _add_in_order(dW[:, :, 0, :], terms[:, ::-1, ::-1])
    return dW


def _in_grid(grid, image, top, left):
    """grid (N, Hg, Wg, C) <- zeros with ``image`` (N, H, W, C) at (top, left), cut at the grid's edge."""
    rows, columns = min(image.shape[1], grid.shape[1] - top), min(image.shape[2], grid.shape[2] - left)
    grid[:, :top] = 0
    grid[:, top + rows:] = 0
    grid[:, top:top + rows, :left] = 0
    grid[:, top:top + rows, left + columns:] = 0
    grid[:, top:top + rows, left:left + columns] = image[:, :rows, :columns]
    return grid


# --------------------------------------------------------------------------------------------------------
# Products
# --------------------------------------------------------------------------------------------------------
def product(a, b, out):
    """out <- a @ b (M rows, M large): BLAS, or for an inner dimension of at most NARROW_PRODUCT_WIDTH and
    at least WIDE_PRODUCT_COLUMNS columns the single-threaded kernel npae.kernels.convolution.narrow_product,
    about as fast as one BLAS thread and several times faster than two on a busy machine (its docstring)."""
    if a.shape[1] <= NARROW_PRODUCT_WIDTH and b.shape[1] >= WIDE_PRODUCT_COLUMNS:
        kernels.narrow_product(np.ascontiguousarray(a), np.ascontiguousarray(b), out)
    else:
        blas.matmul(a, b, out)
    return out


def transposed_product(a, b, out):
    """out <- a^T b for a (K, p) and b (K, q) with K large (a weight gradient: a sum over every pixel).

    Two OpenBLAS (0.3.31) slow cases, measured with 2 threads at the paper's shapes, batch 150, avoided:
    * the transposed left operand having few rows: x^T G at the 64 -> 32 layer (x^T: 64 rows, G: 288
      columns, K = 101,400 pixels) took 2.4 s against 0.13 s for G^T x, the same numbers; so the wider
      operand goes on the left, and the result is written through out.T when that is b;
    * a narrow result (9 x 64 for the first and the last layer): one product over all 117,600 pixels took
      from 0.05 to 3 s from call to call on a busy machine; the single-threaded kernel
      npae.kernels.convolution.narrow_transposed_product takes it in one pass.
    """
    if a.shape[1] > b.shape[1]:
        a, b, out = b, a, out.T    # the kernel vectorises over b's columns; BLAS wants the wider on the left
    if a.shape[1] <= NARROW_PRODUCT_WIDTH:
        if out.flags.c_contiguous and a.flags.c_contiguous and b.flags.c_contiguous:
            kernels.narrow_transposed_product(a, b, out)
        else:
            result = np.empty(out.shape, dtype=out.dtype)
            kernels.narrow_transposed_product(np.ascontiguousarray(a), np.ascontiguousarray(b), result)
            out[...] = result
        return out
    blas.matmul(b.T, a, out.T)
    return out


def image_blocks(images, bytes_per_image, product_columns, block_bytes=None):
    """(start, stop) ranges over ``images`` whose scratch arrays fit in a block (one image at least):
    ``block_bytes``, or by default the im2col sizes above for a product of ``product_columns`` columns."""
    if block_bytes is None:
        block_bytes = NARROW_COLUMNS_BLOCK_BYTES if product_columns <= NARROW_PRODUCT_COLUMNS else COLUMNS_BLOCK_BYTES
    per_block = max(1, block_bytes // max(bytes_per_image, 1))
    return [(start, min(start + per_block, images)) for start in range(0, images, per_block)]
