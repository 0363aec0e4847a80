"""The learner's first steps run offline: every script in ``examples/`` (the README's snippets: test_readme.py).

Each runs in a fresh interpreter with nothing on the data search path (NPAE_DATA unset, empty home and
caches) and no reachable mirror (NPAE_MIRROR points at a closed port on 127.0.0.1): it must fall back to
the embedded sample, print the NOTICE of ``npae.datasets.find_or_sample`` (the one ``npae reproduce``
prints), and finish with status 0.  The scripts run with ``--quick`` (2 epochs instead of 30).
"""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
SAMPLE_NOTICE = "NOTICE: using the embedded mnist sample (6,000 training + 1,000 test images)"
FIGURES = {"reconstruction.py": "reconstruction.png", "denoising.py": "denoising.png"}
NEEDS_TORCH = {"interop.py"}          # the one example about PyTorch; [test] does not install torch
HAS_TORCH = importlib.util.find_spec("torch") is not None


def offline_environment(tmp_path):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("NPAE_DATA", "XDG_CACHE_HOME", "KERAS_HOME")}
    environment.update(
        HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), KERAS_HOME=str(tmp_path / "keras"),
        NPAE_MIRROR="http://127.0.0.1:9/", MPLBACKEND="Agg",
        # One BLAS thread: these children share the cores with the rest of the suite, where OpenBLAS'
        # two threads spin waiting for each other (the README's Benchmarks note); results are the same.
        OPENBLAS_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    (tmp_path / "home").mkdir()
    return environment


def run_offline(arguments, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=work,
                          env=offline_environment(tmp_path), timeout=600), work


def test_the_examples_are_all_here():
    assert {path.name for path in EXAMPLES} >= {"reconstruction.py", "knn_latent_features.py",
                                               "curse_of_dimensionality.py", "anomaly_detection.py",
                                               "denoising.py", "pca_vs_autoencoder.py", "compression.py"}


@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_each_example_runs_offline_on_the_sample(script, tmp_path):
    if script.name in NEEDS_TORCH and not HAS_TORCH:
        pytest.skip(f"{script.name} needs PyTorch (optional, not in [test]): pip install torch")
    result, work = run_offline([str(script), "--quick"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    uses_data = "find_or_sample" in script.read_text(encoding="utf-8")
    assert (SAMPLE_NOTICE in result.stderr) == uses_data, result.stderr[-3000:]
    assert result.stdout.strip()
    if script.name in FIGURES:
        assert (work / FIGURES[script.name]).stat().st_size > 10_000


def test_the_examples_are_short_quiet_and_write_only_what_they_name(tmp_path):
    """examples/README.md promises scripts under 80 lines; no script prints one line per epoch (the
    others are silent while they train); none leaves a file in the working directory beyond its figures."""
    for script in EXAMPLES:
        source = script.read_text(encoding="utf-8")
        assert len(source.splitlines()) < 80, script.name
        assert "verbose=1" not in source, script.name
    assert "custom.npz" not in {path.name for path in (ROOT / "examples").iterdir()}


def test_interop_example_without_torch_says_what_it_needs(tmp_path):
    """No PyTorch: one line naming what to install, no traceback (sys.modules['torch'] = None hides it)."""
    script = ROOT / "examples" / "interop.py"
    code = f"import sys, runpy; sys.modules['torch'] = None; runpy.run_path({str(script)!r}, run_name='__main__')"
    result, _ = run_offline(["-c", code], tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "interop.py needs PyTorch: pip install torch   (CPU build: see pytorch.org)"


def test_custom_layer_example_leaves_nothing_behind(tmp_path):
    result, work = run_offline([str(ROOT / "examples" / "custom_layer.py")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "same reconstructions" in result.stdout
    assert list(work.iterdir()) == []                      # the saved model went to a temporary folder
