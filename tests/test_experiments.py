"""npae.experiments end to end on the embedded sample (quick settings): they run, and their claims hold."""
import numpy as np
import pytest

from npae.datasets import load_fashion_mnist, load_mnist
from npae.experiments import _common, anomaly, compression, denoising, pca, pytorch_reference, reconstruction


@pytest.fixture(scope="module")
def sample():
    """6,000 MNIST training and 1,000 test images, 1,000 Fashion-MNIST test images, shipped with npae."""
    return {"mnist": load_mnist(sample=True), "fashion_mnist": load_fashion_mnist(sample=True)}


def test_anomaly_experiment(sample):
    result = anomaly.run(sample, quick=True)
    n_test = sample["mnist"][1][0].shape[0]
    assert result["digit_errors"].shape == (n_test,)
    assert [shoe["name"] for shoe in result["shoes"]] == ["sandal", "sneaker", "ankle boot"]
    for shoe in result["shoes"]:
        assert 1 <= shoe["rank"] <= n_test + 1
        assert shoe["rank"] == 1 + np.sum(result["digit_errors"] > shoe["error"])
    # Model stability: every ensemble member scores the same three shoes; the first is "the single model".
    assert [entry["seed"] for entry in result["shoes_per_model"]] == [0, 1]
    np.testing.assert_allclose(result["shoes_per_model"][0]["shoe_errors"], [s["error"] for s in result["shoes"]])
    assert result["shoes_per_model"][0]["shoe_ranks"] == [s["rank"] for s in result["shoes"]]
    rows = {row["method"].split(",")[0].split(" (")[0]: row for row in result["injection"]["rows"]}
    assert set(rows) == {"autoencoder", "ensemble of 2", "PCA"}
    # Even QUICK_EPOCHS epochs on 6,000 images rank Fashion-MNIST far above chance (0.5).
    assert all(row["roc_auc"] > 0.8 for row in result["injection"]["rows"])
    assert result["injection"]["n_injected"] == 100

    # A model trained elsewhere with the same seed and set-up (npae reproduce shares it) gives the same result.
    shared = _common.train_ffa(sample["mnist"][0][0], 64, epochs=_common.QUICK_EPOCHS, seed=0)[0]
    again = anomaly.run(sample, quick=True, models={64: shared})
    np.testing.assert_array_equal(again["digit_errors"], result["digit_errors"])
    assert again["injection"]["rows"] == result["injection"]["rows"]


def test_denoising_experiment_lowers_the_error(sample):
    result = denoising.run(sample, quick=True)
    assert result["mse_noisy"] == pytest.approx(0.55 ** 2, rel=0.02)     # E[(0.55 z)^2] = 0.3025
    assert result["mse_denoised"] < result["rows"][1]["mse"] < result["mse_noisy"]
    assert len(result["val_loss"]) == result["epochs"] == _common.QUICK_EPOCHS
    assert result["examples"]["denoised"].shape == (10, 784)


def test_pca_and_compression_experiments_share_models(sample):
    x_train = sample["mnist"][0][0]
    models = _common.train_reference_models(x_train, (8, 16), quick=True)
    result = pca.run(sample, quick=True, latent_sizes=(8, 16), models=models, linear_latent_size=8)
    assert [row["latent_size"] for row in result["rows"]] == [8, 16]
    assert result["rows"][0]["pca_mse"] > result["rows"][1]["pca_mse"]      # more components, less error
    linear = result["linear"]
    assert linear["angles_degrees"].shape == (8,)
    # PCA is the optimal linear rank-q map: no linear autoencoder beats it (up to float32 rounding).
    assert linear["linear_autoencoder_mse"] >= linear["pca_mse"] * (1 - 1e-5)
    assert linear["train_excess"] >= -1e-4 and linear["eigenvalue_gap"] > 0
    # The bound of the module docstring: the training error allows no larger angle than angle_allowed.
    assert linear["max_angle_degrees"] <= linear["angle_allowed_degrees"] + 1e-3

    table = compression.run(sample, quick=True, latent_sizes=(8, 16), models=models, curve=False)  # see test_compression_curve
    assert [(row["latent_size"], row["storage"]) for row in table["rows"]] == [
        (q, storage) for q in (8, 16) for storage in ("float32", "float16", "uint8")]
    ratios = {(row["latent_size"], row["storage"]): row["ratio"] for row in table["rows"]}
    assert ratios[8, "float32"] == pytest.approx(784 / 32)
    assert all(entry["max_difference_after_reload"] < 1e-6 for entry in table["files"])


def test_reconstruction_experiment_on_the_sample(sample):
    result = reconstruction.run(sample, quick=True)
    (x_train, _), (x_test, y_test) = sample["mnist"]
    assert [(row["latent_size"], row["loss"]) for row in result["rows"]] == [(8, "bce"), (16, "bce"), (64, "bce"),
                                                                            (16, "mse")]
    # PyTorch's numbers hold for the full 60,000 training images: never beside a sample run.
    assert not result["pytorch_comparable"] and all(row["pytorch"] is None for row in result["rows"])
    # The BCE of a perfect reconstruction is the images' own entropy: above 0, below every model's.
    assert 0 < result["bce_floor"] < min(row["test_bce"] for row in result["rows"])
    assert result["mean_image_mse"] > max(row["test_mse"] for row in result["rows"])

    extremes = result["extremes"]
    count = extremes["count"]
    assert extremes["errors"][:count].max() <= extremes["errors"][count:].min()
    assert extremes["errors"][:count].max() <= extremes["median_error"] <= extremes["errors"][count:].min()
    np.testing.assert_allclose(extremes["squared_errors"].mean(axis=1), extremes["errors"], rtol=1e-5)
    np.testing.assert_array_equal(extremes["labels"], y_test[extremes["indices"]])

    panels = result["codes"]["panels"]
    assert [panel["name"] for panel in panels] == ["PCA, 2 components", "FFA 784-2-784", "deeper FFA 784-64-2-64-784"]
    for panel in panels:
        assert panel["codes"].shape == (x_test.shape[0], 2)
        assert 0.1 < panel["knn_accuracy"] <= 1                     # 10 digits: better than chance
    assert panels[0]["curves"] is None and len(panels[1]["curves"]["val_loss"]) == _common.QUICK_EPOCHS


def test_pytorch_references_are_looked_up_by_epoch_and_stored_as_printed():
    assert pytorch_reference.reference(64, "bce", 30) == {"bce": 0.072594, "mse": 0.0037259}
    assert pytorch_reference.reference(64, "bce", 6)["bce"] == pytorch_reference.MEASURED[64, "bce"]["bce"][5]
    assert pytorch_reference.reference(2, "bce", 6) is None         # not measured
    assert pytorch_reference.reference(64, "bce", 31) is None       # beyond the measured epochs
    for curves in pytorch_reference.MEASURED.values():
        assert len(curves["bce"]) == len(curves["mse"]) == pytorch_reference.EPOCHS
        assert curves["bce"][-1] < curves["bce"][0] and curves["mse"][-1] < curves["mse"][0]
    # The module's MEASURED is exactly what its main() prints (so a rerun can replace it as it is).
    import inspect
    import re

    source = inspect.getsource(pytorch_reference)
    block = source[source.index("MEASURED = {"):source.index("\n}\n") + 2]
    seconds = {key: float(re.search(rf'\({key[0]}, "{key[1]}"\): {{  # (\d+) s', block).group(1))
               for key in pytorch_reference.MEASURED}
    assert pytorch_reference.format_measured(pytorch_reference.MEASURED, seconds) == block


def test_convolutional_experiment_and_its_report_section(sample, tmp_path):
    """Paper section 4 in its quick set-up on the sample: the convolutional denoiser beats the FFA 784-32-784
    even after one epoch on 1,200 images, and the section states the set-up beside its numbers."""
    from npae.experiments import convolutional
    from npae.report import sections

    result = convolutional.run(sample, quick=True)
    assert result["setup"] == {"name": "quick", "training_images": 1500, "validation_images": 300, "epochs": 1,
                               "batch_size": 150, "noise": 0.55, "full": False}
    conv, ffa = result["paper_rows"]
    assert conv["code_size"] == 24 * 24 * 32 and ffa["code_size"] == 32
    assert conv["val_bce"] < ffa["val_bce"]
    assert [(row["task"], row["code_size"]) for row in result["small_rows"]] == \
        [("reconstruction", 128), ("reconstruction", 128), ("denoising", 128), ("denoising", 128)]
    assert all(0 < row["val_bce"] < 1 for row in result["small_rows"])
    assert {key: images.shape for key, images in result["figure"].items()} == {
        "noisy": (10, 784), "ffa": (10, 784), "convolutional": (10, 784), "clean": (10, 784)}
    assert result["full_run_estimate_seconds"] == pytest.approx(result["seconds_per_step"] * 30 * 320)
    # the stable estimate: the quiet machine's measured step, not this (possibly loaded) run's
    from npae.experiments.convolutional import QUIET_SECONDS_PER_STEP
    assert result["full_run_quiet_estimate_seconds"] == pytest.approx(QUIET_SECONDS_PER_STEP * 9600 * (1 + 0.25 / 3))
    assert result["equal_training"] and result["ffa_setup"] == result["setup"]     # quick: both models alike
    assert conv["test_bce"] < ffa["test_bce"] and result["test_images"] == 1000
    section = sections.convolutional(result, sections.FigureFolder(str(tmp_path)))
    assert "quick set-up: the first 1,500 MNIST training images" in section.markdown
    assert "--full-convolutional" in section.markdown and section.checks[0].holds is True
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["convolutional-comparison.png",
                                                                       "convolutional-denoising.png"]


def test_beyond_the_paper_experiment_and_its_report_section(sample, tmp_path):
    from npae.anomaly import SCORES
    from npae.experiments import beyond
    from npae.report import sections

    result = beyond.run(sample, quick=True)
    plain, sparse = result["sparse"]["rows"]
    assert sparse["mean_code"] < plain["mean_code"]                        # the Keras blog's finding
    vae = result["variational"]["pytorch"]
    assert vae["test_loss"] == pytest.approx(vae["test_reconstruction"] + vae["test_kl"])
    assert vae["test_loss"] == pytest.approx(vae["history"]["val_loss"][-1])   # evaluate's number, the last epoch's
    assert vae["samples"].shape == (64, 784) and result["variational"]["keras"]["manifold"].shape == (20, 20, 784)
    rows = result["anomaly_scores"]["rows"]
    assert {row["score"] for row in rows} == set(SCORES)
    by_key = {(row["score"], row["model"]): row for row in rows}
    for q in (64, 128):   # bce beats re, even after 6 epochs on 6,000 images
        assert by_key["bce", f"FFA 784-{q}-784"]["shoes_above_every_digit"] > \
            by_key["re", f"FFA 784-{q}-784"]["shoes_above_every_digit"]
    section = sections.beyond(result, sections.FigureFolder(str(tmp_path)))
    assert "### 9.3 Anomaly scores" in section.markdown and len(section.checks) == 3
    assert len(list((tmp_path / "figures").glob("vae-*.png"))) == 5
