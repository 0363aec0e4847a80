"""Experiment 7's rate-distortion comparison at a tiny size: every method decoded and scored the same way,
the learned files read back exactly, the verdict's logic, and the report section built from it."""
import math

import numpy as np
import pytest

from npae.entropy_coding import uniform_quantize
from npae.experiments import compression_curve as cc
from npae.report import sections

TINY = cc.Settings(n_images=40, n_knn=20, jpeg_qualities=(10, 80), webp_qualities=(30,), pca_sizes=(4, 16),
                   code_bits=(3,), vq_training=(64, 1), rd_lambdas=(100.0,), rd_training=(256, 1))


@pytest.fixture(scope="module")
def curve():
    pytest.importorskip("PIL")
    from npae.datasets import load_dataset
    from npae.model import Autoencoder

    (x_train, y_train), (x_test, y_test) = load_dataset("mnist", sample=True)
    x_train, y_train = x_train[:600], y_train[:600]
    model = Autoencoder([784, 8], seed=0)
    model.fit(x_train, epochs=2, verbose=0)
    return cc.run_curve(x_train, y_train, x_test, y_test, {8: model}, settings=TINY)


def test_every_method_is_scored(curve):
    methods = {row["method"] for row in curve["rows"]}
    assert methods == {"JPEG", "WebP", "WebP lossless", "PNG", "zlib", "lzma", "PCA 3-bit", "autoencoder 3-bit",
                       "VQ-VAE", "rate-distortion AE"}
    for row in curve["rows"]:
        assert 0 < row["payload_bytes"] <= row["file_bytes"]
        assert 0 <= row["knn_accuracy"] <= 1 and -1 <= row["ssim"] <= 1 and row["mae"] >= 0
        assert row["shown"].shape == (cc.N_SHOWN, 784)


def test_lossless_methods_are_exact_and_lossy_ones_are_not(curve):
    for row in curve["rows"]:
        lossless = row["method"] in ("WebP lossless", "PNG", "zlib", "lzma")
        assert math.isinf(row["psnr"]) == lossless
        assert (row["ssim"] == pytest.approx(1.0)) if lossless else row["ssim"] < 1


def test_quality_rises_with_the_bytes_spent(curve):
    jpeg = sorted((row for row in curve["rows"] if row["method"] == "JPEG"), key=lambda row: row["file_bytes"])
    assert jpeg[0]["psnr"] < jpeg[-1]["psnr"]
    pca = sorted((row for row in curve["rows"] if row["method"] == "PCA 3-bit"), key=lambda row: row["q"])
    assert pca[0]["payload_bytes"] < pca[1]["payload_bytes"] and pca[0]["psnr"] < pca[1]["psnr"]


def test_uniform_codes_by_hand():
    latent = np.array([[0.0, 5.0], [1.0, 5.0], [0.6, 5.0]])
    codes, offset, step = uniform_quantize(latent, 2)                  # 4 levels over [0, 1]: step 1/3
    np.testing.assert_array_equal(codes, [[0, 0], [3, 0], [2, 0]])      # 0.6 / (1/3) = 1.8 rounds to 2
    np.testing.assert_allclose(step, [1 / 3, 1.0], rtol=1e-6)
    np.testing.assert_array_equal(offset, [0.0, 5.0])


def row(method, kind, file_bytes, psnr):
    return {"method": method, "kind": kind, "setting": "", "file_bytes": file_bytes, "payload_bytes": file_bytes,
            "psnr": psnr, "ssim": 0.5, "knn_accuracy": 0.9}


def test_verdict_logic():
    rows = [row("JPEG", "codec", 200, 20.0), row("WebP", "codec", 40, 22.0), row("PCA", "learned", 30, 21.0),
            row("VQ-VAE", "learned", 60, 30.0)]
    verdict = cc.verdict(rows)
    assert verdict["learned"]["method"] == "PCA"                       # the VQ-VAE is over the budget
    assert verdict["codecs"]["WebP"]["reaches_target"] and not verdict["codecs"]["JPEG"]["reaches_target"]
    assert verdict["holds"] is False                                   # WebP: 22 dB in 40 bytes beats 21 dB
    rows[1]["psnr"] = 20.5
    assert cc.verdict(rows)["holds"] is True


def test_the_report_section(curve, tmp_path):
    result = {"rows": [{"latent_size": 8, "storage": "uint8", "bytes_per_image": 8.0, "ratio": 98.0,
                        "ratio_with_decoder": 2.0, "mse": 0.05, "psnr": 13.0}],
              "files": [], "epochs": 2, "n_images": 1000, "curves": {"mnist": curve}}
    section = sections.compression(result, sections.FigureFolder(str(tmp_path)))
    assert "### 7.1" in section.markdown and "| rate-distortion AE |" in section.markdown
    assert any("50 bytes per digit" in check.claim for check in section.checks)
    for name in ("compression-curve", "compression-curve-files", "compression-side-by-side"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
