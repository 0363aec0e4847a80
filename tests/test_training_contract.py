"""The one training contract: any layer stack trains with the same fit, learners' own layers plug in,
and no misuse through the public API can crash the interpreter."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import npae
from npae.gradcheck import gradcheck, numerical_gradient, relative_error

TOLERANCE = 1e-6


# ------------------------------------------------------------------------------------------------
# A layer and an activation written the way the docs tell a learner to (npae.layers.base).

@npae.register
class Shift(npae.Layer):
    """y = x + c, one learned offset per feature.  dL/dc = sum_B dL/dy;  dL/dx = dL/dy.
    (examples/custom_layer.py writes a learned scale the same way.)"""

    def __init__(self, size, dtype="float64"):
        self.size = size
        self.dtype = dtype
        self.offset = self.new_parameter((size,), dtype, lambda: np.linspace(-0.5, 0.5, size))
        self.offset_grad = self.new_gradient(self.offset)

    def get_config(self):
        return {"size": self.size, "dtype": self.dtype}

    def parameters(self):
        return [self.offset]

    def gradients(self):
        return [self.offset_grad]

    def forward(self, x, training=False):
        return x + self.offset

    def backward(self, grad_output):
        self.offset_grad += np.sum(grad_output, axis=0)
        return np.array(grad_output)


@npae.register
class Swish(npae.Activation):
    """f(z) = z sigma(z);  f'(z) = sigma(z) + f(z) (1 - sigma(z))."""

    name = "swish_in_tests"

    def function(self, z):
        return z / (1 + np.exp(-z))

    def derivative(self, z, a):
        s = 1 / (1 + np.exp(-z))
        return s + a * (1 - s)


class Unregistered(Shift):
    pass


def test_a_custom_layer_is_gradient_checked_trained_saved_and_loaded(tmp_path, rng):
    assert gradcheck(Shift(5), rng.standard_normal((4, 5))) < TOLERANCE
    model = npae.Sequential([npae.Dense(5, 4, activation="tanh", dtype="float64", rng=0), Shift(4),
                             npae.Dense(4, 5, dtype="float64", rng=1)], loss="mse", seed=0)
    x = rng.standard_normal((64, 5))
    assert gradcheck(model, x[:6]) < TOLERANCE
    history = model.fit(x, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.8 * history.history["loss"][0]
    assert not np.allclose(model.layers[1].offset, np.linspace(-0.5, 0.5, 4))  # the custom parameter learned
    model.save(tmp_path / "custom.npz")
    loaded = npae.load(tmp_path / "custom.npz")
    assert isinstance(loaded.layers[1], Shift)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_a_custom_activation_is_gradient_checked_trained_saved_and_loaded(tmp_path, rng):
    z = rng.standard_normal((4, 6))
    assert gradcheck(Swish(), z) < TOLERANCE
    assert gradcheck(npae.Dense(6, 3, activation="swish_in_tests", dtype="float64", rng=0), z) < TOLERANCE
    model = npae.Autoencoder([6, 3], activation=Swish(), output_activation="identity", loss="mse",
                             dtype="float64", seed=0)
    x = rng.uniform(0, 1, (80, 6))
    assert gradcheck(model, x[:5]) < TOLERANCE
    history = model.fit(x, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "swish.npz")
    loaded = npae.load(tmp_path / "swish.npz")
    assert isinstance(loaded.encoder[0].activation, Swish)
    np.testing.assert_array_equal(loaded.reconstruct(x), model.reconstruct(x))


def test_only_registered_classes_are_saved_or_loaded(tmp_path, rng):
    model = npae.Sequential([npae.Dense(3, 3, dtype="float64"), Unregistered(3)], loss="mse")
    with pytest.raises(ValueError, match="not registered.*@npae.register"):
        model.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()
    with pytest.raises(ValueError, match="already registered"):
        @npae.register
        class Shift(npae.Layer):  # noqa: F811  (another class under a taken name)
            pass


def test_sequential_and_autoencoder_share_one_fit(rng):
    """Sequential([Dense, Dense]) with the same weights, loss and seed trains bitwise like Autoencoder(sizes)."""
    x = rng.uniform(0, 1, (300, 20)).astype(np.float32)
    paper = npae.Autoencoder([20, 6], seed=3)
    layers = [npae.Dense(20, 6, "relu"), npae.Dense(6, 20)]
    plain = npae.Sequential(layers, loss=npae.BinaryCrossEntropy(from_logits=True), seed=3)
    plain.set_weights(paper.get_weights())
    runs = [model.fit(x, epochs=3, batch_size=64, verbose=0).history["loss"] for model in (paper, plain)]
    assert runs[0] == runs[1]
    for a, b in zip(paper.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(paper.reconstruct(x), plain.predict(x))


def test_the_step_contract_by_hand_equals_train_on_batch(rng):
    x = rng.uniform(0, 1, (32, 10))
    by_hand, automatic = (npae.Autoencoder([10, 4], dtype="float64", seed=1) for _ in range(2))
    by_hand.zero_grad()
    loss = by_hand.value_and_grad(x)
    by_hand.optimizer.step(by_hand.parameters(), by_hand.gradients())
    assert automatic.train_on_batch(x) == loss
    for a, b in zip(by_hand.get_weights(), automatic.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_encode_and_decode_split_any_autoencoder(rng):
    encoder = [npae.Dense(8, 5, "tanh", dtype="float64", rng=0), npae.ReLU(), npae.Dense(5, 2, dtype="float64",
                                                                                         rng=1)]
    decoder = [npae.Dense(2, 8, dtype="float64", rng=2)]
    model = npae.Autoencoder(encoder=encoder, decoder=decoder, loss=npae.BinaryCrossEntropy(from_logits=True))
    x = rng.uniform(0, 1, (7, 8))
    codes = model.encode(x)
    assert codes.shape == (7, 2) and model.latent_shape == (2,)
    np.testing.assert_allclose(model.decode(codes), model.reconstruct(x), rtol=1e-14)
    assert (model.reconstruct(x) > 0).all() and (model.reconstruct(x) < 1).all()  # the loss's sigmoid


def test_gradients_of_a_weight_used_twice_add_up_in_either_order(rng):
    """Tied weights: the encoder's W gets the sum of its two uses' gradients, whichever backward runs first,
    and TiedDense on its own gives the right gradient w.r.t. its input, its bias and the shared W."""
    encoder = npae.Dense(6, 3, "tanh", dtype="float64", rng=0)
    tied = npae.TiedDense(encoder, "sigmoid")
    x, h = rng.standard_normal((5, 6)), rng.standard_normal((5, 3))
    g_encoder, g_tied = rng.standard_normal((5, 3)), rng.standard_normal((5, 6))
    results = {}
    for order in ("encoder first", "tied first"):
        encoder.zero_grad()
        tied.zero_grad()
        a = encoder.forward(x, training=True)
        y = tied.forward(h, training=True)
        steps = [lambda: encoder.backward(g_encoder), lambda: tied.backward(g_tied)]
        for step in steps if order == "encoder first" else steps[::-1]:
            step()
        results[order] = (encoder.dW.copy(), encoder.db.copy(), tied.db.copy())
    for first, second in zip(*results.values()):
        np.testing.assert_array_equal(first, second)
    grad_z_tied = g_tied * y * (1 - y)                     # (5, 6)
    expected = x.T @ (g_encoder * (1 - a * a)) + (h.T @ grad_z_tied).T
    np.testing.assert_allclose(results["tied first"][0], expected, rtol=1e-12)
    # TiedDense alone: its input and bias through gradcheck, the shared W by differences of its own loss
    assert gradcheck(tied, h) < TOLERANCE
    tied.zero_grad()
    encoder.zero_grad()
    tied.forward(h, training=True)
    tied.backward(g_tied)
    numeric = numerical_gradient(lambda: float(np.sum(g_tied * tied.forward(h))), encoder.W)
    assert relative_error(encoder.dW, numeric) < TOLERANCE


def test_readme_gradcheck_example_gives_what_it_claims(mnist):
    """README: ``npae.gradcheck(small, x_train[:4, 400:406])`` prints ~1e-9 (pixels off the ReLU kink)."""
    (x_train, _), _ = mnist
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8") as stream:
        readme = stream.read()
    assert 'small = npae.Autoencoder([6, 3], dtype="float64", seed=0)' in readme
    assert 'npae.gradcheck(small, x_train[:4, 400:406].astype("float64"))' in readme
    small = npae.Autoencoder([6, 3], dtype="float64", seed=0)
    error = npae.gradcheck(small, x_train[:4, 400:406].astype("float64"))
    assert error < 1e-8 and f"# {error:.1e}" in readme


# ------------------------------------------------------------------------------------------------
# Misuse, each in a fresh interpreter: a Python exception, never a signal (a crash).

def run_python(code):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                            timeout=120, env=dict(os.environ, PYTHONFAULTHANDLER="1"))
    assert result.returncode >= 0, f"killed by signal {-result.returncode}:\n{result.stderr}"
    return result


MISUSE = {
    "one activation instance for every layer": ("""
        import numpy as np, npae
        x = np.random.default_rng(0).uniform(0, 1, (300, 784)).astype(np.float32)
        model = npae.Autoencoder([784, 128, 32], activation=npae.ReLU(), seed=0)
        model.fit(x, epochs=2, verbose=0)
        x = np.random.default_rng(1).uniform(0.1, 1, (4, 6))
        errors = [npae.gradcheck(npae.Autoencoder([6, 5, 3], activation=activation, dtype="float64", seed=1), x)
                  for activation in (npae.ReLU(), "relu", npae.Tanh(), "tanh")]
        print("ok", errors[0] == errors[1] < 1e-6, errors[2] == errors[3] < 1e-6)
        """, "ok True True"),
    "one Adam for two models of different sizes": ("""
        import npae
        adam = npae.Adam()
        npae.Autoencoder([784, 64], optimizer=adam)
        try:
            npae.Autoencoder([784, 32], optimizer=adam)
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: this Adam already trains another set of parameters"),
    "one Adam for two models of the same size": ("""
        import npae
        adam = npae.Adam()
        npae.Autoencoder([20, 4], optimizer=adam)
        try:
            npae.Autoencoder([20, 4], optimizer=adam)
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: this Adam already trains another set of parameters"),
    "an optimiser stepped with other arrays": ("""
        import numpy as np, npae
        adam = npae.Adam()
        adam.step([np.zeros(100)], [np.zeros(100)])
        try:
            adam.step([np.zeros(10)], [np.zeros(10)])
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: this Adam already trains"),
    "gradients of the wrong shape": ("""
        import numpy as np, npae
        try:
            npae.Adam().step([np.zeros(100)], [np.zeros(10)])
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: gradients[0] must be a float64 array of shape (100,)"),
    "optimizer state of the wrong shapes": ("""
        import numpy as np, npae
        model = npae.Autoencoder([20, 4], seed=0)
        model.train_on_batch(np.random.default_rng(0).uniform(0, 1, (8, 20)))
        try:
            model.optimizer.set_state(5, [np.zeros(3, np.float32)] * 8)
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: state first_moment[0] has shape (3,), expected (20, 4)"),
    "a Dense layer given the wrong width": ("""
        import numpy as np, npae
        layer = npae.Dense(10, 4)
        try:
            layer.forward(np.ones((3, 7), np.float32), training=True)
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: Dense(10, 4, activation='identity') takes x of shape (batch, 10)"),
    "a backward with the wrong gradient shape": ("""
        import numpy as np, npae
        layer = npae.Dense(10, 4, activation="relu")
        layer.forward(np.ones((3, 10), np.float32), training=True)
        try:
            layer.backward(np.ones((300, 4), np.float32))
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: Dense(10, 4, activation='relu'): grad_output has shape (300, 4)"),
    "an activation's backward with the wrong gradient size": ("""
        import numpy as np, npae
        relu = npae.ReLU()
        relu.forward(np.ones((3, 10)), training=True)
        try:
            relu.backward(np.ones((3, 11)))
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: ReLU(): grad_output has shape (3, 11), expected (3, 10)"),
    "a fused activation given a bias of the wrong length": ("""
        import numpy as np, npae
        try:
            npae.ReLU().apply_with_bias(np.ones((4, 1000), np.float32), np.ones(3, np.float32))
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: bias must be a float32 array of shape (1000,)"),
    "a fused backward given arrays of the wrong shapes": ("""
        import numpy as np, npae
        try:
            a = np.ones((4, 10), np.float32)
            npae.Sigmoid().backward_with_bias(a, a, a, np.ones((1, 10), np.float32), np.ones(10, np.float32), True)
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: every array must be a C-contiguous float32 array of shape (4, 10)"),
    "a loss with the wrong gradient buffer": ("""
        import numpy as np, npae
        try:
            npae.MeanSquaredError().value_and_grad(np.ones((4, 5)), np.ones((4, 5)), np.ones((2, 2)))
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: grad_out must be a writeable C-contiguous float64 array of shape (4, 5)"),
    "the same layer twice in a model": ("""
        import npae
        layer = npae.Dense(4, 4)
        try:
            npae.Sequential([layer, layer])
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: layers[1] (Dense(4, 4, activation='identity')) appears twice"),
    "layers that do not line up": ("""
        import npae
        try:
            npae.Sequential([npae.Dense(4, 3), npae.Dense(5, 2)])
        except ValueError as error:
            print("ValueError:", error)
        """, "ValueError: layers[1] does not fit the shape before it"),
    "a model of absurd size": ("""
        import npae
        try:
            npae.Autoencoder([784, 100_000_000])
        except ValueError as error:
            print("ValueError:", error)
        """, "more than the"),
}


@pytest.mark.parametrize("name", sorted(MISUSE))
def test_misuse_gives_a_python_error_not_a_crash(name):
    code, expected = MISUSE[name]
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout, result.stdout + result.stderr


def test_register_gives_a_name_to_one_class_only():
    """Two libraries' classes both named Scale: the second is a ValueError, not a silent replacement; a user
    class named like a built-in (Dense) cannot replace npae's own."""
    def make(module):
        return type("Scale", (npae.Layer,), {"__module__": module, "__qualname__": "Scale"})

    first = npae.register(make("liba_for_tests"))
    assert npae.register(first) is first                          # the same class again: harmless
    with pytest.raises(ValueError, match="'Scale' is already registered for liba_for_tests.Scale"):
        npae.register(make("libb_for_tests"))
    with pytest.raises(ValueError, match="'Dense' is already registered for npae.layers.dense.Dense"):
        npae.register(type("Dense", (npae.Layer,), {"__module__": "mine", "__qualname__": "Dense"}))
    from npae.registry import lookup
    assert lookup("Dense", "layer") is npae.Dense and lookup("Scale", "layer") is first


def test_a_parameter_shared_with_separate_gradient_arrays_is_refused():
    """Red-team 10: the second layer's gradient was silently dropped (gradcheck 0.50)."""
    first = Shift(4)
    second = Shift(4)
    second.offset = first.offset                     # shared parameter, but second.offset_grad is its own
    with pytest.raises(ValueError, match=r"layers\[1\].*shares a parameter with layers\[0\].*same gradient array"):
        npae.Sequential([first, second], loss="mse")
    second.offset_grad = first.offset_grad           # sharing the gradient too: one parameter, both uses add up
    model = npae.Sequential([first, second], loss="mse")
    assert len(model.parameters()) == 1


def test_a_layer_that_writes_its_initial_value_saves_and_loads(tmp_path, rng):
    """Red-team 19: a constructor writing into its parameter after new_parameter (npae.load's placeholders
    are writeable, so the constructor runs as it does normally)."""
    @npae.register
    class Ones(npae.Layer):
        def _forward(self, x):
            return x * self.s

        def __init__(self, size):
            self.size = size
            self.s = self.new_parameter((size,), np.float64)
            self.s[...] = 1.0                        # written after new_parameter
            self.ds = self.new_gradient(self.s)

        def parameters(self):
            return [self.s]

        def gradients(self):
            return [self.ds]

        def get_config(self):
            return {"size": self.size}

    model = npae.Sequential([npae.Dense(3, 3, dtype="float64", rng=0), Ones(3)], loss="mse")
    model.layers[1].s[...] = 2.5
    model.save(tmp_path / "ones.npz")
    np.testing.assert_array_equal(npae.load(tmp_path / "ones.npz").layers[1].s, [2.5, 2.5, 2.5])


def test_a_config_that_cannot_be_saved_or_rebuilt_is_named_at_save_time(tmp_path):
    """Red-team 20 and issue 25: a NumPy integer or NaN in get_config, or no get_config at all, fails at save
    with the layer, the key and the fix named, and leaves no file."""
    class NumpyInt(Shift):
        def get_config(self):
            return {"size": np.int64(self.size), "dtype": self.dtype}

    class NoConfig(npae.Layer):
        def __init__(self, size):
            self.size = size

    for cls in (NumpyInt, NoConfig):
        npae.register(cls)
    cases = [(NumpyInt(3), r"layers\[1\] \(NumpyInt\): get_config\(\)\['size'\].*JSON.*int\(n\)"),
             (NoConfig(3), r"layers\[1\] \(NoConfig\).*missing a required argument: 'size'.*define get_config")]
    for layer, message in cases:
        model = npae.Sequential([npae.Dense(3, 3, dtype="float64"), layer], loss="mse")
        with pytest.raises(ValueError, match=message):
            model.save(tmp_path / "m.npz")
        assert not (tmp_path / "m.npz").exists()


def test_crafted_shapes_do_not_wrap_and_long_names_are_not_echoed_whole():
    """Red-team 23: a per-sample shape whose product overflows int64, a 900,000-character activation name."""
    huge = (2 ** 32, 2 ** 32, 2 ** 3)                # 2^67 values: np.prod wraps to 0
    assert npae.Flatten().output_shape(huge) == (2 ** 67,)
    with pytest.raises(ValueError, match="cannot reshape"):
        npae.Reshape((1,)).output_shape((2 ** 32, 2 ** 32))
    with pytest.raises(ValueError) as raised:
        npae.Dense(3, 3, activation="x" * 900_000)
    assert len(str(raised.value)) < 1000
