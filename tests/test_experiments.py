"""npae.experiments end to end on the embedded sample (quick settings): they run, and their claims hold."""
import numpy as np
import pytest

from npae.datasets import load_fashion_mnist, load_mnist
from npae.experiments import _common, anomaly, compression, denoising, pca


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

    table = compression.run(sample, quick=True, latent_sizes=(8, 16), models=models)
    assert [(row["latent_size"], row["storage"]) for row in table["rows"]] == [
        (q, storage) for q in (8, 16) for storage in ("float32", "float16", "uint8")]
    ratios = {(row["latent_size"], row["storage"]): row["ratio"] for row in table["rows"]}
    assert ratios[8, "float32"] == pytest.approx(784 / 32)
    assert all(entry["max_difference_after_reload"] < 1e-6 for entry in table["files"])


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
    assert "### 8.3 Anomaly scores" in section.markdown and len(section.checks) == 3
    assert len(list((tmp_path / "figures").glob("vae-*.png"))) == 5
