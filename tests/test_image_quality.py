"""npae.image_quality: SSIM against hand-worked cases; npae.image_codecs: sizes and round trips."""
import numpy as np
import pytest

from npae import image_codecs, image_quality
from npae.image_quality import K1, K2, mean_absolute_error, ssim, ssim_map


def test_gaussian_window_sums_to_one_and_is_symmetric():
    g = image_quality.gaussian_window()
    assert g.shape == (11,) and g.sum() == pytest.approx(1)
    np.testing.assert_allclose(g, g[::-1])
    assert g[5] / g[4] == pytest.approx(np.exp(1 / (2 * 1.5 ** 2)))


def test_identical_images_score_one(rng):
    x = rng.random((3, 28, 28))
    np.testing.assert_allclose(ssim(x, x), 1.0)


def test_two_flat_images_by_hand():
    # Flat images a and b: mu_x = a, mu_y = b, no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) at
    # every position.  a = 0.5, b = 0.25: (0.25 + 1e-4) / (0.3125 + 1e-4) = 0.80006...
    x, y = np.full((1, 11, 11), 0.5), np.full((1, 11, 11), 0.25)
    c1 = (K1 * 1.0) ** 2
    assert ssim_map(x, y, image_shape=None).shape == (1, 1, 1)
    assert ssim(x, y, image_shape=None)[0] == pytest.approx((0.25 + c1) / (0.3125 + c1), rel=1e-12)
    assert (0.25 + c1) / (0.3125 + c1) == pytest.approx(0.800064, abs=1e-6)


def test_a_brightness_shift_leaves_only_the_luminance_term(rng):
    # y = x + c: sigma_y = sigma_x and sigma_xy = sigma_x^2, so the second factor is 1 and
    # SSIM = (2 mu (mu + c) + C1) / (mu^2 + (mu + c)^2 + C1), mu the window's weighted mean of x.
    x = rng.random((1, 11, 11)) * 0.5
    c = 0.3
    g = image_quality.gaussian_window()
    mu = float(np.sum(np.outer(g, g) * x[0]))
    c1 = (K1 * 1.0) ** 2
    expected = (2 * mu * (mu + c) + c1) / (mu ** 2 + (mu + c) ** 2 + c1)
    assert ssim(x, x + c, image_shape=None)[0] == pytest.approx(expected, rel=1e-10)


def test_a_contrast_change_by_hand(rng):
    # y = 2x (an 11 x 11 image, one window): mu_y = 2 mu, sigma_y^2 = 4 s, sigma_xy = 2 s with s = sigma_x^2.
    x = rng.random((1, 11, 11))
    w = np.outer(*(2 * [image_quality.gaussian_window()]))
    mu = np.sum(w * x[0])
    s = np.sum(w * x[0] ** 2) - mu ** 2
    c1, c2 = K1 ** 2, K2 ** 2
    expected = (4 * mu ** 2 + c1) * (4 * s + c2) / ((5 * mu ** 2 + c1) * (5 * s + c2))
    assert ssim(x, 2 * x, data_range=1.0, image_shape=None)[0] == pytest.approx(expected, rel=1e-10)


def test_rows_are_read_as_images(rng):
    x = rng.random((2, 784))
    y = np.clip(x + 0.1 * rng.standard_normal(x.shape), 0, 1)
    np.testing.assert_allclose(ssim(x, y), ssim(x.reshape(2, 28, 28), y.reshape(2, 28, 28), image_shape=None))
    assert ssim_map(x, y).shape == (2, 18, 18)


def test_more_noise_scores_lower(rng):
    x = rng.random((4, 28, 28))
    scores = [ssim(x, x + sigma * rng.standard_normal(x.shape), image_shape=None).mean() for sigma in (0.01, 0.1, 0.3)]
    assert scores[0] > scores[1] > scores[2]


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        ssim(np.zeros((1, 28, 28)), np.zeros((1, 28, 27)), image_shape=None)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(np.zeros((1, 8, 8)), np.zeros((1, 8, 8)), image_shape=None)
    with pytest.raises(ValueError, match="finite"):
        ssim(np.full((1, 784), np.nan), np.zeros((1, 784)))
    assert mean_absolute_error([0, 1], [0.5, 0.5]) == 0.5


@pytest.mark.parametrize("codec, quality", [("JPEG", 50), ("WebP", 50), ("WebP lossless", None), ("PNG", None)])
def test_codecs_round_trip_and_count_their_payload(rng, codec, quality):
    pytest.importorskip("PIL")
    images = (rng.random((3, 28, 28)) < 0.2).astype(np.uint8) * 255
    decoded, file_bytes, payload = image_codecs.run_codec(images, codec, quality)
    assert decoded.shape == images.shape and decoded.dtype == np.uint8
    assert np.all(payload > 0) and np.all(payload < file_bytes)
    if quality is None:  # lossless
        np.testing.assert_array_equal(decoded, images)
    else:
        assert np.abs(decoded.astype(int) - images).mean() < 60


def test_jpeg_payload_is_the_scan():
    pytest.importorskip("PIL")
    data = image_codecs.encode_image(np.zeros((28, 28), np.uint8), "JPEG", 50)
    start = data.index(b"\xff\xda")
    header_length = int.from_bytes(data[start + 2:start + 4], "big")
    assert image_codecs.payload_size(data, "JPEG") == len(data) - (start + 2 + header_length) - 2


def test_generic_compression_of_zeros_is_small():
    sizes = image_codecs.generic_compression(np.zeros((100, 28, 28), np.uint8))
    assert sizes["zlib"] < 200 and sizes["lzma"] < 200
