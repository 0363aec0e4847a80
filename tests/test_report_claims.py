"""The report's verdicts (npae.report.claims) on numbers chosen by hand: each tests what its sentence says."""
import math

import numpy as np
import pytest

from npae.report import claims
from npae.report.markdown import verdict


def test_verdict_words():
    assert [verdict(holds) for holds in (True, False, None, claims.SAMPLE)] == \
        ["yes", "**NO**", "not shown", "not shown: sample"]
    assert verdict(np.bool_(False)) == "**NO**" and verdict(np.bool_(True)) == "yes"


# ------------------------------------------------------------------------------------------------
# The sample rule: one rule, in one place, applied by the report to every experiment run on the sample

def test_on_the_sample_a_claim_that_needs_the_full_data_is_not_shown_whatever_its_number():
    within_run = claims.denoiser_cleans(0.15, 0.30, 0.13)                  # NO, and the sample can judge it
    against_the_paper = claims.shoe_ranks_first(3, 1001, 0.0567, 0.062)     # NO on the sample's 1,000 digits
    lucky = claims.shoe_far_above_digits(2.5, 2.82)                         # yes, but on the sample all the same
    judged = claims.judge_on_sample([within_run, against_the_paper, lucky])
    assert [check.holds for check in judged] == [False, claims.SAMPLE, claims.SAMPLE]
    assert [check.ours for check in judged] == [check.ours for check in (within_run, against_the_paper, lucky)]
    assert claims.judge_on_sample([within_run]) == [within_run]
    assert claims.Check("c", "p", "o", True).needs_full_data is False      # the default: the sample can judge it


def test_the_sample_report_says_not_shown_sample_in_its_table_and_on_the_console(tmp_path):
    """A whole run on the sample (anomaly, quick): both of its claims rest on the paper's 10,000 digits."""
    from npae.progress import Progress
    from npae.report.runner import reproduce

    class Screen:
        text = ""

        def write(self, text):
            Screen.text += text

        def flush(self):
            pass

    assert reproduce(tmp_path, quick=True, sample=True, only=["anomaly"], progress=Progress(Screen())) == 0
    report = (tmp_path / "report.md").read_text(encoding="utf-8")
    rows = [line for line in report.splitlines() if line.startswith("| 4. ")]
    assert len(rows) == 2 and all(row.endswith("| not shown: sample |") for row in rows), rows
    assert "says *not shown: sample*" in report                             # the notice explains the verdict
    assert Screen.text.count("[not shown: sample] 4. ") == 2
    assert "[NO]" not in Screen.text


# ------------------------------------------------------------------------------------------------
# PCA: the angle decides, but only when training came close enough to pin the subspace

def test_a_large_principal_angle_is_never_a_yes_even_when_the_errors_are_close():
    # The embedded sample's case: errors within 10 %, but the largest angle is 88.6 degrees.
    check = claims.linear_autoencoder_learns_pca(max_angle=88.6, angle_allowed=90.0, train_excess=3.4,
                                                 eigenvalue_gap=0.15, latent_size=16)
    assert check.holds is None                          # not shown: training stopped too far from the optimum
    assert "88.6 degrees" in check.ours and "up to 90 degrees" in check.ours and "train longer" in check.ours


def test_a_small_principal_angle_is_a_yes():
    check = claims.linear_autoencoder_learns_pca(4.7, 12.0, 0.01, 0.5, 16)
    assert check.holds is True and "4.7 degrees" in check.ours


def test_an_angle_beyond_what_the_training_error_allows_is_a_no():
    check = claims.linear_autoencoder_learns_pca(max_angle=45.0, angle_allowed=2.0, train_excess=1e-4,
                                                 eigenvalue_gap=1.0, latent_size=16)
    assert check.holds is False


def test_the_angle_bound_of_the_pca_experiment_holds_for_a_subspace_rotated_by_hand(rng):
    """The inequality behind angle_allowed (npae.experiments.pca): rotating PCA's q-th direction towards a
    later one by theta raises the projection error by at least (l_q - l_{q+1}) sin^2 theta."""
    from npae.metrics import principal_angles
    from npae.pca import PCA

    x = rng.standard_normal((4000, 6)) * np.array([5.0, 4.0, 3.0, 2.0, 1.0, 0.5])
    pca = PCA(6).fit(x)
    eigenvalues = pca.explained_variance_.astype(np.float64) * (len(x) - 1) / len(x)
    q, theta = 3, math.radians(30)
    basis = pca.components_[:q].astype(np.float64).copy()
    basis[q - 1] = math.cos(theta) * pca.components_[q - 1] + math.sin(theta) * pca.components_[q + 1]
    centred = x - pca.mean_

    def error(rows):
        return float(np.mean(np.sum((centred - centred @ rows.T @ rows) ** 2, axis=1)))

    excess = error(basis) - error(pca.components_[:q].astype(np.float64))
    assert excess >= (eigenvalues[q - 1] - eigenvalues[q]) * math.sin(theta) ** 2 * (1 - 1e-9)
    assert principal_angles(basis.T, pca.components_[:q].T, degrees=True).max() == pytest.approx(30, abs=1e-6)


# ------------------------------------------------------------------------------------------------
# The other verdicts

def test_reconstructions_must_improve_at_every_step():
    assert claims.reconstructions_improve({8: 0.04, 16: 0.03, 64: 0.01}).holds is True
    assert claims.reconstructions_improve({8: 0.04, 16: 0.05, 64: 0.01}).holds is False


def test_misread_digits_must_stand_out_of_the_noise():
    assert claims.some_digits_misread(0.26, 0.017, 300).holds is True
    undecided = claims.some_digits_misread(0.05, 0.03, 100)      # 2 points apart, 2 standard errors ~5.5 points
    assert undecided.holds is None and "noise" in undecided.ours
    assert claims.some_digits_misread(0.01, 0.20, 1000).holds is False


def test_both_losses_must_train_and_agree():
    assert claims.both_losses_train(0.0262, 0.0259, 0.067).holds is True
    assert claims.both_losses_train(0.040, 0.026, 0.067).holds is False          # 54 % apart
    assert claims.both_losses_train(0.060, 0.026, 0.067).holds is False          # the MSE model did not train
    neither = claims.both_losses_train(0.0634, 0.0631, 0.0651)                   # the sample's quick run
    assert neither.holds is None and "neither" in neither.ours


def test_the_simulation_must_agree_within_its_noise():
    assert claims.simulation_agrees([1.15, 0.75, 0.70, 1.00], [0.032, 0.50], [0.026, 0.48], 20).holds is True
    assert claims.simulation_agrees([1.15, 0.75, 0.70, 1.00], [0.032, 0.50], [0.026, 0.48], 1000).holds is False
    assert claims.simulation_agrees([1.0], [0.3], [0.2], 100).holds is False


def test_the_cube_claim_needs_a_high_dimension():
    rows = [{"d": 10, "formula": 0.5, "median_smallest_side": 0.48}]
    assert claims.cube_spans_the_axis(rows).holds is None
    rows.append({"d": 100, "formula": 0.93, "median_smallest_side": 0.93})
    assert claims.cube_spans_the_axis(rows).holds is True
    rows.append({"d": 1000, "formula": 0.99, "median_smallest_side": 0.5})
    assert claims.cube_spans_the_axis(rows).holds is False


def test_the_anomaly_ratio_is_the_shoe_over_the_digit_in_both_columns():
    check = claims.shoe_far_above_digits(2.03, 0.062 / 0.022)
    assert check.holds is True and check.paper == "2.82 times" and check.ours == "2.03 times"
    assert claims.shoe_far_above_digits(0.5, 2.82).holds is False
    assert claims.shoe_ranks_first(1, 10001, 0.0657, 0.062).holds is True
    assert claims.shoe_ranks_first(128, 1001, 0.0567, 0.062).holds is False


def test_the_denoiser_must_beat_the_clipped_input_too():
    assert claims.denoiser_cleans(0.023, 0.30, 0.13).holds is True
    assert claims.denoiser_cleans(0.15, 0.30, 0.13).holds is False


def test_compression_verdicts():
    assert claims.encoder_compresses(98.0, 8, "uint8", 0.037, 14.3).holds is True
    assert claims.encoder_compresses(0.9, 8, "uint8", 0.037, 14.3).holds is False
    assert claims.eight_bits_suffice({8: 14.3, 16: 15.9}, {8: 14.3, 16: 15.9}).holds is True
    lossy = claims.eight_bits_suffice({8: 14.3, 16: 15.9}, {8: 14.3, 16: 14.0})
    assert lossy.holds is False and "1.90 dB at q = 16" in lossy.ours


def test_every_verdict_is_a_plain_bool_or_none():
    """A NumPy bool would print as "NO" but fail ``holds is False`` checks downstream."""
    for check in (claims.reconstructions_improve({8: np.float64(0.04), 16: np.float64(0.03)}),
                  claims.shoe_far_above_digits(np.float64(2.5), 2.82),
                  claims.denoiser_cleans(np.float64(0.02), 0.3, 0.1),
                  claims.some_digits_misread(np.float64(0.3), 0.02, 300)):
        assert check.holds is True


def test_a_speed_ratio_below_one_reads_as_slower_not_as_faster():
    from npae.report.sections import _speed_text
    assert _speed_text(2.2) == "2.2x faster"
    assert _speed_text(0.7) == "1.4x slower"   # a quick run's small sets: the bounds' fit costs more than it saves
    assert _speed_text(None) == _speed_text(float("nan")) == "speed not measured"


def test_a_convolutional_model_trained_less_can_show_the_claim_but_not_refute_it():
    """Section 8's default set-up: the FFA gets the notebook's 30 epochs on every image, the convolutional
    model 2 epochs on 4,800: a win for the handicapped model shows the claim, a loss decides nothing."""
    win = claims.convolutional_denoises_better(0.1190, 0.1301, False, 0.0970, 0.1301)
    loss = claims.convolutional_denoises_better(0.1400, 0.1301, False, 0.0970, 0.1301)
    assert win.holds is True and "with less training" in win.ours
    assert loss.holds is None and "`--full-convolutional` trains both alike" in loss.ours
    assert claims.convolutional_denoises_better(0.1400, 0.1301, True, 0.0970, 0.1301).holds is False
    assert all(check.needs_full_data for check in (win, loss))


def test_small_numbers_read_as_what_they_are():
    from npae.report.markdown import ratio, signed_percent

    assert [ratio(value) for value in (0.041, 0.7, 3.44, 48.2)] == ["0.041x", "0.7x", "3.4x", "48x"]   # never "0.0x"
    assert [signed_percent(value) for value in (0.2173, -0.00004, 0.00004, -0.012)] == \
        ["+21.73 %", "0.00 %", "0.00 %", "-1.20 %"]                                                  # never "-0.00 %"


def test_every_claim_names_its_subject():
    """No claim starts with "..." (a subject cut off, as "MNIST, R^8: ... at a large speed-up" did)."""
    import inspect

    from npae.report import sections

    source = inspect.getsource(sections)
    assert ": ... " not in source and '"... ' not in source
