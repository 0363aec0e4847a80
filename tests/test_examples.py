"""The learner's first steps run offline: every script in ``examples/`` and the README's "Using it" snippet.

Each runs in a fresh interpreter with nothing on the data search path (NPAE_DATA unset, empty home and
caches) and no reachable mirror (NPAE_MIRROR points at a closed port on 127.0.0.1): it must fall back to
the embedded sample, print the NOTICE of ``npae.datasets.find_or_sample`` (the one ``npae reproduce``
prints), and finish with status 0.  The scripts run with ``--quick`` (2 epochs instead of 30), the
README snippet exactly as written.
"""
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
SAMPLE_NOTICE = "NOTICE: using the embedded mnist sample (6,000 training + 1,000 test images)"
FIGURES = {"reconstruction.py": "reconstruction.png", "denoising.py": "denoising.png"}


def offline_environment(tmp_path):
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("NPAE_DATA", "XDG_CACHE_HOME", "KERAS_HOME")}
    environment.update(
        HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"), KERAS_HOME=str(tmp_path / "keras"),
        NPAE_MIRROR="http://127.0.0.1:9/", MPLBACKEND="Agg",
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
    result, work = run_offline([str(script), "--quick"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    uses_data = "find_or_sample" in script.read_text(encoding="utf-8")
    assert (SAMPLE_NOTICE in result.stderr) == uses_data, result.stderr[-3000:]
    assert result.stdout.strip()
    if script.name in FIGURES:
        assert (work / FIGURES[script.name]).stat().st_size > 10_000


def _readme_snippet():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Using it"):]
    return re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)


def test_the_readme_snippet_runs_offline_as_written(tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(_readme_snippet(), encoding="utf-8")
    result, work = run_offline([str(script)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert SAMPLE_NOTICE in result.stdout                       # the snippet prints found.message itself
    val_loss, gradient_error = (float(line) for line in result.stdout.strip().splitlines()[-2:])
    assert math.isfinite(val_loss) and 0 < val_loss < 0.3      # a trained model on the sample
    assert gradient_error < 1e-6                               # the "~1e-9" the snippet promises
    assert (work / "mnist-64.npz").is_file()
