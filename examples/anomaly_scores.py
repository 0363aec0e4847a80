"""Anomaly scores that catch the sandals: every score of npae.anomaly.SCORES on every test shoe.

The paper ranks one Fashion-MNIST shoe above 10,000 MNIST digits by reconstruction error (RE).  Here all
3,000 test shoes (sandal, sneaker, ankle boot) face all the digits: a shoe counts when its score is above
every digit's.  The paper's RE on its FFA 784-64-784 catches about 86 % of them, only ~75 % of the thin,
dark sandals.  The binary cross-entropy of the reconstruction ("bce": -log p(x | x~), summed over the
pixels) catches far more, and more still with a larger code; "elbo" is a VAE's negative ELBO.  Three
models, 30 + 30 + 10 epochs: about 2 minutes on 2 cores.

Run:  NPAE_DATA=/path/to/data python examples/anomaly_scores.py
      (no data at hand: it runs on the small samples shipped with npae, and says so)
"""
import sys

import numpy as np

import npae
from npae.datasets import find_or_sample

# The full data sets, or offline the embedded samples (with a NOTICE)
mnist, fashion_mnist = find_or_sample("mnist"), find_or_sample("fashion-mnist")
print(mnist.message, fashion_mnist.message, sep="\n", file=sys.stderr)
(x_train, _), (digits, _) = mnist.data
(_, _), (fashion, labels) = fashion_mnist.data
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # 30 as in the paper; --quick: a smoke test (the tests use it)
kinds = {5: "sandal", 7: "sneaker", 9: "ankle boot"}

models = {f"FFA 784-{q}-784": npae.Autoencoder([784, q], seed=0) for q in (64, 128)}
for model in models.values():
    model.fit(x_train, epochs=EPOCHS, batch_size=256, verbose=0)
vae = npae.VariationalAutoencoder([784, 400, 20], seed=0)
vae.fit(x_train, epochs=max(1, EPOCHS // 3), batch_size=128, verbose=0)
models["VAE 784-400-20"] = vae

print(f"{'score':<6}{'model':<17}{'all shoes':>10}" + "".join(f"{kind:>12}" for kind in kinds.values()))
for name, model in models.items():
    for score in npae.anomaly.SCORES:
        if score == "elbo" and model is not vae:
            continue                                      # the ELBO is a VAE's (a ValueError otherwise)
        detector = npae.ReconstructionErrorDetector(model, anomaly_score=score)
        ceiling = detector.decision_function(digits).max()          # the most anomalous-looking digit
        above = detector.decision_function(fashion) > ceiling
        shares = [np.mean(above[labels == label]) for label in kinds]
        print(f"{score:<6}{name:<17}{np.mean(above[np.isin(labels, list(kinds))]):>10.1%}"
              + "".join(f"{share:>12.1%}" for share in shares))
