"""A TopK sparse autoencoder (Gao et al. 2024) as interpretability uses it: a dictionary of features.

Part 1: data built from 16 known feature directions in 32 dimensions (each fires with probability 0.25),
as in SAELens' toy benchmark.  The dictionary should find them: its matching score (the mean cosine of
the best one-to-one matching of learned to true directions) comes out near 1.
Part 2: the same model on the 64-dimensional codes of the paper's FFA 784-64-784: each dictionary feature,
decoded through the FFA's decoder, is a stroke; "loss recovered" says how much of the FFA's reconstruction
survives when the dictionary's 8-of-256 reconstruction of the code replaces the code.

Run:  NPAE_DATA=/path/to/data python examples/sparse_dictionary.py [--quick]
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import argparse
import sys

import numpy as np

import npae
from npae import dictionary_metrics as metrics
from npae.datasets import find_or_sample

parser = argparse.ArgumentParser()
parser.add_argument("--quick", action="store_true", help="fewer rows and epochs: a smoke test (the tests use it)")
quick = parser.parse_args().quick
rng = np.random.default_rng(0)

# Part 1: 16 orthonormal feature directions in 32 dimensions, sparse non-negative combinations of them.
true, _ = np.linalg.qr(rng.standard_normal((32, 16)))
true = true.T                                                                       # (16, 32), unit rows
rows = 16384 if quick else 32768
active = (rng.random((rows, 16)) < 0.25) * np.maximum(rng.normal(1.0, 0.25, (rows, 16)), 0)
x = (active @ true).astype(np.float32)                                              # (rows, 32)
sae = npae.TopKSparseAutoencoder(32, 32, k=6, seed=0, optimizer=npae.Adam(learning_rate=3e-3))
sae.fit(x, epochs=3 if quick else 6, batch_size=256, verbose=0)
print(f"synthetic: matching score {metrics.matching_score(sae.dictionary, true):.4f}, "
      f"MCC {metrics.mcc(sae.dictionary, true):.4f}, L0 {metrics.l0(sae.encode(x)):.2f}, "
      f"normalised MSE {sae.evaluate(x):.4f}")

# Part 2: a dictionary of the FFA's code.
found = find_or_sample("mnist")      # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, _) = found.data
ffa = npae.Autoencoder([784, 64], seed=0)
ffa.fit(x_train, epochs=2 if quick else 10, batch_size=256, verbose=0)
codes, test_codes = ffa.encode(x_train), ffa.encode(x_test)                         # (M, 64) ReLU codes
sae = npae.TopKSparseAutoencoder(64, 256, k=8, seed=0, dead_after=2048, optimizer=npae.Adam(learning_rate=3e-3))
sae.fit(codes, epochs=2 if quick else 5, batch_size=256, verbose=0)
sparse = sae.encode(test_codes)                                                     # (M, 256), 8 > 0 per row


def bce(codes_given):
    """Test BCE per pixel of the FFA's decoder given these codes."""
    return npae.BinaryCrossEntropy().value(ffa.decode(codes_given).astype(np.float64), x_test.astype(np.float64))


original, spliced, zero = bce(test_codes), bce(sae.decode(sparse)), bce(np.zeros_like(test_codes))
print(f"MNIST codes: L0 {metrics.l0(sparse):.2f}, dead latents {metrics.dead_fraction(sparse):.1%}, explained "
      f"variance {metrics.explained_variance(test_codes, sae.decode(sparse)):.1%}")
print(f"test BCE per pixel: own code {original:.4f}, SAE's reconstruction {spliced:.4f}, zero code {zero:.4f}; "
      f"loss recovered {(zero - spliced) / (zero - original):.1%}")
most_frequent = np.argsort(-metrics.feature_frequencies(sparse))[0]
stroke = ffa.decode(sae.pre_bias + sparse[sparse[:, most_frequent] > 0, most_frequent].mean()
                    * sae.dictionary[most_frequent:most_frequent + 1]) - ffa.decode(sae.pre_bias[None])
print(f"feature #{most_frequent} (the most frequent) changes its stroke's pixels by {stroke.min():+.2f} to "
      f"{stroke.max():+.2f}: {np.sum(stroke > 0.05)} pixels gain ink, {np.sum(stroke < -0.05)} lose it (> 0.05)")
