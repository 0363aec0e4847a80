"""A sparse autoencoder: an L1 penalty on the code (the Keras blog, "Building autoencoders in Keras").

The blog's simple autoencoder is the paper's FFA 784-32-784.  Its sparse twin adds Keras'
``activity_regularizer=l1(10e-5)`` to the code layer: 1e-4 times the sum of |h| over the 32 code units,
averaged over the batch, is added to the loss, which pushes most code values to 0 for any one image.
npae: ``Autoencoder([784, 32], activity_l1=1e-4)``.  The blog trains both 100 epochs and reports the
mean code value on the test set, 3.33 (sparse) against 7.30 (plain); this script does the same (about
1-2 minutes on 2 cores; ``--epochs 30`` for the paper's length).

Run:  NPAE_DATA=/path/to/data python examples/sparse_autoencoder.py [--epochs 100]
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import argparse
import sys

import numpy as np

import npae
from npae.anomaly import score_samples
from npae.datasets import find_or_sample

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=100, help="training epochs of both models (the blog: 100)")
parser.add_argument("--quick", action="store_true", help="2 epochs: a smoke test (the tests use it)")
arguments = parser.parse_args()
epochs = 2 if arguments.quick else arguments.epochs
found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, _) = found.data

print(f"{'model':<28}{'mean code value':>16}{'codes at 0':>12}{'test BCE per pixel':>20}")
for name, activity_l1, blog in (("plain 784-32-784", 0.0, 7.30), ("sparse, activity_l1=1e-4", 1e-4, 3.33)):
    model = npae.Autoencoder([784, 32], activity_l1=activity_l1, seed=0)
    model.fit(x_train, epochs=epochs, batch_size=256, verbose=0)
    codes = model.encode(x_test)                                    # (10000, 32), ReLU: >= 0
    # "bce" summed over the 784 pixels, divided by 784: the reconstruction's BCE, without the penalty.
    bce = score_samples(model, x_test, "bce").mean() / 784
    print(f"{name:<28}{codes.mean():>16.2f}{np.mean(codes == 0):>12.1%}{bce:>20.4f}   (Keras blog: {blog})")
