"""The encoder as a lossy compressor (paper section 3.6): bytes per image against image quality.

A 28 x 28 MNIST image is 784 bytes.  An FFA 784-32-784 encodes it as 32 numbers, stored as float32
(128 bytes), float16 (64 bytes) or 8-bit codes with a per-feature scale and offset (32 bytes).  We
print the compression ratio and the MSE / PSNR of the restored test images for each, then write the
8-bit codes of all 10,000 test images *with the decoder* to one file, read it back and decode it:
the encoder is not needed to restore them.  Takes about 20-40 s on 2 cores.

Run:  NPAE_DATA=/path/to/data python examples/compression.py
      (no data at hand: it runs on the small sample shipped with npae, and says so)
"""
import os
import sys
import tempfile

import numpy as np

import npae
from npae.compression import compress, decompress, load_compressed, save_compressed, storage_table
from npae.datasets import find_or_sample

found = find_or_sample("mnist")          # the full MNIST, or offline the embedded sample (with a NOTICE)
print(found.message, file=sys.stderr)
(x_train, _), (x_test, _) = found.data
EPOCHS = 2 if "--quick" in sys.argv[1:] else 30    # the paper's 30; --quick: 2, a smoke test (the tests use it)
model = npae.Autoencoder([784, 32], seed=0)
model.fit(x_train, epochs=EPOCHS, batch_size=256, verbose=0)

print(f"{'storage':<9}{'bytes/image':>12}{'ratio':>8}{'MSE':>9}{'PSNR (dB)':>11}")
for row in storage_table(model, x_test):
    print(f"{row['storage']:<9}{row['bytes_per_image']:>12.1f}{row['ratio']:>7.1f}x"
          f"{row['mse']:>9.5f}{row['psnr']:>11.2f}")

# One self-contained file: uint8 codes + the decoder's weights, JSON metadata, no pickle.
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "mnist-test.npz")
    save_compressed(path, compress(model, x_test, storage="uint8"), model)
    size = os.path.getsize(path)
    codes, decoder = load_compressed(path)             # a receiver needs only this file and npae
    restored = decompress(codes, decoder)
print(f"\n{path.split(os.sep)[-1]}: {size / 1e3:.0f} kB for {len(x_test)} images "
      f"({x_test.size / 1e3:.0f} kB of pixels, ratio {x_test.size / size:.1f}x, decoder {decoder.nbytes / 1e3:.0f} kB)")
print(f"restored from the file: {restored.shape}, MSE {np.mean((restored - x_test) ** 2):.5f}")
