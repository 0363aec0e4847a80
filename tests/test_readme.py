"""Every Python snippet of README.md runs as pasted, in order, offline, in a few seconds.

A newcomer pastes the README's ```python blocks one after the other into one interpreter; so does this
test: a fresh interpreter, nothing on the data search path and no reachable mirror (the environment of
``test_examples.py``), so that ``find_or_sample`` falls back to the embedded sample (6,000 MNIST training
images), on which the snippets' 30 epochs take seconds.  No substitution: the text is run as written.
Each block is compiled under the name ``README.md:<line>`` so that a failure names the block.
"""
import json
import math
import re
from pathlib import Path

from test_examples import SAMPLE_NOTICE, run_offline

README = Path(__file__).resolve().parents[1] / "README.md"

# Runs in the child: execs each block in one shared namespace, as pasting into one session would.
RUNNER = """
import json, sys
blocks = json.loads(open(sys.argv[1], encoding="utf-8").read())
namespace = {"__name__": "__main__"}
for line, code in blocks:
    exec(compile(code, f"README.md:{line}", "exec"), namespace)
    print(f"README block at line {line}: ran", file=sys.stderr, flush=True)
"""


def python_blocks(text):
    """[(line of the block's first code line, code)] for every ```python block, in order."""
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1))
            for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)]


def test_the_block_finder_sees_every_python_block():
    text = README.read_text(encoding="utf-8")
    blocks = python_blocks(text)
    assert len(blocks) == text.count("```python") >= 4
    assert all(text.splitlines()[line - 2] == "```python" for line, _ in blocks)


def test_every_readme_snippet_runs_as_pasted_in_order(tmp_path):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    (tmp_path / "blocks.json").write_text(json.dumps(blocks), encoding="utf-8")
    (tmp_path / "runner.py").write_text(RUNNER, encoding="utf-8")
    result, work = run_offline([str(tmp_path / "runner.py"), str(tmp_path / "blocks.json")], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert [f"README block at line {line}: ran" for line, _ in blocks] == \
        [line for line in result.stderr.splitlines() if line.startswith("README block at line")]

    # "Using it": the sample's NOTICE (the snippet prints found.message), a trained model, a right gradient
    assert SAMPLE_NOTICE in result.stdout
    printed = [line for line in result.stdout.splitlines() if re.fullmatch(r"[-+0-9.e]+", line.strip())]
    val_loss, gradient_error, vae_test_loss = (float(value) for value in printed[-3:])
    assert math.isfinite(val_loss) and 0 < val_loss < 0.3           # 30 epochs on the sample
    assert gradient_error < 1e-6                                    # the "3.5e-09" the snippet shows
    assert 60 < vae_test_loss < 250                                 # nats per image, 10 epochs on the sample
    assert (work / "mnist-64.npz").is_file()                        # model.save, then npae.load
