"""Experiment 11 (npae.experiments.dictionary) and its report section, at reduced sizes on the embedded sample."""
import numpy as np
import pytest

from npae import dictionary_metrics as metrics
from npae.datasets import load_mnist
from npae.experiments import EXPERIMENTS, _common, dictionary
from npae.report import sections


@pytest.fixture
def small(monkeypatch):
    """The experiment with every size cut down, so that it runs in seconds."""
    monkeypatch.setattr(dictionary, "SYNTHETIC_ROWS", {True: 2048, False: 2048})
    monkeypatch.setattr(dictionary, "SYNTHETIC_TEST_ROWS", 512)
    monkeypatch.setattr(dictionary, "SYNTHETIC_EPOCHS", {True: 2, False: 2})
    monkeypatch.setattr(dictionary, "WIDE", {"n_latents": 64, "k": 4})
    monkeypatch.setattr(dictionary, "MNIST_TRAIN_ROWS", {True: 2000, False: 2000})
    monkeypatch.setattr(dictionary, "MNIST_EPOCHS", {True: 2, False: 2})
    monkeypatch.setattr(dictionary, "DEAD_AFTER", 256)


def test_experiment_and_its_report_section(small, tmp_path):
    data = {"mnist": load_mnist(sample=True)}
    (x_train, _), (x_test, _) = data["mnist"]
    autoencoder = _common.train_ffa(x_train, 64, epochs=1, seed=0)[0]
    result = dictionary.run(data, quick=True, models={64: autoencoder})

    synthetic, mnist = result["synthetic"], result["mnist"]
    assert len(synthetic["rows"]) == 4 and len(synthetic["wide_rows"]) == 2
    for row in synthetic["rows"]:
        assert 0 < row["matching_score"] <= row["mean_max_cosine"] + 1e-12 <= 1 + 1e-12
        assert row["l0"] <= row["k"]
    assert set(synthetic["dead_curves"]) == {"no AuxK", "AuxK"}
    assert all(len(curve) == 2 for curve in synthetic["dead_curves"].values())
    # loss recovered: the spliced code lies between the FFA's own code and a zero code
    bce = mnist["bce"]
    assert bce["original"] < bce["spliced"] < bce["zero"]
    assert mnist["loss_recovered"] == pytest.approx((bce["zero"] - bce["spliced"]) / (bce["zero"] - bce["original"]))
    pictures = mnist["pictures"]
    assert pictures["strokes"].shape == (dictionary.FEATURES_SHOWN, 784)
    assert pictures["top_images"].shape == (dictionary.FEATURES_SHOWN, dictionary.TOP_IMAGES, 784)
    assert np.all(np.diff(pictures["top_activations"], axis=1) <= 0)          # most activating first
    assert set(mnist["frequencies"]) == {"no AuxK", "AuxK"}

    section = sections.dictionary(result, sections.FigureFolder(str(tmp_path)))
    assert section.markdown.startswith("## 11. ") and "### 11.3 The features of npae's own model" in section.markdown
    assert len(section.checks) == 3 and all(check.holds in (True, None) for check in section.checks)  # quick: never NO
    assert sorted(path.name for path in (tmp_path / "figures").glob("dictionary_*.png")) == [
        "dictionary_cosines.png", "dictionary_dead_latents.png", "dictionary_features.png",
        "dictionary_frequencies.png"]


def test_registered_as_experiment_11_sharing_the_q64_reference_model():
    entry = EXPERIMENTS["dictionary"]
    assert entry.number == 11 and entry.reference_models == (64,) and entry.datasets == ("mnist",)
    assert callable(sections.dictionary)


def test_the_synthetic_benchmark_reaches_the_target_matching_score():
    """16 orthonormal features in 32 dimensions, the full set-up of one run: matching score >= 0.99."""
    rng = np.random.default_rng([0, 16, 32])
    true = dictionary.true_features(16, 32, rng)
    assert np.allclose(true @ true.T, np.eye(16))
    x = (dictionary.feature_activations(dictionary.SYNTHETIC_ROWS[False], 16, rng) @ true).astype(np.float32)
    model, _ = dictionary._train(x, 32, 6, aux=0.0, epochs=dictionary.SYNTHETIC_EPOCHS[False], seed=0)
    assert metrics.matching_score(model.dictionary, true) >= 0.99


def test_synthetic_activations_fire_with_the_stated_probability():
    activations = dictionary.feature_activations(100_000, 16, np.random.default_rng(1))
    assert np.mean(activations > 0) == pytest.approx(dictionary.FIRING_PROBABILITY, abs=0.005)
    assert np.mean(activations[activations > 0]) == pytest.approx(dictionary.MAGNITUDE_MEAN, abs=0.01)


@pytest.mark.parametrize("without, with_auxk, holds", [
    (0.20, 0.01, True), (0.10, 0.30, False), (0.008, 0.004, None)])   # 0.4 % of 256: 1 latent apart
def test_the_auxk_verdict_needs_a_difference_of_several_latents(without, with_auxk, holds):
    from npae.report.sections_dictionary import _auxk_verdict

    check = _auxk_verdict({"dead_fraction": without}, {"dead_fraction": with_auxk}, "test", 256)
    assert check.holds is holds
