"""npae.kernels.blas: the BLAS thread count chosen per product and load, and put back after the product."""
import numpy as np
import pytest

from npae.kernels import blas


def test_the_rule_one_thread_for_small_or_narrow_products_or_a_busy_machine():
    wide = blas.NARROW_INNER + 1
    small_rows = int(blas.SMALL_PRODUCT_FLOPS / (2 * wide * 10)) - 1      # 2 M K N just below the limit
    assert blas.threads_for(small_rows, wide, 10, busy=False, maximum=2) == 1
    assert blas.threads_for(256, 784, 64, busy=False, maximum=2) == 2           # Dense 784 -> 64, batch 256
    assert blas.threads_for(256, 784, 64, busy=True, maximum=2) == 1
    assert blas.threads_for(128, blas.NARROW_INNER, 4000, busy=False, maximum=2) == 1   # narrow: 1 thread


def test_matmul_gives_numpys_product_and_puts_the_thread_count_back(rng):
    state = blas._state()
    before = state.get() if state.get is not None else None
    for rows in (3, 2000):   # a small product (one thread) and a large one
        a, b = rng.standard_normal((rows, 300)), rng.standard_normal((300, 200))
        out = np.empty((rows, 200))
        assert blas.matmul(a, b, out) is out
        np.testing.assert_allclose(out, np.matmul(a, b), rtol=1e-12)  # thread counts change last bits
        if before is not None:
            assert state.get() == before


def test_other_runnable_threads_does_not_count_this_process():
    """This test's own thread is runnable while it reads: it must not count as another program."""
    if not __import__("os").path.exists("/proc/loadavg"):
        pytest.skip("Linux only")
    assert blas._other_runnable_threads() >= 0


def test_the_default_rule_depends_on_shapes_only(rng):
    """OpenBLAS' last bits depend on its thread count, so the default must not look at the load: the same
    product twice gives the same bits, whatever ran in between."""
    state = blas._state()
    assert not state.watch_load or __import__("os").environ.get("NPAE_BLAS_THREADS") == "auto"
    a, b = rng.standard_normal((2000, 300)).astype(np.float32), rng.standard_normal((300, 200)).astype(np.float32)
    first, second = np.empty((2000, 200), np.float32), np.empty((2000, 200), np.float32)
    blas.matmul(a, b, first)
    blas.matmul(a[:5], b, second[:5])
    blas.matmul(a, b, second)
    np.testing.assert_array_equal(first, second)


def _recording_setter(monkeypatch):
    """Wrap OpenBLAS' own thread-count setter so that the counts it is given are recorded (it still runs)."""
    state = blas._state()
    if state.set is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS whose thread count npae can set")
    calls, real_set = [], state.set
    monkeypatch.setattr(state, "set", lambda count: (calls.append(count), real_set(count))[1])
    return state, calls


def test_a_small_product_runs_on_one_thread_a_large_one_on_the_count_in_force(rng, monkeypatch):
    state, calls = _recording_setter(monkeypatch)
    if state.get() < 2:
        pytest.skip("one BLAS thread in force: nothing to lower")
    a, b = rng.standard_normal((64, 50)), rng.standard_normal((50, 20))      # 128 kFLOP
    out = np.empty((64, 20))
    blas.matmul(a, b, out)
    assert calls[0] == 1 and calls[-1] == state.get()   # lowered to 1, then put back
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    calls.clear()
    a, b = rng.standard_normal((256, 784)), rng.standard_normal((784, 64))   # 26 MFLOP
    out = np.empty((256, 64))
    if blas._state().fixed is None and not blas._state().watch_load:   # the default rule (shapes only)
        blas.matmul(a, b, out)
        assert calls == []                                # left on the count in force
    with blas.load_aware():
        assert blas._state().watch_load
    assert blas._state().watch_load == (__import__("os").environ.get("NPAE_BLAS_THREADS", "") == "auto")


def test_dense_runs_its_three_products_through_the_rule(rng, monkeypatch):
    """Dense's fast path (forward x W, backward x^T dL/dz and dL/dz W^T) goes through blas.matmul and
    blas.matmul_accumulate, whose per-product thread choice keeps a busy machine from stalling small
    products; dW accumulates over two backward passes, as a gradient must."""
    import npae
    seen = []
    real_matmul, real_accumulate = blas.matmul, blas.matmul_accumulate
    monkeypatch.setattr(blas, "matmul", lambda a, b, out: (seen.append((a.shape, b.shape)), real_matmul(a, b, out))[1])
    monkeypatch.setattr(blas, "matmul_accumulate",
                        lambda a, b, out: (seen.append(("+=", a.shape, b.shape)), real_accumulate(a, b, out))[1])
    layer = npae.Dense(5, 3, activation="relu", dtype="float64", rng=0)
    x = rng.standard_normal((4, 5))
    with npae._backend.jit(True):
        y = layer.forward(x, training=True)
        grad_x = layer.backward(np.ones_like(y))
        layer.backward(np.ones_like(y))
    assert seen[:3] == [((4, 5), (5, 3)), ("+=", (5, 4), (4, 3)), ((4, 3), (3, 5))]
    z = x @ layer.W + layer.b
    np.testing.assert_allclose(y, np.maximum(z, 0), rtol=1e-12)
    np.testing.assert_allclose(grad_x, (z > 0) @ layer.W.T, rtol=1e-12)
    np.testing.assert_allclose(layer.dW, 2 * x.T @ (z > 0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_accumulate_adds_the_product_in_every_layout(rng, dtype, monkeypatch):
    """out += a @ b with a and b as stored, transposed, or a slice with a longer row (all one GEMM with
    beta = 1: the GEMM is called), single rows and columns, and the layouts BLAS cannot take (every other
    element, reversed, overlap, integers) through NumPy."""
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    state = blas._state()
    calls = []
    if np.dtype(dtype) in state.gemm:
        real_gemm = state.gemm[np.dtype(dtype)]
        monkeypatch.setitem(state.gemm, np.dtype(dtype), lambda *arguments: (calls.append(1), real_gemm(*arguments)))
    base_a, base_b = rng.standard_normal((40, 70)).astype(dtype), rng.standard_normal((70, 30)).astype(dtype)
    blas_layouts_a = {"rows": base_a, "transposed": np.ascontiguousarray(base_a.T).T, "slice": base_a[:, :50],
                      "one row": base_a[:1], "one column, transposed": np.ascontiguousarray(base_a[:, :1].T).T}
    numpy_layouts_a = {"every other column": base_a[:, ::2], "reversed": base_a[::-1]}
    layouts_b = {"rows": base_b, "transposed": np.ascontiguousarray(base_b.T).T, "one column": base_b[:, :1]}
    for layouts_a, by_blas in ((blas_layouts_a, True), (numpy_layouts_a, False)):
        for name_a, a in layouts_a.items():
            for name_b, b in layouts_b.items():
                b = b[:a.shape[1]]
                start = rng.standard_normal((a.shape[0], b.shape[1])).astype(dtype)
                out = start.copy()
                calls.clear()
                assert blas.matmul_accumulate(a, b, out) is out
                expected = start.astype(np.float64) + a.astype(np.float64) @ b.astype(np.float64)
                np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * 70,
                                           err_msg=f"{name_a} {name_b}")
                if state.gemm:
                    assert len(calls) == (1 if by_blas else 0), (name_a, name_b)
    with pytest.raises(ValueError):   # inner dimensions that do not match: NumPy's error, BLAS never called
        blas.matmul_accumulate(base_a[:2], base_b[:3], np.zeros((2, 30), dtype))
    unaligned = np.frombuffer(b"\0" + base_a[:4, :8].tobytes(), dtype=dtype, offset=1).reshape(4, 8)
    out = np.zeros((4, 30), dtype)
    calls.clear()
    blas.matmul_accumulate(unaligned, base_b[:8], out)
    assert calls == []   # misaligned: NumPy's path
    np.testing.assert_allclose(out, base_a[:4, :8] @ base_b[:8], rtol=tolerance, atol=tolerance * 10)
    square = rng.standard_normal((20, 20)).astype(dtype)
    expected = square + square @ square
    blas.matmul_accumulate(square, square, square)        # out overlaps both factors: NumPy's product first
    np.testing.assert_allclose(square, expected, rtol=tolerance)
    frozen = np.zeros((20, 20), dtype)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):  # never written behind NumPy's back
        blas.matmul_accumulate(square, square, frozen)
    integers = np.arange(6).reshape(2, 3)
    out = np.ones((2, 2), dtype=integers.dtype)
    np.testing.assert_array_equal(blas.matmul_accumulate(integers, integers.T, out), 1 + integers @ integers.T)


def test_matmul_accumulate_uses_the_blas_gemm_when_there_is_one():
    """NumPy's wheels ship OpenBLAS with its C interface: the GEMM is found for both float types, so the
    test above ran the BLAS path and not only the fallback."""
    state = blas._state()
    if state.get is None:
        pytest.skip("no OpenBLAS found in this process (another BLAS): the fallback is the path")
    assert set(state.gemm) == {np.dtype(np.float32), np.dtype(np.float64)}


def test_the_thread_count_is_set_on_numpys_openblas_even_when_another_package_loaded_its_own():
    """faiss-cpu ships its own OpenBLAS; found first in /proc/self/maps it used to take the thread-count calls,
    which then did nothing to NumPy's products.  In a fresh process that loads faiss first, npae must still
    find NumPy's library: lowering its count to 1 must show in NumPy's own report of it."""
    pytest.importorskip("faiss")
    import subprocess
    import sys
    code = ("import faiss, numpy, ctypes\n"
            "from npae.kernels import blas\n"
            "state = blas._state()\n"
            "assert state.get is not None\n"
            "with blas.single_threaded():\n"
            "    inner = [l.split()[-1] for l in open('/proc/self/maps') if 'scipy_openblas' in l]\n"
            "    lib = ctypes.CDLL(inner[0])\n"
            "    getter = getattr(lib, 'scipy_openblas_get_num_threads64_')\n"
            "    print(getter())\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=dict(__import__("os").environ, OPENBLAS_NUM_THREADS="2"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"
