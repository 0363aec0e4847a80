"""PCA against autoencoders: same subspace when linear, better reconstructions when not (paper section 3.5).

1. A *linear* autoencoder 784-16-784 (identity activations, MSE), trained on centred MNIST, learns the
   same 16-dimensional subspace as PCA with 16 components (Baldi & Hornik, 1989), though in another
   basis.  We measure the principal angles between the two subspaces: near zero means "the same".
2. The paper's non-linear FFA (ReLU, sigmoid output, BCE) against PCA, by test reconstruction MSE.
Takes 1-2 minutes on 2 cores (two models, 30 epochs each).

Run:  NPAE_DATA=/path/to/data python examples/pca_vs_autoencoder.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import sys

import numpy as np

import npae
from npae.datasets import find_or_sample
from npae.metrics import principal_angles

found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, _) = found.data
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)
q = 16

pca = npae.PCA(q).fit(x_train)
print(f"PCA, {q} components: {pca.explained_variance_ratio_.sum():.1%} of the variance")

# 1. Linear autoencoder on centred data (the same centring as PCA's).
linear = npae.Autoencoder([784, q], activation="identity", latent_activation="identity",
                          output_activation="identity", loss="mse", seed=0)
linear.fit(x_train - pca.mean_, epochs=EPOCHS, batch_size=256, verbose=0)

# Its reconstructions x W_enc W_dec lie in the span of W_dec's q rows: compare that span with PCA's.
W_dec = linear.get_weights()[2]                                   # (q, 784)
angles = principal_angles(W_dec.T, pca.components_.T, degrees=True)
print(f"principal angles, linear AE decoder vs PCA (degrees): median {np.median(angles):.2f}, "
      f"max {angles.max():.2f}")
print(f"...but not the same basis: |cosine| between first directions "
      f"{abs(W_dec[0] @ pca.components_[0]) / np.linalg.norm(W_dec[0]):.2f}")

centred_test = x_test - pca.mean_
print(f"test MSE  linear AE {linear.reconstruction_error(centred_test).mean():.5f}"
      f"   PCA {pca.reconstruction_error(x_test).mean():.5f}  (PCA is the optimum)")

# 2. The non-linear FFA of the paper against PCA, same q.
ffa = npae.Autoencoder([784, q], seed=0)
ffa.fit(x_train, epochs=EPOCHS, batch_size=256, verbose=0)
print(f"test MSE  FFA (ReLU + sigmoid, BCE) {ffa.reconstruction_error(x_test).mean():.5f}"
      f"   PCA {pca.reconstruction_error(x_test).mean():.5f}")
