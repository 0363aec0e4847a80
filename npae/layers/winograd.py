"""Winograd's minimal filtering F(2x2, 3x3): a 3 x 3 correlation with 2.25x fewer multiplications.

A teaching path beside :mod:`npae.layers.correlation`, which runs it only when forced (``correlation.forced
["correlate"] = "winograd"``; ``benchmarks/bench_conv.py`` times it against the other strategies).

The idea (Winograd 1980; for CNNs Lavin and Gray 2016, "Fast Algorithms for Convolutional Neural
Networks").  Two outputs of a 3-tap correlation, y0 = d0 g0 + d1 g1 + d2 g2 and y1 = d1 g0 + d2 g1 + d3 g2,
take 6 multiplications directly, but 4 this way:

    m1 = (d0 - d2) g0     m2 = (d1 + d2) (g0 + g1 + g2) / 2     m3 = (d2 - d1) (g0 - g1 + g2) / 2     m4 = (d1 - d3) g2
    y0 = m1 + m2 + m3     y1 = m2 - m3 - m4

(the sums of g are computed once per kernel, not per output).  In matrix form, for a tile d of 4 inputs,
y = A^T [(G g) * (B^T d)] with * elementwise.  Nested in two dimensions, a 4 x 4 tile of the input gives
a 2 x 2 tile of the output:

    Y = A^T [ (G g G^T) * (B^T d B) ] A          d (4, 4),  g (3, 3),  Y (2, 2)

        B^T = [[1,  0, -1,  0],      G = [[1,    0,   0 ],      A^T = [[1, 1,  1,  0],
               [0,  1,  1,  0],           [1/2,  1/2, 1/2],             [0, 1, -1, -1]]
               [0, -1,  1,  0],           [1/2, -1/2, 1/2],
               [0,  1,  0, -1]]           [0,    0,   1 ]]

16 multiplications per 2 x 2 outputs instead of 4 x 9 = 36: 2.25x fewer.  With C input and O output
channels the elementwise product becomes a sum over c, so for each of the 16 positions (xi, nu) of the
transformed tile it is one matrix product over all T tiles of the batch:

    U[xi, nu, c, o] = (G W[:, :, c, o] G^T)[xi, nu]            the kernel, transformed once   (4, 4, C, O)
    V[xi, nu, t, c] = (B^T d[t, :, :, c] B)[xi, nu]            every input tile               (4, 4, T, C)
    M[xi, nu]       = V[xi, nu] @ U[xi, nu]                    16 products (T, C) @ (C, O)    (4, 4, T, O)
    Y[t, :, :, o]   = A^T M[:, :, t, o] A                      every output tile              (T, 2, 2, O)

Input tiles overlap by 2 pixels (tile t = (i, j) starts at row 2i, column 2j); an odd output size is
padded to whole tiles with zeros and cropped.

Accuracy.  The transforms add and subtract inputs before the products (B^T d B) and outputs after them
(A^T M A), which costs a few roundings; but each product's sum runs over C terms instead of im2col's
9 C, which saves some.  Measured (float32 against the float64 truth, largest error relative to the
largest output; normal and uniform inputs, Glorot-scaled weights; tests/test_convolution.py checks it):

    layer (3 x 3)            im2col float32   winograd float32
    64 -> 32 valid, 26x26    5.9e-7           3.3e-7 - 4.4e-7
    32 -> 32 same,  24x24    6.5e-7 - 7.4e-7  2.6e-7 - 2.9e-7
    16 -> 16 valid, 27x27    3.5e-7 - 4.6e-7  1.8e-7 - 2.0e-7
    64 -> 1  same,  28x28    2.4e-7 - 2.7e-7  1.6e-7 - 2.0e-7
    1 -> 64  valid, 28x28    1.3e-7 - 1.5e-7  1.9e-7 - 2.9e-7   (one channel: no sum to shorten)

so up to 2.2x the direct result's error with one input channel (a 9-term sum, which the transforms'
roundings outweigh), and smaller wherever there are channels to sum.  F(4x4, 3x3)
would save 4x the multiplications, but its transforms have entries up to 8 and lose several bits more
(Lavin and Gray, section 4): not here.

Speed.  Written in NumPy to read like the formulas above (the transforms as additions of slices, the 16
products as one batched ``np.matmul``), it is a lesson, not the fast path: on the paper's 64 -> 32 layer
the forward took 569 ms against im2col's 141 ms and taps' 92 ms (batch 150, 2-core AMD EPYC, highest
priority while other programs ran); the products themselves are cheap, the transforms' passes over
arrays 4x (V) and 4x (M) the size of the input and output are not, and would need a fused kernel per
tile.  benchmarks/bench_conv.py prints the ratio in each run.
"""
import numpy as np

B_T = np.array([[1, 0, -1, 0],
                [0, 1, 1, 0],
                [0, -1, 1, 0],
                [0, 1, 0, -1]], dtype=np.float64)
G = np.array([[1, 0, 0],
              [0.5, 0.5, 0.5],
              [0.5, -0.5, 0.5],
              [0, 0, 1]], dtype=np.float64)
A_T = np.array([[1, 1, 1, 0],
                [0, 1, -1, -1]], dtype=np.float64)


def transform_kernel(W):
    """U = G W G^T for every (c, o): W (3, 3, C, O) -> U (4, 4, C, O), in W's dtype."""
    return np.einsum("ai,ijco,bj->abco", G.astype(W.dtype), W, G.astype(W.dtype))


def input_tiles(x, tiles_h, tiles_w):
    """The overlapping 4 x 4 tiles of x (N, 2 tiles_h + 2, 2 tiles_w + 2, C), tile (i, j) at row 2i and
    column 2j: a read-only view (N, tiles_h, tiles_w, 4, 4, C), nothing copied."""
    n, _, _, channels = x.shape
    s_n, s_h, s_w, s_c = x.strides
    return np.lib.stride_tricks.as_strided(x, (n, tiles_h, tiles_w, 4, 4, channels),
                                           (s_n, 2 * s_h, 2 * s_w, s_h, s_w, s_c), writeable=False)


def winograd_correlate(x, W, pads=(0, 0), out=None):
    """z = x correlated with W (3 x 3, stride 1) by F(2x2, 3x3); the same numbers as
    :func:`npae.layers.correlation.correlate` up to rounding.

    x (N, H, W, C), W (3, 3, C, O), pads (p_t, p_l): zeros before the image.  The output z (N, Ho, Wo, O)
    is ``out``'s shape if given (written into it), else (H + 2 p_t - 2, W + 2 p_l - 2) as for a "valid"
    (0, 0) or "same" (1, 1) Conv2D; zeros lie after the image as far as the output needs.
    """
    n, height, width, channels = x.shape
    outputs = W.shape[3]
    pad_top, pad_left = pads
    out_h, out_w = (out.shape[1], out.shape[2]) if out is not None else (height + 2 * pad_top - 2,
                                                                           width + 2 * pad_left - 2)
    tiles_h, tiles_w = -(-out_h // 2), -(-out_w // 2)                      # whole 2 x 2 output tiles
    grid = np.zeros((n, 2 * tiles_h + 2, 2 * tiles_w + 2, channels), x.dtype)   # padded, rounded up to tiles
    rows, columns = min(height, grid.shape[1] - pad_top), min(width, grid.shape[2] - pad_left)
    grid[:, pad_top:pad_top + rows, pad_left:pad_left + columns] = x[:, :rows, :columns]
    d = input_tiles(grid, tiles_h, tiles_w)                                # (N, th, tw, 4, 4, C)
    tiles = n * tiles_h * tiles_w
    V = _b_transpose(_b_transpose(d, axis=3), axis=4)                      # B^T d B  (N, th, tw, 4, 4, C)
    V = np.ascontiguousarray(V.reshape(tiles, 16, channels).transpose(1, 0, 2))        # (16, T, C)
    U = transform_kernel(W.astype(x.dtype, copy=False))                    # G W G^T  (4, 4, C, O)
    M = np.matmul(V, U.reshape(16, channels, outputs))                     # 16 products   (16, T, O)
    M = M.reshape(4, 4, tiles, outputs)
    Y = _a_transpose(_a_transpose(M, axis=0), axis=1)                      # A^T M A  (2, 2, T, O)
    z = Y.reshape(2, 2, n, tiles_h, tiles_w, outputs).transpose(2, 3, 0, 4, 1, 5)
    z = z.reshape(n, 2 * tiles_h, 2 * tiles_w, outputs)[:, :out_h, :out_w]
    if out is None:
        return np.ascontiguousarray(z)
    out[...] = z
    return out


def _b_transpose(d, axis):
    """B^T applied along ``axis`` (of length 4) of d: the rows of B^T are additions only (module docstring)."""
    d0, d1, d2, d3 = (np.take(d, k, axis=axis) for k in range(4))
    return np.stack([d0 - d2, d1 + d2, d2 - d1, d1 - d3], axis=axis)


def _a_transpose(m, axis):
    """A^T applied along ``axis`` (of length 4) of m: two outputs from four, additions only."""
    m0, m1, m2, m3 = (np.take(m, k, axis=axis) for k in range(4))
    return np.stack([m0 + m1 + m2, m1 - m2 - m3], axis=axis)
