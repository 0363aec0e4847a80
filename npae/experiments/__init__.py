"""The paper's applications as functions that return numbers: what ``npae reproduce`` tables and plots.

Each module has ``run(data=None, *, quick=False, seed=0, ...) -> dict``:

    anomaly       experiment 4: the shoe among the digits, and 100 injected Fashion-MNIST images (ROC AUC)
    denoising     experiment 5: x + 0.55 N(0, 1) in, clean digits out
    pca           experiment 6: PCA against autoencoders; a linear autoencoder spans PCA's subspace
    compression   experiment 7: bytes per image against reconstruction quality

``data`` is a mapping ``{"mnist": ..., "fashion_mnist": ...}`` of ``((x_train, y_train), (x_test, y_test))``
pairs as :func:`npae.datasets.load_mnist` returns them (float32 in [0, 1], flattened to 784); None loads
them.  Results are plain dicts of floats, lists and NumPy arrays; nothing is plotted or printed here.
``quick=True`` trains for fewer epochs (the report must say so: every result carries ``"epochs"``).
"""
