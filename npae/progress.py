"""Progress lines for long runs, in Keras' convention: one line per task (a model's training, a kNN
search over 10,000 queries), never one line per epoch in a log.

Where the lines go depends on where they are read (the behaviour of Keras' progress bar and of tqdm,
neither of which is a dependency):

    terminal          a running task rewrites one line in place ("\\r": epoch, loss, ETA), at most every
                      0.1 s, and leaves one permanent summary line when it finishes
    file or pipe      the running status is not printed at all; each task leaves its summary line
    quiet=True        nothing at all

Progress goes to stderr by default, so that stdout keeps only what a command is asked to print.
"""
import math
import shutil
import sys
import time

from .callbacks import epoch_line, format_seconds  # noqa: F401  (the engine's epoch line, shared)

__all__ = ["Progress", "counted", "fit_with_progress", "format_seconds"]


def counted(count, noun, plural=None):
    """``"1 epoch"``, ``"30 epochs"``, ``"60,000 images"``: a count with thousands separators and its noun,
    singular for exactly one.  ``plural`` for nouns that do not take an "s"."""
    return f"{count:,} {noun if count == 1 else (plural or noun + 's')}"


class Progress:
    """Writes permanent lines (:meth:`line`) and transient status (:meth:`update`) to ``stream``.

    stream : a text stream, default ``sys.stderr`` (looked up when the Progress is made)
    quiet : print nothing
    tty : force terminal (True) or log (False) behaviour; None asks ``stream.isatty()``
    min_interval : seconds between two rewrites of the terminal line (updates in between are dropped,
        except the ones marked ``final``: a task's last state, or a new task's first)
    """

    def __init__(self, stream=None, *, quiet=False, tty=None, min_interval=0.1):
        self.stream = sys.stderr if stream is None else stream
        self.quiet = bool(quiet)
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = bool(tty)
        self.min_interval = min_interval
        self._shown = 0                # characters of the transient line now on screen (terminal only)
        self._last_update = -math.inf

    def line(self, text):
        """Print ``text`` as a permanent line (replacing the transient line, if one is shown)."""
        if self.quiet:
            return
        self._erase()
        print(text, file=self.stream, flush=True)

    def update(self, text, *, final=False):
        """Show ``text`` as the current status, rewritten in place; only on a terminal (in a log the
        status of a running task is noise: its summary, :meth:`finish`, is what stays)."""
        if self.quiet or not self.tty:
            return
        now = time.perf_counter()
        if not final and now - self._last_update < self.min_interval:
            return
        self._last_update = now
        # Longer than the terminal, the line would wrap and "\r" could no longer erase it.
        width = shutil.get_terminal_size((100, 24)).columns - 1
        text = text[:width]
        self.stream.write("\r" + text.ljust(self._shown))
        self.stream.flush()
        self._shown = len(text)

    def finish(self, text):
        """End a task: on a terminal its status line becomes ``text``; in a log ``text`` is its one line."""
        self.line(text)

    def _erase(self):
        if self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self._shown = 0


def fit_with_progress(model, x, y=None, *, epochs, progress=None, label="training", **fit_options):
    """``model.fit(x, y, epochs=epochs, verbose=0, **fit_options)`` with one progress line for the whole
    fit: on a terminal it shows the last epoch (loss, val_loss, ETA) and ends as the summary
    ``"<label>: 30 epochs in 35 s, loss 0.0731, val_loss 0.0726"``; in a log only the summary is
    printed.  The status comes from a callback (see ``npae.callbacks``): the weights are the same as
    without it.  Returns the History.  Without a ``progress`` (or with a quiet one) this is a plain ``fit``.
    """
    if progress is None or progress.quiet:
        return model.fit(x, y, epochs=epochs, verbose=0, **fit_options)
    started = time.perf_counter()

    def report_epoch(model, epoch, logs):
        progress.update(epoch_line(f"{label}: epoch {epoch + 1}/{epochs}", epoch, epochs, logs,
                                   time.perf_counter() - started))

    callbacks = list(fit_options.pop("callbacks", None) or []) + [report_epoch]
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=callbacks, **fit_options)
    progress.finish(fit_summary(label, history, time.perf_counter() - started))
    return history


def fit_summary(label, history, seconds):
    """``"<label>: 30 epochs in 35 s, loss 0.0731, val_loss 0.0726"``: what a finished fit leaves behind."""
    logs = history.history
    summary = (f"{label}: {counted(len(history.epoch), 'epoch')} in {format_seconds(seconds)}, "
               f"loss {logs['loss'][-1]:.4f}")
    if logs.get("val_loss"):
        summary += f", val_loss {logs['val_loss'][-1]:.4f}"
    return summary
