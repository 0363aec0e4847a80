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

    def one_epoch(q):
        fewer = Autoencoder([784, q], seed=0)
        fewer.fit(x_train, epochs=1, verbose=0)
        return fewer
    return cc.run_curve(x_train, y_train, x_test, y_test, {8: model}, settings=TINY, fewer_epochs=(1, one_epoch))


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


def test_the_verdict_is_judged_again_with_the_autoencoder_trained_less(curve):
    assert curve["model_epochs"] == {8: 2}                             # read from the model's history
    sensitivity = curve["sensitivity"]
    best, fewer = sensitivity["row"], sensitivity["fewer"]
    assert sensitivity["epochs"] == 1 and best["method"] == "autoencoder 3-bit" and best["q"] == 8
    assert (fewer["q"], fewer["bits"], fewer["method"]) == (best["q"], best["bits"], best["method"])
    assert fewer["setting"] == "q = 8, 1 epoch" and fewer["psnr"] != best["psnr"]
    # The verdict again: every autoencoder row of the full models replaced by the one point trained less
    again = sensitivity["verdict"]
    contenders = [row for row in curve["rows"] if row["kind"] == "learned" and row["file_bytes"] <= cc.TARGET_BYTES
                  and not row["method"].startswith("autoencoder")] + [fewer]
    assert again["learned"] is max(contenders, key=lambda row: row["psnr"])


def test_no_sensitivity_when_the_models_had_no_more_epochs_than_it_would_remove():
    from npae.model import Autoencoder

    assert cc.model_epochs(Autoencoder([784, 4], seed=0)) is None      # never fitted: no history
    rows = [dict(row("autoencoder 3-bit", "learned", 60, 20.0), q=8, bits=3)]
    assert cc.epoch_sensitivity(None, rows, (1, None)) is None         # nothing within 50 bytes to re-make


def test_the_report_section(curve, tmp_path):
    result = {"rows": [{"latent_size": 8, "storage": "uint8", "bytes_per_image": 8.0, "ratio": 98.0,
                        "ratio_with_decoder": 2.0, "mse": 0.05, "psnr": 13.0}],
              "files": [], "epochs": 2, "n_images": 1000, "curves": {"mnist": curve}}
    section = sections.compression(result, sections.FigureFolder(str(tmp_path)))
    assert "### 7.1" in section.markdown and "| rate-distortion AE |" in section.markdown
    assert any("50 bytes per digit" in check.claim for check in section.checks)
    for name in ("compression-curve", "compression-curve-files", "compression-side-by-side"):
        assert (tmp_path / "figures" / f"{name}.png").stat().st_size > 1000
    # The verdict's dependence on training, measured in the run, and the sample rule
    assert "(2 epochs of training, read from each model's history)" in section.markdown
    assert f"{curve['sensitivity']['fewer']['psnr']:.2f} dB" in section.markdown
    assert all(check.needs_full_data for check in section.checks if "bytes per digit" in check.claim)
    assert "*not shown: sample*" in section.markdown                  # 600 training digits: the sample


def test_one_section_per_data_set(curve, tmp_path):
    """A second curve (here the same numbers, titled as Fashion-MNIST) gets its own subsection, figures and
    claim; a curve without VQ-VAE and rate-distortion models says it has none."""
    fashion = dict(curve, dataset="fashion_mnist", title="Fashion-MNIST", vq=None, rd=None,
                   rows=[row for row in curve["rows"] if row["method"] not in ("VQ-VAE", "rate-distortion AE")])
    result = {"rows": [{"latent_size": 8, "storage": "uint8", "bytes_per_image": 8.0, "ratio": 98.0,
                        "ratio_with_decoder": 2.0, "mse": 0.05, "psnr": 13.0}],
              "files": [], "epochs": 2, "n_images": 1000, "curves": {"mnist": curve, "fashion_mnist": fashion}}
    section = sections.compression(result, sections.FigureFolder(str(tmp_path)))
    first, second = section.markdown.split("### 7.2 The same comparison on Fashion-MNIST")
    assert "### 7.1" in first and "VQ-VAE codebook" in first
    assert "Measured before by full-data runs" in first and "Measured before" not in second   # MNIST's history
    assert "VQ-VAE codebook" not in second and "Not run on Fashion-MNIST: the VQ-VAE and the rate-distortion" in second
    claims = [check.claim for check in section.checks if "better than JPEG and WebP" in check.claim]
    assert claims == ["at 50 bytes per digit or fewer, a learned code reconstructs MNIST better than JPEG and WebP "
                      "(whole files, PSNR)", "at 50 bytes per image or fewer, a learned code reconstructs "
                      "Fashion-MNIST better than JPEG and WebP (whole files, PSNR)"]
    for name in ("compression-curve", "compression-curve-files", "compression-side-by-side"):
        assert (tmp_path / "figures" / f"{name}-fashion-mnist.png").stat().st_size > 1000


def test_the_experiment_draws_one_curve_per_data_set_with_its_own_models():
    """compression.run on the embedded samples of MNIST and Fashion-MNIST: the Fashion-MNIST FFAs handed
    over are used (their 2 epochs show), the missing q is trained here for the run's epochs."""
    pytest.importorskip("PIL")
    from npae.datasets import load_dataset
    from npae.experiments import _common, compression
    from npae.model import Autoencoder

    data = {"mnist": load_dataset("mnist", sample=True), "fashion_mnist": load_dataset("fashion-mnist", sample=True)}
    data = {key: ((x[:600], y[:600]), test) for key, ((x, y), test) in data.items()}

    def given(key):
        model = Autoencoder([784, 8], seed=0)
        model.fit(data[key][0][0], epochs=2, verbose=0)
        return {8: model}
    result = compression.run(data, quick=True, latent_sizes=(8,), models=given("mnist"),
                             fashion_models=given("fashion_mnist"), curve_latent_sizes=(4, 8),
                             curve_settings={"mnist": TINY, "fashion_mnist": TINY._replace(vq_training=None,
                                                                                          rd_lambdas=())})
    assert list(result["curves"]) == ["mnist", "fashion_mnist"]
    fashion = result["curves"]["fashion_mnist"]
    assert (fashion["title"], fashion["n_train"], fashion["vq"], fashion["rd"]) == ("Fashion-MNIST", 600, None, None)
    assert fashion["model_epochs"] == {4: _common.QUICK_EPOCHS, 8: 2}
    assert fashion["sensitivity"] is None        # no model had more than QUICK_EPOCHS epochs: nothing to remove
    assert {row["q"] for row in fashion["rows"] if row["method"].startswith("autoencoder")} == {4, 8}
    assert not any(row["method"] in ("VQ-VAE", "rate-distortion AE") for row in fashion["rows"])
    # Not MNIST's numbers under another name: Fashion-MNIST's images cost more bytes losslessly
    png = {key: next(row for row in curve["rows"] if row["method"] == "PNG")["file_bytes"]
           for key, curve in result["curves"].items()}
    assert png["fashion_mnist"] > png["mnist"]
