"""Shared fixtures.  Real data comes from NPAE_DATA (CI sets it to ../shared/data)."""
import os

import numpy as np
import pytest


def _require_data():
    if not os.environ.get("NPAE_DATA"):
        pytest.skip("NPAE_DATA is not set: point it at a folder with mnist/ and fashion-mnist/ "
                    "(CI sets it to ../shared/data)")


@pytest.fixture
def rng():
    """A fresh, seeded generator per test: tests are independent and reproducible."""
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def mnist():
    """The full MNIST data set as float32 in [0, 1], flattened: ((x_train, y_train), (x_test, y_test))."""
    _require_data()
    from npae.datasets import load_mnist

    return load_mnist()


@pytest.fixture(scope="session")
def fashion_mnist():
    """The full Fashion-MNIST data set, same layout as ``mnist``."""
    _require_data()
    from npae.datasets import load_fashion_mnist

    return load_fashion_mnist()
