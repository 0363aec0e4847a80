"""The paper's conclusions as verdicts: each function tests exactly what its sentence claims.

A verdict is one of four:

    True    "yes"                the numbers of this run show the claim
    False   "NO"                 they contradict it
    None    "not shown"          they cannot decide it (too few images to tell the difference from noise,
                                  training stopped too far from the optimum the claim is about, ...); the
                                  "this run" text then says why
    SAMPLE  "not shown: sample"  the run used the embedded sample, and the claim is one that only the
                                  full data can judge (see below)

The sample rule, one rule applied to every claim (:func:`judge_on_sample`, called by the report for each
experiment that ran on the embedded sample): a claim whose criterion is a number measured on the full
data (the paper's, PyTorch's, a target) or one that grows with the number of images (an accuracy gap, a
speed-up, a rank among all the test digits) is marked ``needs_full_data=True`` where it is made; on the
sample such a claim is "not shown: sample" whatever its number, which is still shown.  A claim that
compares two things measured in this very run (q = 16 against q = 64, the denoised against the noisy
images, the same search two ways) keeps its verdict: the sample can judge it.

Each function takes the numbers of one experiment and returns a :class:`Check`; none reads a
result dict, so each verdict can be tested on numbers chosen by hand (``tests/test_report_claims.py``).
"""
import math
from typing import NamedTuple

SAMPLE = "sample"
VERDICTS = {True: "yes", False: "NO", None: "not shown", SAMPLE: "not shown: sample"}


class Check(NamedTuple):
    """A claim of the paper, what the paper reports, what this run measured, and the verdict."""

    claim: str
    paper: str
    ours: str
    holds: object     # True, False, None (this run cannot show it: ``ours`` says why) or SAMPLE
    needs_full_data: bool = False   # only the full data can judge it: on the sample, "not shown: sample"


def judge_on_sample(checks):
    """The sample rule (module docstring): each claim that needs the full data becomes "not shown: sample"."""
    return [check._replace(holds=SAMPLE) if check.needs_full_data else check for check in checks]


# ------------------------------------------------------------------------------------------------
# 1. Reconstructions

def reconstructions_improve(test_mse_by_q):
    """``{q: test MSE}`` of the paper's BCE models: the error falls at each larger q."""
    sizes = sorted(test_mse_by_q)
    errors = [test_mse_by_q[q] for q in sizes]
    return Check(f"reconstructions improve with q ({', '.join(map(str, sizes))}): lower test MSE at each larger q",
                 "figures 4-6 (by eye)", " > ".join(f"{error:.4f}" for error in errors) + " test MSE",
                 bool(all(a > b for a, b in zip(errors, errors[1:]))))


def some_digits_misread(misread, misread_originals, n_checked, latent_size=8):
    """With q = 8 some digits come back as another digit: the reconstructions are misread more often than
    the originals (the kNN reader's own error), by more than two standard errors of the difference."""
    standard_error = math.sqrt((misread * (1 - misread) + misread_originals * (1 - misread_originals)) / n_checked)
    excess = misread - misread_originals
    ours = (f"{100 * misread:.1f} % of {n_checked:,} reconstructions read as another digit, "
            f"originals {100 * misread_originals:.1f} %")
    if abs(excess) <= 2 * standard_error:
        return Check(f"with q = {latent_size} some digits come back as another digit", "figure 4 (a 4 as a 9)",
                     ours + f": within the noise of {n_checked:,} images (2 standard errors "
                     f"{200 * standard_error:.1f} points)", None)
    return Check(f"with q = {latent_size} some digits come back as another digit", "figure 4 (a 4 as a 9)",
                 ours, bool(excess > 0))


def both_losses_train(mse_of_mse_model, mse_of_bce_model, mean_image_mse, latent_size=16, tolerance=0.25):
    """BCE and MSE both train the FFA: both test MSEs below half the error of predicting the mean image
    (each model learned something), and within ``tolerance`` of each other.  When neither got there,
    training was too short to compare the losses (not shown)."""
    claim = (f"BCE and MSE both train the q = {latent_size} FFA (both test MSEs below half the mean image's, "
             f"within {100 * tolerance:.0f} % of each other)")
    ours = (f"test MSE {mse_of_mse_model:.4f} (MSE) vs {mse_of_bce_model:.4f} (BCE); mean image "
            f"{mean_image_mse:.4f}")
    trained = [error <= 0.5 * mean_image_mse for error in (mse_of_mse_model, mse_of_bce_model)]
    if not any(trained):
        return Check(claim, "figures 7-8 (by eye)", ours + ": neither model trained far enough to compare", None)
    larger, smaller = max(mse_of_mse_model, mse_of_bce_model), min(mse_of_mse_model, mse_of_bce_model)
    return Check(claim, "figures 7-8 (by eye)", ours, bool(all(trained) and larger <= (1 + tolerance) * smaller))


# ------------------------------------------------------------------------------------------------
# 3. The curse of dimensionality

def simulation_agrees(counts, medians, median_theories, trials):
    """The simulated mean count in a cube of side l is 1 (within three standard errors of a mean of
    ``trials`` Poisson(1) counts) and the smallest cube's median side is within 0.05 of its theory."""
    tolerance = 3 / math.sqrt(trials)
    agree = all(abs(count - 1) <= tolerance for count in counts) and all(
        abs(median - theory) <= 0.05 for median, theory in zip(medians, median_theories))
    return Check("the simulation agrees with l = (1/m)^(1/d)", "table 3 (formula only)",
                 "counts " + ", ".join(f"{count:.2f}" for count in counts)
                 + f" (formula: 1, tolerance {tolerance:.2f} for {trials} draws)", bool(agree))


def cube_spans_the_axis(rows, threshold=0.9):
    """In high dimension (d >= 100) the cube holding one point spans almost the whole axis: the formula's
    side and the simulated median side both above ``threshold``.  ``rows``: dicts with d, formula,
    median_smallest_side."""
    claim = f"in high dimension (d >= 100) the cube holding one point spans almost the whole axis (side > {threshold})"
    big = [row for row in rows if row["d"] >= 100]
    if not big:
        return Check(claim, "0.93 at d = 100", "no dimension d >= 100 was simulated", None)
    return Check(claim, "0.93 at d = 100",
                 ", ".join(f"{row['formula']:.2f} at d = {row['d']} (simulated {row['median_smallest_side']:.2f})"
                           for row in big),
                 bool(all(row["formula"] > threshold and row["median_smallest_side"] > threshold for row in big)))


# ------------------------------------------------------------------------------------------------
# 4. Anomaly detection

def shoe_ranks_first(rank, n_scored, shoe_error, paper_error):
    """The paper's shoe has the largest RE of all (of 10,000 digits: the sample has fewer, and a weaker model)."""
    return Check("the shoe has the largest RE of all", f"rank 1, RE {paper_error}",
                 f"rank {rank:,} of {n_scored:,}, RE {shoe_error:.4f}", bool(rank == 1), needs_full_data=True)


def shoe_far_above_digits(shoe_over_digit, paper_shoe_over_digit, factor=2.0):
    """The shoe's RE is far above every digit's: at least ``factor`` times the largest digit RE."""
    return Check(f"the shoe's RE is far above every digit's (at least {factor:g} times the largest digit RE)",
                 f"{paper_shoe_over_digit:.2f} times", f"{shoe_over_digit:.2f} times", bool(shoe_over_digit >= factor),
                 needs_full_data=True)


# ------------------------------------------------------------------------------------------------
# 5. Denoising

def denoiser_cleans(mse_denoised, mse_noisy, mse_clipped):
    return Check("the denoising autoencoder returns cleaner digits than its input, even clipped to [0, 1] "
                 "(lower MSE to the clean images)", "figure 12 (by eye)",
                 f"MSE {mse_noisy:.4f} (noisy), {mse_clipped:.4f} (clipped) -> {mse_denoised:.4f}",
                 bool(mse_denoised < mse_noisy and mse_denoised < mse_clipped))


# ------------------------------------------------------------------------------------------------
# 6. PCA

def linear_autoencoder_learns_pca(max_angle, angle_allowed, train_excess, eigenvalue_gap, latent_size,
                                  threshold=10.0):
    """A linear autoencoder trained with MSE learns PCA's subspace: the largest principal angle between
    its decoder's span and PCA's first q components is at most ``threshold`` degrees.

    The angle only tests the claim when training got close enough to the optimum to pin the subspace:
    ``angle_allowed`` is the largest angle its training error permits (``npae.experiments.pca``).  When
    that bound is above ``threshold`` and the angle is too, the run cannot show the claim (None).  An
    angle above the bound contradicts the mathematics (False: a bug to chase).
    """
    claim = (f"a linear autoencoder trained with MSE learns PCA's subspace (q = {latent_size}: largest principal "
             f"angle at most {threshold:g} degrees)")
    ours = f"largest angle {max_angle:.1f} degrees"
    if max_angle <= threshold:
        return Check(claim, "section 3.5 (no number)", ours, True)
    if angle_allowed > threshold:
        return Check(claim, "section 3.5 (no number)",
                     ours + f"; training ended {train_excess:.3g} per image above PCA's error, and with "
                     f"l_{latent_size} - l_{latent_size + 1} = {eigenvalue_gap:.3g} that allows any angle up to "
                     f"{angle_allowed:.0f} degrees: train longer (or on more images) to decide", None)
    return Check(claim, "section 3.5 (no number)",
                 ours + f", above the {angle_allowed:.1f} degrees that its training error allows", False)


# ------------------------------------------------------------------------------------------------
# 7. Compression

def encoder_compresses(ratio, latent_size, storage, mse, psnr):
    """The encoder is a lossy compressor: the codes take fewer bytes than the pixels (ratio > 1) and the
    decoded images differ from the originals (MSE > 0)."""
    return Check("the encoder is a lossy compressor: codes smaller than the pixels, decoded images not exact",
                 "784 bytes -> q numbers", f"{ratio:.0f}x smaller at q = {latent_size} ({storage}), MSE {mse:.4f} "
                 f"(PSNR {psnr:.1f} dB)", bool(ratio > 1 and mse > 0))


def eight_bits_suffice(psnr_float32_by_q, psnr_uint8_by_q, tolerance_db=0.5):
    """Beyond the paper: storing each code number in 8 bits (4x smaller than float32) costs at most
    ``tolerance_db`` of PSNR, at every q."""
    losses = {q: psnr_float32_by_q[q] - psnr_uint8_by_q[q] for q in psnr_float32_by_q}
    return Check(f"8-bit codes lose almost nothing (PSNR within {tolerance_db:g} dB of float32 codes)",
                 "beyond the paper",
                 ", ".join(f"{loss:.2f}".replace("-0.00", "0.00") + f" dB at q = {q}" for q, loss in losses.items()),
                 bool(all(loss <= tolerance_db for loss in losses.values())))


# ------------------------------------------------------------------------------------------------
# 8. Beyond feed-forward (paper section 4)

def convolutional_denoises_better(conv_bce, ffa_bce, equal_training, paper_conv, paper_ffa):
    """A convolutional autoencoder denoises better than the FFA 784-32-784: a lower BCE on the same noisy
    test images.  When the convolutional model trained less than the FFA (``equal_training`` False), a
    win still shows the claim (its handicap only worked against it), but a loss cannot refute it."""
    claim = "a convolutional autoencoder denoises better than the FFA 784-32-784"
    paper = f"figure 13; notebook val. BCE {paper_conv:.4f} vs {paper_ffa:.4f}"
    ours = f"test BCE {conv_bce:.4f} (convolutional) vs {ffa_bce:.4f} (FFA)"
    if conv_bce >= ffa_bce and not equal_training:
        return Check(claim, paper, ours + ": the convolutional model trained less than the FFA, so this cannot "
                     "decide; `--full-convolutional` trains both alike", None, needs_full_data=True)
    return Check(claim, paper, ours + ("" if equal_training else ", the convolutional model with less training"),
                 bool(conv_bce < ffa_bce), needs_full_data=True)
