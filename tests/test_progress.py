"""npae.progress: Keras' convention, one line per task; rewritten in place on a terminal, summary only in a log."""
import io

import numpy as np

import npae
from npae.datasets import load_mnist
from npae.progress import Progress, counted, fit_with_progress


def test_in_a_log_only_permanent_lines_are_printed_and_on_a_terminal_one_line_is_rewritten():
    log = io.StringIO()
    progress = Progress(log, tty=False)
    progress.update("step 1")
    progress.update("step 2")
    progress.finish("task: done")
    progress.line("next")
    assert log.getvalue() == "task: done\nnext\n"

    screen = io.StringIO()
    progress = Progress(screen, tty=True, min_interval=0)
    progress.update("step 10")
    progress.update("step 2")          # shorter: padded, so nothing of "step 10" stays on screen
    progress.finish("done")
    assert screen.getvalue() == "\rstep 10\rstep 2 \r      \rdone\n"

    silent = io.StringIO()
    progress = Progress(silent, quiet=True, tty=True)
    progress.update("status")
    progress.line("nothing")
    assert silent.getvalue() == ""


def test_terminal_updates_closer_than_min_interval_are_dropped_unless_final():
    screen = io.StringIO()
    progress = Progress(screen, tty=True, min_interval=3600)
    progress.update("first")
    progress.update("dropped")
    progress.update("last", final=True)
    assert screen.getvalue() == "\rfirst\rlast "


def test_counted_uses_the_singular_for_one_and_thousands_separators():
    assert counted(1, "epoch") == "1 epoch"
    assert counted(0, "epoch") == "0 epochs"
    assert counted(30, "epoch") == "30 epochs"
    assert counted(60000, "image") == "60,000 images"
    assert counted(2, "query", "queries") == "2 queries"


def _toy_data():
    (x, _), _ = load_mnist(sample=True)
    return x[:600]


def test_fit_with_progress_trains_the_same_weights_as_one_fit_and_leaves_one_line_in_a_log():
    x = _toy_data()
    reference = npae.Autoencoder([784, 8], seed=3)
    reference.fit(x, epochs=3, batch_size=128, verbose=0)
    stepped = npae.Autoencoder([784, 8], seed=3)
    log = io.StringIO()
    history = fit_with_progress(stepped, x, epochs=3, batch_size=128, validation_data=x[:50],
                                progress=Progress(log, tty=False), label="toy")
    for a, b in zip(reference.get_weights(), stepped.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert history.history["loss"] == reference.history_.history["loss"]
    assert len(history.history["val_loss"]) == 3 and stepped.history_ is history
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("toy: 3 epochs in ")
    assert lines[0].endswith(f"loss {history.history['loss'][-1]:.4f}, val_loss {history.history['val_loss'][-1]:.4f}")


def test_fit_with_progress_on_a_terminal_shows_epoch_loss_and_eta_then_one_summary():
    screen = io.StringIO()
    fit_with_progress(npae.Autoencoder([784, 8], seed=0), _toy_data(), epochs=2, batch_size=200,
                      progress=Progress(screen, tty=True, min_interval=0), label="toy")
    output = screen.getvalue()
    status, summary = output.rsplit("\r", 1)
    assert "toy: epoch 1/2 - loss " in status and "ETA" in status
    assert "toy: epoch 2/2 - loss " in status
    assert summary.strip(" ").startswith("toy: 2 epochs in ") and output.endswith("\n") and output.count("\n") == 1


def test_one_epoch_is_singular():
    log = io.StringIO()
    fit_with_progress(npae.Autoencoder([784, 4], seed=0), _toy_data(), epochs=1, progress=Progress(log, tty=False),
                      label="once")
    assert log.getvalue().startswith("once: 1 epoch in ")
