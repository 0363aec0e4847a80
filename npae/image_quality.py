"""How close a decoded image is to the original: SSIM (and MAE; PSNR is :func:`npae.metrics.psnr`).

PSNR and MAE compare pixels one by one.  SSIM (Wang, Bovik, Sheikh and Simoncelli 2004, "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 13(4)) compares *local statistics*:
around each pixel, a Gaussian window w (11 x 11, sigma = 1.5, weights summing to 1) gives

    mu_x = sum w x          sigma_x^2 = sum w x^2 - mu_x^2          sigma_xy = sum w x y - mu_x mu_y

(and the same for y), and

    SSIM(x, y) = (2 mu_x mu_y + C1) (2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2))
    C1 = (K1 L)^2, C2 = (K2 L)^2, K1 = 0.01, K2 = 0.03, L = the data range (1 for pixels in [0, 1])

which is 1 exactly when the two windows are equal, and falls as their brightness (the mu terms), contrast
and structure (the sigma terms) differ.  The image's SSIM is the mean of this map over every position
where the window fits entirely inside the image ("valid" filtering, as in the authors' ``ssim_index.m``):
an 18 x 18 map for a 28 x 28 digit.  The window is separable (w = g g^T), so it is applied as two 1-D
filters, along rows then columns.
"""
import numpy as np

__all__ = ["gaussian_window", "ssim", "ssim_map", "mean_absolute_error"]

K1, K2 = 0.01, 0.03
WINDOW_SIZE, WINDOW_SIGMA = 11, 1.5


def gaussian_window(size=WINDOW_SIZE, sigma=WINDOW_SIGMA):
    """The 1-D Gaussian g (size,), g_i proportional to exp(-(i - c)^2 / (2 sigma^2)), summing to 1."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-offsets ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(images, g):
    """sum_ab g_a g_b images[..., i + a, j + b]: the 2-D window w = g g^T, "valid" positions only.
    images (N, H, W) -> (N, H - s + 1, W - s + 1)."""
    rows = np.lib.stride_tricks.sliding_window_view(images, g.size, axis=2) @ g          # (N, H, W')
    return np.lib.stride_tricks.sliding_window_view(rows, g.size, axis=1) @ g            # (N, H', W')


def _as_images(x, argument, shape):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2 and shape is not None:
        if x.shape[1] != shape[0] * shape[1]:
            raise ValueError(f"{argument} has {x.shape[1]} values per row, not {shape[0]} x {shape[1]}")
        x = x.reshape(-1, *shape)
    if x.ndim != 3:
        raise ValueError(f"{argument} must be images (N, H, W), or rows (N, H * W) with image_shape, "
                         f"got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{argument} must be finite (no NaN or inf)")
    return x


def ssim_map(x, y, data_range=1.0, image_shape=(28, 28)):
    """The SSIM map of each pair of images (see the module docstring): (N, H - 10, W - 10) float64.

    x, y : (N, H, W), or (N, H * W) rows of ``image_shape``; H, W >= 11.
    """
    x, y = _as_images(x, "x", image_shape), _as_images(y, "y", image_shape)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if min(x.shape[1:]) < WINDOW_SIZE:
        raise ValueError(f"images must be at least {WINDOW_SIZE} x {WINDOW_SIZE} (the window), got {x.shape[1:]}")
    if not (np.isfinite(data_range) and data_range > 0):
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    g = gaussian_window()
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    var_x = _filter_valid(x * x, g) - mu_x ** 2
    var_y = _filter_valid(y * y, g) - mu_y ** 2
    cov_xy = _filter_valid(x * y, g) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))


def ssim(x, y, data_range=1.0, image_shape=(28, 28)):
    """Mean SSIM of each pair (N,) float64: the mean of :func:`ssim_map` over each image's positions."""
    return ssim_map(x, y, data_range, image_shape).mean(axis=(1, 2))


def mean_absolute_error(x, y):
    """mean |x - y| over every element, in float64 (the same pixels PSNR compares)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    return float(np.mean(np.abs(x - y)))
