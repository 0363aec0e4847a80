"""npae.metrics: hand-worked values, scikit-learn / SciPy as oracles, and the bad-input errors."""
import numpy as np
import pytest

from npae.metrics import average_precision_score, principal_angles, psnr, rankdata, roc_auc_score


# -- ranks ------------------------------------------------------------------------------------------

def test_rankdata_averages_ties():
    np.testing.assert_array_equal(rankdata([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_array_equal(rankdata([3.0, 1.0, 3.0, 3.0]), [3, 1, 3, 3])


# -- ROC AUC and average precision --------------------------------------------------------------------

def test_roc_auc_hand_worked():
    # Positives score 0.8 and 0.4; negatives 0.1, 0.4, 0.35.  Pairs (pos > neg): 0.8 beats all three,
    # 0.4 beats 0.1 and 0.35 and ties 0.4 (counts 1/2): (3 + 2.5) / (2 * 3) = 11/12.
    y = [1, 0, 1, 0, 0]
    scores = [0.8, 0.1, 0.4, 0.4, 0.35]
    assert roc_auc_score(y, scores) == pytest.approx(11 / 12)


def test_roc_auc_extremes():
    y = np.array([0, 0, 1, 1])
    assert roc_auc_score(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc_score(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc_score(y, [0.5, 0.5, 0.5, 0.5]) == 0.5      # all tied: chance


def test_average_precision_hand_worked():
    # Sorted by score: 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.1 (neg).  Recall steps at ranks 1 and 3:
    # AP = 1/2 * 1/1 + 1/2 * 2/3 = 5/6.
    assert average_precision_score([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]) == pytest.approx(5 / 6)
    # A tie between a positive and a negative at the top is one step: precision 1/2 for all the recall.
    assert average_precision_score([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


@pytest.mark.parametrize("tied", [False, True])
def test_ranking_scores_match_sklearn(tied, rng):
    metrics = pytest.importorskip("sklearn.metrics")
    for _ in range(50):
        size = int(rng.integers(2, 80))
        y = rng.integers(0, 2, size)
        y[:2] = [0, 1]
        # Integer scores from a small range make many ties, the case where implementations differ.
        scores = rng.integers(0, 4, size).astype(float) if tied else rng.standard_normal(size)
        assert roc_auc_score(y, scores) == pytest.approx(metrics.roc_auc_score(y, scores), abs=1e-12)
        assert average_precision_score(y, scores) == pytest.approx(
            metrics.average_precision_score(y, scores), abs=1e-12)


@pytest.mark.parametrize("function", [roc_auc_score, average_precision_score])
def test_ranking_scores_reject_bad_input(function):
    with pytest.raises(ValueError, match="both classes"):
        function([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="same length"):
        function([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="only 0"):
        function([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="finite"):
        function([0, 1], [0.1, np.nan])


# -- PSNR ---------------------------------------------------------------------------------------------

def test_psnr_formula():
    reference = np.zeros((2, 8))
    reconstruction = np.full((2, 8), 0.1)                    # MSE = 0.01 -> 10 log10(1 / 0.01) = 20 dB
    assert psnr(reference, reconstruction) == pytest.approx(20.0)
    assert psnr(reference * 255, reconstruction * 255, data_range=255) == pytest.approx(20.0)
    assert psnr(reference, reference) == float("inf")
    with pytest.raises(ValueError, match="same shape"):
        psnr(reference, reconstruction[:1])
    with pytest.raises(ValueError, match="data_range"):
        psnr(reference, reconstruction, data_range=0)


# -- principal angles -----------------------------------------------------------------------------------

def test_principal_angles_hand_worked():
    e = np.eye(3)
    np.testing.assert_allclose(principal_angles(e[:, :1], e[:, 1:], degrees=True), [90.0])
    # span{e1, e2} against span{e1, cos(30) e2 + sin(30) e3}: angles 0 and 30 degrees.
    tilted = np.stack([e[0], np.cos(np.pi / 6) * e[1] + np.sin(np.pi / 6) * e[2]], axis=1)
    np.testing.assert_allclose(principal_angles(e[:, :2], tilted, degrees=True), [0.0, 30.0], atol=1e-12)


def test_principal_angles_ignore_the_basis(rng):
    basis = rng.standard_normal((12, 4))
    mixed = basis @ rng.standard_normal((4, 4))              # same subspace, other (non-orthogonal) basis
    assert np.max(principal_angles(basis, mixed)) < 1e-12
    # Tiny angles stay accurate (arccos alone would return 0 or ~1e-8 noise here).
    nudged = basis + 1e-9 * rng.standard_normal(basis.shape)
    angles = principal_angles(basis, nudged)
    assert np.all(angles > 1e-12) and np.all(angles < 1e-8)


def test_principal_angles_match_scipy(rng):
    linalg = pytest.importorskip("scipy.linalg")
    for _ in range(30):
        dimension = int(rng.integers(3, 15))
        a = rng.standard_normal((dimension, int(rng.integers(1, dimension))))
        b = rng.standard_normal((dimension, int(rng.integers(1, dimension))))
        # SciPy returns decreasing angles and takes arccos for some near-zero ones (1e-8 noise).
        np.testing.assert_allclose(principal_angles(a, b), np.sort(linalg.subspace_angles(a, b)), atol=1e-7)


def test_principal_angles_reject_bad_input():
    with pytest.raises(ValueError, match="same space"):
        principal_angles(np.ones((3, 1)), np.ones((4, 1)))
    with pytest.raises(ValueError, match="no subspace"):
        principal_angles(np.zeros((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="2-D"):
        principal_angles(np.ones(3), np.ones((3, 1)))
