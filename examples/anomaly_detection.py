"""Find the shoe among the digits: anomaly detection by reconstruction error (paper section 3.3).

An autoencoder trained on MNIST digits rebuilds digits well and anything else badly.  We append one
Fashion-MNIST ankle boot to the 10,000 MNIST test digits and look at the largest reconstruction errors
(paper: the shoe comes first with RE 0.062, the runner-up, a digit, has 0.022).  Then we hide 100
Fashion-MNIST images among the digits and measure how well the RE ranks them (ROC AUC), for one model,
an ensemble of three, and PCA.  Takes 1-2 minutes on 2 cores (three models, 30 epochs each).

Run:  NPAE_DATA=/path/to/data python examples/anomaly_detection.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import sys

import numpy as np

import npae
from npae.datasets import anomaly_set, find_or_sample
from npae.metrics import average_precision_score, roc_auc_score

# The full data sets, or offline the embedded samples (with a NOTICE); the test images of both must
# come from the same source, so the anomaly sets below use the samples if either data set is one.
mnist, fashion = find_or_sample("mnist"), find_or_sample("fashion-mnist")
print(mnist.message, fashion.message, sep="\n", file=sys.stderr)
use_sample = mnist.used_sample or fashion.used_sample
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)
(x_train, _), _ = mnist.data

# 1. Three FFAs 784-64-784 (ReLU, sigmoid output, BCE, Adam), identical but for the seed.
models = npae.train_ensemble(x_train, latent_sizes=64, seeds=[0, 1, 2], epochs=EPOCHS, batch_size=256)

# 2. The paper's test: 10,000 digits + 1 shoe (Fashion-MNIST test image 0, an ankle boot).
paper = anomaly_set(sample=use_sample)
detector = npae.ReconstructionErrorDetector(models[0])
indices, errors = detector.top(paper.x, 3)
print("largest reconstruction errors (paper: shoe 0.062, then 0.022):")
for index, error in zip(indices, errors):
    print(f"  row {index:5d}  RE {error:.4f}  {'<- the shoe' if paper.is_anomaly[index] else 'a digit'}")

# 3. 100 Fashion-MNIST images hidden among the digits (1 %): how well does the RE rank them?
mixed = anomaly_set(n_anomalies=100, seed=0, sample=use_sample)
candidates = {
    "one autoencoder": npae.ReconstructionErrorDetector(models[0]),
    "ensemble of 3 (mean RE)": npae.ReconstructionErrorDetector(models, combine="mean"),
    "ensemble of 3 (max RE)": npae.ReconstructionErrorDetector(models, combine="max"),
    "PCA, 64 components": npae.ReconstructionErrorDetector(npae.PCA(64).fit(x_train)),
}
print(f"\n{'detector':<26}{'ROC AUC':>9}{'avg precision':>15}")
for name, candidate in candidates.items():
    scores = candidate.decision_function(mixed.x)
    print(f"{name:<26}{roc_auc_score(mixed.is_anomaly, scores):>9.5f}"
          f"{average_precision_score(mixed.is_anomaly, scores):>15.5f}")

# 4. A threshold: flag the 1 % of rows with the largest RE, learnt from the scores of the mixed set.
flagged = npae.ReconstructionErrorDetector(models, contamination=0.01).fit(mixed.x).labels_
print(f"\nflagged {flagged.sum()} rows; {np.sum(flagged & mixed.is_anomaly)} of them are Fashion-MNIST images")
