"""kNN on 8 latent features against kNN on 784 raw pixels (paper tables 1 and 2).

A k-nearest-neighbours classifier (k = 7) needs no training but compares every test image with all
60,000 training images: in 784 dimensions that is a lot of arithmetic.  An autoencoder's encoder turns
each image into 8 numbers that keep most of what tells the digits apart; kNN on those is a few points
less accurate and many times faster.  The paper: 96.4 % in ~1000 s against 89 % in 1.1 s.
Takes about 1 minute on 2 cores (one model, 30 epochs, and the raw-pixel search).

Run:  NPAE_DATA=/path/to/data python examples/knn_latent_features.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import sys
import time

import npae
from npae.datasets import find_or_sample
from npae.knn import KNNClassifier

found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, y_train), (x_test, y_test) = found.data
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)


def knn_accuracy(train, test):
    """Fit and predict, timed together as in the paper: (accuracy, seconds)."""
    started = time.perf_counter()
    predictions = KNNClassifier(k=7).fit(train, y_train).predict(test)
    return (predictions == y_test).mean(), time.perf_counter() - started


KNNClassifier(k=7).fit(x_train[:100], y_train[:100]).predict(x_test[:5])   # compile the kernels first

raw_accuracy, raw_seconds = knn_accuracy(x_train, x_test)
print(f"raw pixels (784 features): accuracy {raw_accuracy:.2%} in {raw_seconds:.1f} s")

# The paper's FFA 784-8-784; only its encoder is used afterwards.
model = npae.Autoencoder([784, 8], seed=0)
model.fit(x_train, epochs=EPOCHS, batch_size=256, verbose=0)
h_train, h_test = model.encode(x_train), model.encode(x_test)     # (60000, 8) and (10000, 8)

latent_accuracy, latent_seconds = knn_accuracy(h_train, h_test)
print(f"latent features (8):       accuracy {latent_accuracy:.2%} in {latent_seconds:.2f} s")
print(f"{100 * (raw_accuracy - latent_accuracy):.1f} points of accuracy for a "
      f"{raw_seconds / latent_seconds:.0f}x speed-up")
