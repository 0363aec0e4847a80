"""The data movement of convolutional layers: im2col / col2im, max pooling, nearest upsampling.

Images are channels last, as in Keras: x (N, H, W, C).  A 2-D convolution with a kh x kw kernel,
stride s and ``pad_top``/``pad_left`` rows/columns of zeros before the image reads, for output pixel
(i, j), the window

    x[n, i s + di - pad_top, j s + dj - pad_left, c]      di < kh, dj < kw, c < C   (0 outside the image)

*im2col* copies each window into one row of a matrix, the "columns" (N, Ho, Wo, kh kw C), in the order
(di, dj, c): the order of a Keras kernel W (kh, kw, C, C_out) flattened to (kh kw C, C_out).  The
convolution is then one matrix product, columns @ W, done by BLAS.  *col2im* is its adjoint (its
transpose): it adds each row of a columns array back onto the window it came from, and so turns
dL/dcolumns into dL/dx (overlapping windows add up).  ``npae.layers.convolution`` explains which layer
uses which.

Why im2col + BLAS rather than direct loops (measured by ``benchmarks/bench_conv.py``, float32, batch
150, the paper's 64 -> 32 channel 3x3 convolution on 26 x 26 images, one thread): a direct Numba loop
(output channels innermost, a vector of 32 accumulated in place for each of the 576 products of a
window) took 2.6 to 2.9 s for the forward pass, 13 to 20 times the 0.15 to 0.20 s of im2col followed by
OpenBLAS' sgemm, whose register blocking and packing LLVM does not reproduce from such a loop.
Channels last makes each kernel row of a window, kw C values, one contiguous run of memory in x and in
the columns, so im2col and col2im are runs of contiguous copies and adds.

Why the kernels look the way they do: loops with the channel innermost over C-contiguous arrays, so the
inner loop is a contiguous copy or add that LLVM vectorises; padding handled by a bounds test per
(di, dj) rather than a padded copy of x (the references pad, which is easier to read).  Except where a
pixel has few channels: LLVM's vectorised loop body takes 32 float32 values at a time, and a loop over 8
or 16 runs as scalar code.  There the stencils work on whole image rows (the channels spread along them)
and max pooling writes a 2 x 2 window out as selects; their docstrings give the measurements.  No
``parallel=True``: these kernels run between BLAS calls (see ``npae.kernels.elementwise``).
The kernels trust their arguments' shapes; the layers (``npae.layers``) check them.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._jit import kernel_pair, numba_kernel


def _padded(x, pad_top, pad_left, height, width, fill):
    """x (N, H, W, C) inside a (N, height, width, C) array of ``fill``, its first pixel at (pad_top,
    pad_left); rows or columns of x beyond the array are cut (a "valid" window that does not reach them)."""
    batch, rows, columns, channels = x.shape
    padded = np.full((batch, max(height, pad_top + rows), max(width, pad_left + columns), channels), fill,
                     dtype=x.dtype)
    padded[:, pad_top:pad_top + rows, pad_left:pad_left + columns] = x
    return padded[:, :height, :width]


def window_view(x, window_h, window_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w, fill=0):
    """Every window of x as a read-only view (N, Ho, Wo, kh, kw, C), padding filled with ``fill``."""
    needed_h, needed_w = (out_h - 1) * stride_h + window_h, (out_w - 1) * stride_w + window_w
    padded = _padded(x, pad_top, pad_left, needed_h, needed_w, fill)
    windows = sliding_window_view(padded, (window_h, window_w), axis=(1, 2))  # (N, *, *, C, kh, kw)
    windows = windows[:, ::stride_h, ::stride_w]                              # (N, Ho, Wo, C, kh, kw)
    return windows.transpose(0, 1, 2, 4, 5, 3)                                # (N, Ho, Wo, kh, kw, C)


# --------------------------------------------------------------------------------------------------------
# im2col: columns[n, i, j, (di kw + dj) C + c] = x[n, i s_h + di - pad_top, j s_w + dj - pad_left, c]
# --------------------------------------------------------------------------------------------------------
def im2col_numpy(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, columns):
    """Copy every kh x kw window of x (N, H, W, C) into a row of ``columns`` (N, Ho, Wo, kh kw C).

    Ho and Wo are read from ``columns``; zeros stand in for pixels outside the image (the padding).
    """
    batch, out_h, out_w, _ = columns.shape
    windows = window_view(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out_h, out_w)
    columns[...] = windows.reshape(batch, out_h, out_w, -1)


@numba_kernel(release_gil=True)
def im2col_numba(x, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, columns):
    """Same as the reference without the padded copy: a bounds test per window row, then one contiguous
    copy of kw C values (or C values per pixel where the row crosses the padding).  Slice assignments:
    measured 8x faster than the same copy written as a scalar loop over 4-D indices, which LLVM did not
    vectorise (1.4 ms against 11 ms for ten 26 x 26 x 64 images, a memcpy of the result takes 0.5 ms)."""
    batch, height, width, channels = x.shape
    _, out_h, out_w, _ = columns.shape
    image_rows = x.reshape(batch, height, width * channels)  # a window row is one run of this
    run = kernel_w * channels
    for n in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                window = columns[n, i, j]
                left = j * stride_w - pad_left
                k = 0
                for di in range(kernel_h):
                    row = i * stride_h + di - pad_top
                    if 0 <= row < height and left >= 0 and left + kernel_w <= width:
                        window[k:k + run] = image_rows[n, row, left * channels:left * channels + run]
                    else:
                        for dj in range(kernel_w):
                            column = left + dj
                            start = k + dj * channels
                            if 0 <= row < height and 0 <= column < width:
                                window[start:start + channels] = x[n, row, column]
                            else:
                                window[start:start + channels] = 0
                    k += run


# --------------------------------------------------------------------------------------------------------
# col2im, the adjoint of im2col: out[n, i s_h + di - pad_top, j s_w + dj - pad_left, c] += columns[n, i, j, ...]
# --------------------------------------------------------------------------------------------------------
def col2im_numpy(columns, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out, accumulate):
    """Add each row of ``columns`` (N, Ho, Wo, kh kw C) onto its window of ``out`` (N, H, W, C); values
    that fall on the padding are dropped.  ``accumulate=False`` writes the sums instead of adding them."""
    batch, height, width, channels = out.shape
    _, out_h, out_w, _ = columns.shape
    needed_h, needed_w = (out_h - 1) * stride_h + kernel_h, (out_w - 1) * stride_w + kernel_w
    padded = np.zeros((batch, max(needed_h, pad_top + height), max(needed_w, pad_left + width), channels),
                      dtype=out.dtype)
    windows = columns.reshape(batch, out_h, out_w, kernel_h, kernel_w, channels)
    last_i, last_j = (out_h - 1) * stride_h + 1, (out_w - 1) * stride_w + 1
    for di in range(kernel_h):
        for dj in range(kernel_w):  # window offset (di, dj) of every output pixel at once
            padded[:, di:di + last_i:stride_h, dj:dj + last_j:stride_w] += windows[:, :, :, di, dj]
    inside = padded[:, pad_top:pad_top + height, pad_left:pad_left + width]
    if accumulate:
        out += inside
    else:
        out[...] = inside


@numba_kernel(release_gil=True)
def col2im_numba(columns, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, out, accumulate):
    """Same as the reference without the padded array: the columns are read once, in order, each window
    row added onto its run of kw C values of ``out`` with one slice addition (8x faster than a scalar
    loop, as in im2col_numba)."""
    batch, height, width, channels = out.shape
    _, out_h, out_w, _ = columns.shape
    if not accumulate:
        out[...] = 0
    image_rows = out.reshape(batch, height, width * channels)
    run = kernel_w * channels
    for n in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                window = columns[n, i, j]
                left = j * stride_w - pad_left
                k = 0
                for di in range(kernel_h):
                    row = i * stride_h + di - pad_top
                    if 0 <= row < height and left >= 0 and left + kernel_w <= width:
                        image_rows[n, row, left * channels:left * channels + run] += window[k:k + run]
                    elif 0 <= row < height:
                        for dj in range(kernel_w):
                            column = left + dj
                            if 0 <= column < width:
                                start = k + dj * channels
                                out[n, row, column] += window[start:start + channels]
                    k += run


# --------------------------------------------------------------------------------------------------------
# Taps: a stride-1 correlation as ONE product and a shifted sum.  The product t = x W_taps (N H W, kh kw O)
# gives, for every pixel, its contribution through each kernel tap (di, dj); output pixel (i, j) then adds
# the contributions of the kh kw pixels of its window:  out[n, i, j] = sum_{di, dj} t[n, i + di - p_t, j + dj - p_l, tap (di, dj)]
# --------------------------------------------------------------------------------------------------------
def gather_taps_numpy(taps, kernel_h, kernel_w, pad_top, pad_left, out):
    """out (N, Ho, Wo, O) <- sum over the taps (di, dj) of taps (N, H, W, kh kw O) read at pixel
    (i + di - pad_top, j + dj - pad_left), block (di kw + dj) of O values; 0 outside the image."""
    batch, out_h, out_w, channels = out.shape
    padded = _padded(taps, pad_top, pad_left, out_h + kernel_h - 1, out_w + kernel_w - 1, 0)  # zeros around
    padded = padded.reshape(padded.shape[:3] + (kernel_h, kernel_w, channels))    # (N, *, *, kh, kw, O)
    out[...] = sum(padded[:, di:di + out_h, dj:dj + out_w, di, dj] for di in range(kernel_h) for dj in range(kernel_w))


@numba_kernel(release_gil=True)
def gather_taps_numba(taps, kernel_h, kernel_w, pad_top, pad_left, out):
    """Each output pixel's O sums in one pass over its window (a bounds test per tap for the padding); the
    inner loop adds O contiguous values, which LLVM vectorises.  Written once per output: no zero fill and
    no read-modify-write of ``out`` per tap, as col2im would do."""
    batch, height, width, _ = taps.shape
    _, out_h, out_w, channels = out.shape
    for n in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                target = out[n, i, j]
                target[:] = 0
                for di in range(kernel_h):
                    row = i + di - pad_top
                    if row < 0 or row >= height:
                        continue
                    for dj in range(kernel_w):
                        column = j + dj - pad_left
                        if column < 0 or column >= width:
                            continue
                        source = taps[n, row, column]
                        start = (di * kernel_w + dj) * channels
                        for c in range(channels):
                            target[c] += source[start + c]


# --------------------------------------------------------------------------------------------------------
# Stencils: a convolution with one input or one output channel, where a matrix product has nothing to do
# (an inner dimension or an output width of 1).  A scalar image s times a vector per kernel tap.
# --------------------------------------------------------------------------------------------------------
def scalar_stencil_numpy(s, taps, pad_top, pad_left, out):
    """out (N, Ho, Wo, O) <- sum_{di, dj} s[n, i + di - pad_top, j + dj - pad_left] taps[di, dj, :], for
    s (N, H, W) one channel (0 outside the image) and taps (kh, kw, O)."""
    kernel_h, kernel_w, _ = taps.shape
    _, out_h, out_w, _ = out.shape
    padded = _padded(s[:, :, :, None], pad_top, pad_left, out_h + kernel_h - 1, out_w + kernel_w - 1, 0)
    out[...] = sum(padded[:, di:di + out_h, dj:dj + out_w] * taps[di, dj] for di in range(kernel_h)
                   for dj in range(kernel_w))


@numba_kernel(fused_multiply_add=True, inline=True)
def _add_shifted_product(target, shifted, factors, shift):
    """target[k] += shifted[k + shift] * factors[k] for every k where shifted[k + shift] exists (the image's
    edge: zeros beyond it add nothing).  Slices first, so that the loop's indices start at 0: LLVM did not
    vectorise the same loop indexed by k + shift (6x slower)."""
    first, last = max(0, -shift), min(target.shape[0], shifted.shape[0] - shift)
    target, shifted, factors = target[first:last], shifted[first + shift:last + shift], factors[first:last]
    for k in range(last - first):
        target[k] += shifted[k] * factors[k]


@numba_kernel(fused_multiply_add=True, release_gil=True)
def scalar_stencil_numba(s, taps, pad_top, pad_left, out):
    """Row by row.  Output row (n, i) is Wo O contiguous values, and for each tap (di, dj) it adds

        row_out[k] += spread[k + (dj - pad_left) O] * tiled[di, dj, k]        k = j O + o

    where ``spread`` is input row i + di - pad_top with each pixel repeated O times (value j' at
    k = j' O .. j' O + O - 1) and ``tiled`` is the tap's O weights repeated Wo times: one long multiply-add
    per tap, the terms added in the reference's order (each with one rounding: FMA).  Why not a loop per
    pixel: its inner loop over O = 16 values is shorter than the 32 that LLVM's vectorised loop body takes
    at a time, so it ran as scalar code: 5.3 ms against 2.8 for 150 images of 28 x 28, O = 16 (one thread,
    AMD EPYC, the two interleaved); a tie at O = 64 (9.9 against 9.6, 11.2 against 11.9)."""
    batch, height, width = s.shape
    kernel_h, kernel_w, outputs = taps.shape
    _, out_h, out_w, _ = out.shape
    row_length = out_w * outputs
    tiled = np.empty((kernel_h, kernel_w, row_length), dtype=out.dtype)
    for di in range(kernel_h):
        for dj in range(kernel_w):
            for j in range(out_w):
                tiled[di, dj, j * outputs:(j + 1) * outputs] = taps[di, dj]
    spread = np.empty((height, width * outputs), dtype=out.dtype)     # one image's rows, spread
    for n in range(batch):
        for row in range(height):
            for j in range(width):
                spread[row, j * outputs:(j + 1) * outputs] = s[n, row, j]
        out_rows = out[n].reshape(out_h, row_length)
        for i in range(out_h):
            out_rows[i] = 0
            for di in range(kernel_h):
                row = i + di - pad_top
                if row < 0 or row >= height:
                    continue
                for dj in range(kernel_w):
                    _add_shifted_product(out_rows[i], spread[row], tiled[di, dj], (dj - pad_left) * outputs)


def scalar_weight_stencil_numpy(s, v, pad_top, pad_left, out):
    """out (kh, kw, C) <- sum_{n, i, j} s[n, i, j] v[n, i + di - pad_top, j + dj - pad_left, :] for
    s (N, Hs, Ws) one channel and v (N, Hv, Wv, C) (0 outside v): a weight gradient with one channel."""
    kernel_h, kernel_w, _ = out.shape
    _, height, width = s.shape
    padded = _padded(v, pad_top, pad_left, height + kernel_h - 1, width + kernel_w - 1, 0)
    for di in range(kernel_h):
        for dj in range(kernel_w):
            out[di, dj] = np.tensordot(s, padded[:, di:di + height, dj:dj + width], axes=3)


SPREAD_BELOW = 32   # narrower vectors go through spread rows (LLVM's vector loop body: 32 float32 values)


@numba_kernel(fused_multiply_add=True, release_gil=True)
def scalar_weight_stencil_numba(s, v, pad_top, pad_left, out):
    """out (kh kw C values) stays in the L1 cache while one pass over s adds to it; for C >= SPREAD_BELOW
    each pixel adds kh kw vectors of C (vectorised), for fewer channels the rows are spread (below)."""
    if out.shape[2] >= SPREAD_BELOW:
        _weight_stencil_by_pixels(s, v, pad_top, pad_left, out)
    else:
        _weight_stencil_by_rows(s, v, pad_top, pad_left, out)


@numba_kernel(fused_multiply_add=True)
def _weight_stencil_by_pixels(s, v, pad_top, pad_left, out):
    """Each pixel of s times the kh kw vectors of v under its window: out[di, dj, :] += s[n, i, j] v[...]."""
    batch, height, width = s.shape
    _, rows, columns, _ = v.shape
    kernel_h, kernel_w, channels = out.shape
    out[...] = 0
    for n in range(batch):
        for i in range(height):
            for j in range(width):
                value = s[n, i, j]
                for di in range(kernel_h):
                    row = i + di - pad_top
                    if row < 0 or row >= rows:
                        continue
                    for dj in range(kernel_w):
                        column = j + dj - pad_left
                        if column < 0 or column >= columns:
                            continue
                        source = v[n, row, column]
                        target = out[di, dj]
                        for c in range(channels):
                            target[c] += value * source[c]


@numba_kernel(fused_multiply_add=True)
def _weight_stencil_by_rows(s, v, pad_top, pad_left, out):
    """As scalar_stencil, row by row: each row i of s spread to C lanes (k = j C + c), and for each tap

        sums[di, dj, k] += spread[k] * v_row[k + (dj - pad_left) C]      v_row = row i + di - pad_top of v

    one long multiply-add into partial sums per (tap, j, c); at the end out[di, dj, c] = sum_j sums[di, dj,
    j C + c].  A pixel's C = 16 values are too few for LLVM's vector loop: this ran 2.1x faster than the
    pixel loop (150 images of 28 x 28, one thread, AMD EPYC), and with shorter running sums it lands closer
    to the float64 result (max error 1e-3 against 7e-3).  At C = 64 it took 1.3-1.5x as long: one more
    load per multiply-add, and the pixel loop vectorises there."""
    batch, height, width = s.shape
    _, rows, columns, _ = v.shape
    kernel_h, kernel_w, channels = out.shape
    row_length = width * channels
    sums = np.zeros((kernel_h, kernel_w, row_length), dtype=out.dtype)
    spread = np.empty(row_length, dtype=out.dtype)
    for n in range(batch):
        v_rows = v[n].reshape(rows, columns * channels)
        for i in range(height):
            for j in range(width):
                spread[j * channels:(j + 1) * channels] = s[n, i, j]
            for di in range(kernel_h):
                row = i + di - pad_top
                if row < 0 or row >= rows:
                    continue
                for dj in range(kernel_w):
                    _add_shifted_product(sums[di, dj], v_rows[row], spread, (dj - pad_left) * channels)
    for di in range(kernel_h):
        for dj in range(kernel_w):
            out[di, dj] = 0
            for j in range(width):
                out[di, dj] += sums[di, dj, j * channels:(j + 1) * channels]


# --------------------------------------------------------------------------------------------------------
# Max pooling: out[n, i, j, c] = max over the p x p window; argmax = the window position (di p + dj) of it
# --------------------------------------------------------------------------------------------------------
def max_pool_forward_numpy(x, pool, stride, pad_top, pad_left, out, argmax):
    """out (N, Ho, Wo, C) <- the maximum of each pool x pool window of x (N, H, W, C); argmax (int8, same
    shape) <- its position di pool + dj in the window.  PyTorch's rule, value for value:

    * the padding ("same") is not part of any window: a window of -infinity gives -infinity, and its
      gradient goes to its first pixel inside the image;
    * a NaN anywhere in a window makes its maximum NaN, and the position is that of its LAST NaN;
    * otherwise ties go to the first maximum in row-major order (np.argmax's choice).
    """
    batch, out_h, out_w, channels = out.shape
    windows = window_view(x, pool, pool, stride, stride, pad_top, pad_left, out_h, out_w, fill=-np.inf)
    flat = windows.reshape(batch, out_h, out_w, pool * pool, channels)            # (N, Ho, Wo, p p, C)
    inside = np.ones((1,) + x.shape[1:3] + (1,), dtype=bool)                     # True on the image's pixels
    image = window_view(inside, pool, pool, stride, stride, pad_top, pad_left, out_h, out_w, fill=False)
    image = image.reshape(1, out_h, out_w, pool * pool, 1)                         # False on the padding
    maximum = flat.max(axis=3)                                                     # NaN if the window has one
    first_maximum = np.argmax((flat == maximum[:, :, :, None]) & image, axis=3)   # padding never counts
    is_nan = np.isnan(flat)
    last_nan = pool * pool - 1 - np.argmax(is_nan[:, :, :, ::-1], axis=3)
    argmax[...] = np.where(is_nan.any(axis=3), last_nan, first_maximum)
    out[...] = maximum


@numba_kernel(inline=True)
def _inside(top, left, size, height, width):
    """Whether the size x size window whose first pixel is (top, left) lies wholly inside the image."""
    return top >= 0 and left >= 0 and top + size <= height and left + size <= width


@numba_kernel(release_gil=True)
def max_pool_forward_numba(x, pool, stride, pad_top, pad_left, out, argmax):
    """PyTorch's loop, channel innermost: the maximum starts at -inf at the window's first pixel inside the
    image, and a pixel replaces it if it is larger or NaN.

    A 2 x 2 window wholly inside the image (nearly every window of the usual MaxPool2D(2)) takes a second
    branch: the same rule as four branch-free selects per channel, the first pixel as the start (the same
    result: -inf or NaN there is kept exactly as the loop keeps it).  The general loop's compare-and-store
    is a branch the CPU cannot predict on real data; the selects measured 10x faster on 150 images of
    28 x 28 x 16 (0.81 ms against 8.1 ms, one thread, AMD EPYC).  Eight or fewer channels gain nothing."""
    batch, height, width, channels = x.shape
    _, out_h, out_w, _ = out.shape
    for n in range(batch):
        for i in range(out_h):
            top = i * stride - pad_top
            for j in range(out_w):
                left = j * stride - pad_left
                if pool == 2 and _inside(top, left, 2, height, width):
                    for c in range(channels):
                        best, where = x[n, top, left, c], 0
                        value = x[n, top, left + 1, c]
                        take = (value > best) | (value != value)
                        best, where = (value, 1) if take else (best, where)
                        value = x[n, top + 1, left, c]
                        take = (value > best) | (value != value)
                        best, where = (value, 2) if take else (best, where)
                        value = x[n, top + 1, left + 1, c]
                        take = (value > best) | (value != value)
                        best, where = (value, 3) if take else (best, where)
                        out[n, i, j, c] = best
                        argmax[n, i, j, c] = where
                    continue
                start = (max(top, 0) - top) * pool + max(left, 0) - left   # the first pixel inside the image
                for c in range(channels):
                    out[n, i, j, c] = -np.inf
                    argmax[n, i, j, c] = start
                for di in range(pool):
                    row = top + di
                    if row < 0 or row >= height:
                        continue
                    for dj in range(pool):
                        column = left + dj
                        if column < 0 or column >= width:
                            continue
                        position = di * pool + dj
                        for c in range(channels):
                            value = x[n, row, column, c]
                            if value > out[n, i, j, c] or value != value:
                                out[n, i, j, c] = value
                                argmax[n, i, j, c] = position


def max_pool_backward_numpy(grad_out, argmax, pool, stride, pad_top, pad_left, grad_x):
    """grad_x (N, H, W, C) <- each window's gradient grad_out[n, i, j, c], put on the pixel that was its
    maximum (argmax), zeros elsewhere; overlapping windows would add up."""
    batch, height, width, channels = grad_x.shape
    _, out_h, out_w, _ = grad_out.shape
    spread = np.zeros((batch, out_h, out_w, pool * pool, channels), dtype=grad_x.dtype)
    np.put_along_axis(spread, argmax[:, :, :, None, :].astype(np.intp), grad_out[:, :, :, None, :], axis=3)
    col2im_numpy(spread.reshape(batch, out_h, out_w, -1), pool, pool, stride, stride, pad_top, pad_left, grad_x,
                 False)


@numba_kernel(release_gil=True)
def max_pool_backward_numba(grad_out, argmax, pool, stride, pad_top, pad_left, grad_x):
    """One add per output value, onto the pixel its window's maximum came from.  In a 2 x 2 window wholly
    inside the image (see the forward) that pixel is (top + position // 2, left + position % 2), taken
    with a shift and a mask: the integer divisions by a pool size known only at run time cost more than
    the rest (1.4 ms against 5.6 for 150 images of 28 x 28 x 16, one thread, AMD EPYC)."""
    batch, height, width, channels = grad_x.shape
    _, out_h, out_w, _ = grad_out.shape
    grad_x[...] = 0
    for n in range(batch):
        for i in range(out_h):
            top = i * stride - pad_top
            for j in range(out_w):
                left = j * stride - pad_left
                if pool == 2 and _inside(top, left, 2, height, width):
                    for c in range(channels):
                        position = argmax[n, i, j, c]
                        grad_x[n, top + (position >> 1), left + (position & 1), c] += grad_out[n, i, j, c]
                    continue
                for c in range(channels):
                    position = argmax[n, i, j, c]
                    row = i * stride + position // pool - pad_top
                    column = j * stride + position % pool - pad_left
                    grad_x[n, row, column, c] += grad_out[n, i, j, c]


# --------------------------------------------------------------------------------------------------------
# Nearest upsampling: out[n, i, j, c] = x[n, i // s, j // s, c]; its adjoint sums each s x s block
# --------------------------------------------------------------------------------------------------------
def upsample_nearest_numpy(x, size, out):
    """out (N, s H, s W, C) <- every pixel of x (N, H, W, C) repeated s times along each axis."""
    out[...] = np.repeat(np.repeat(x, size, axis=1), size, axis=2)


@numba_kernel(release_gil=True)
def upsample_nearest_numba(x, size, out):
    """Row by row: each input row of C values is copied s times along the width, and that output row s
    times along the height; no intermediate array (the reference makes two)."""
    batch, height, width, channels = x.shape
    for n in range(batch):
        for i in range(height):
            first = i * size
            for j in range(width):
                for b in range(size):
                    for c in range(channels):
                        out[n, first, j * size + b, c] = x[n, i, j, c]
            for a in range(1, size):
                for jj in range(width * size):
                    for c in range(channels):
                        out[n, first + a, jj, c] = out[n, first, jj, c]


def upsample_nearest_backward_numpy(grad_out, size, grad_x):
    """grad_x (N, H, W, C) <- the sum of grad_out (N, s H, s W, C) over each s x s block."""
    batch, height, width, channels = grad_x.shape
    grad_x[...] = grad_out.reshape(batch, height, size, width, size, channels).sum(axis=(2, 4))


@numba_kernel(release_gil=True)
def upsample_nearest_backward_numba(grad_out, size, grad_x):
    """Accumulates in the order of grad_out, the channel innermost."""
    batch, height, width, channels = grad_x.shape
    grad_x[...] = 0
    for n in range(batch):
        for ii in range(height * size):
            i = ii // size
            for jj in range(width * size):
                j = jj // size
                for c in range(channels):
                    grad_x[n, i, j, c] += grad_out[n, ii, jj, c]


# --------------------------------------------------------------------------------------------------------
# Narrow matrix products: a 3x3 kernel over one channel (inner dimension 9), or 9 outputs per pixel
# --------------------------------------------------------------------------------------------------------
def narrow_product_numpy(a, b, out):
    """out (M, N) <- a (M, K) @ b (K, N), for a small inner dimension K (9: a 3x3 kernel over one channel)."""
    np.matmul(a, b, out=out)


@numba_kernel(fused_multiply_add=True, release_gil=True)
def narrow_product_numba(a, b, out):
    """Row by row, the N sums of a row in a local accumulator, each of the K terms a SIMD multiply-add over
    them; single threaded.  Measured for the (117,600 x 9) @ (9 x 64) product of the paper's model on a
    busy machine (load ~5 on 2 cores): 8.9 ms, against 7.2 ms for OpenBLAS on one thread and 44 ms on two
    (its threads wait for each other longer than they compute).  Only for K small and N at least 16: for a
    narrow N this loop is several times slower than BLAS (61 ms against 7 ms for 64 x 9)."""
    rows, inner = a.shape
    columns = b.shape[1]
    sums = np.empty(columns, dtype=out.dtype)
    for i in range(rows):
        for j in range(columns):
            sums[j] = 0
        for k in range(inner):
            value = a[i, k]
            for j in range(columns):
                sums[j] += value * b[k, j]
        for j in range(columns):
            out[i, j] = sums[j]


def narrow_transposed_product_numpy(a, b, out):
    """out (p, q) <- a^T b for a (K, p), b (K, q), K large and p q small (a weight gradient of a narrow layer)."""
    np.matmul(a.T, b, out=out)


@numba_kernel(fused_multiply_add=True, release_gil=True)
def narrow_transposed_product_numba(a, b, out):
    """One pass over the K rows of a and b, in order; out (p q values) stays in the L1 cache and each
    row adds p SIMD multiply-adds over q columns to it.  Single threaded: for the paper's first layer's
    weight gradient (K = 101,400 or 117,600 pixels, 9 x 64 results) 4 to 18 ms on a busy machine,
    against 6 to 10 ms for OpenBLAS on one thread and 22 to 63 ms on two."""
    rows, left = a.shape
    right = b.shape[1]
    out[...] = 0
    for r in range(rows):
        source = a[r]
        weights = b[r]
        for i in range(left):
            value = source[i]
            target = out[i]
            for j in range(right):
                target[j] += value * weights[j]


im2col = kernel_pair(im2col_numpy, im2col_numba)
col2im = kernel_pair(col2im_numpy, col2im_numba)
max_pool_forward = kernel_pair(max_pool_forward_numpy, max_pool_forward_numba)
max_pool_backward = kernel_pair(max_pool_backward_numpy, max_pool_backward_numba)
upsample_nearest = kernel_pair(upsample_nearest_numpy, upsample_nearest_numba)
upsample_nearest_backward = kernel_pair(upsample_nearest_backward_numpy, upsample_nearest_backward_numba)
gather_taps = kernel_pair(gather_taps_numpy, gather_taps_numba)
scalar_stencil = kernel_pair(scalar_stencil_numpy, scalar_stencil_numba)
scalar_weight_stencil = kernel_pair(scalar_weight_stencil_numpy, scalar_weight_stencil_numba)
narrow_product = kernel_pair(narrow_product_numpy, narrow_product_numba)
narrow_transposed_product = kernel_pair(narrow_transposed_product_numpy, narrow_transposed_product_numba)
