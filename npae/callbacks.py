"""What ``fit`` reports: the History it returns, and callbacks, called after every epoch as Keras'
``callbacks=[...]`` are.

A callback is any callable ``callback(model, epoch, logs)``; ``epoch`` counts from 0 and ``logs`` holds
that epoch's ``loss``, ``seconds`` and, with validation data, ``val_loss``.  If it returns True, training
stops after that epoch (Keras sets ``model.stop_training`` instead).  An object may also define
``on_train_begin(model)``, called once at the start of every ``fit``.
"""
import math


class History:
    """What ``fit`` returns, as in Keras: ``history`` maps "loss", "val_loss" and "seconds" to one value
    per epoch (``val_loss`` only with validation data); ``epoch`` lists the epoch numbers (from 0);
    ``params`` holds the run's settings."""

    def __init__(self, params):
        self.params = dict(params)
        self.epoch = []
        self.history = {"loss": [], "seconds": []}

    def __repr__(self):
        last = {key: values[-1] for key, values in self.history.items() if values}
        return f"History(epochs={len(self.epoch)}, last={last})"

    def __getitem__(self, key):
        return self.history[key]

    def record(self, epoch, logs):
        """Append one epoch's ``logs`` (a dict of floats)."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def forget_last(self):
        """Remove the last epoch's record (its weights were undone: a divergence restored the epoch's start)."""
        if self.epoch:
            recorded = len(self.epoch)
            self.epoch.pop()
            for values in self.history.values():
                if len(values) == recorded:  # a key that every epoch recorded (not one a callback added later)
                    values.pop()


class EarlyStopping:
    """Stop training when the monitored loss has stopped improving; optionally go back to the best weights.

    An epoch *improves* when its ``monitor`` value is below the best so far by more than ``min_delta``.
    After ``patience`` epochs in a row without improvement, training stops; with
    ``restore_best_weights=True`` (the default here; Keras' default is False) the model then gets the
    weights of its best epoch back.  Off unless given to ``fit``, so the paper's runs are unchanged.

    Parameters
    ----------
    monitor : "val_loss" (default; needs validation data) or "loss"
    patience : int >= 1, epochs without improvement before stopping
    min_delta : float >= 0, the smallest decrease that counts as an improvement
    restore_best_weights : bool

    After ``fit``: ``best`` (the best value), ``best_epoch``, ``stopped_epoch`` (None if it never stopped).

    Example: ``model.fit(x, epochs=100, validation_split=0.1, callbacks=[EarlyStopping(patience=3)])``.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best_weights=True):
        if monitor not in ("val_loss", "loss"):
            raise ValueError(f"monitor must be 'val_loss' or 'loss', got {monitor!r}")
        if not isinstance(patience, int) or isinstance(patience, bool) or patience < 1:
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.monitor = monitor
        self.patience = patience
        self.min_delta = float(min_delta)
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin(None)

    def __repr__(self):
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, min_delta={self.min_delta}, "
                f"restore_best_weights={self.restore_best_weights})")

    def on_train_begin(self, model):
        self.best = math.inf
        self.best_epoch = None
        self.stopped_epoch = None
        self._best_weights = None
        self._epochs_without_improvement = 0

    def __call__(self, model, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit does not compute: give fit "
                             f"validation_data or validation_split, or use monitor='loss'")
        value = logs[self.monitor]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch = value, epoch
            self._epochs_without_improvement = 0
            if self.restore_best_weights:
                self._best_weights = [weight.copy() for weight in model.get_weights()]
            return False
        self._epochs_without_improvement += 1
        if self._epochs_without_improvement < self.patience:
            return False
        self.stopped_epoch = epoch
        if self.restore_best_weights and self._best_weights is not None:
            model.set_weights(self._best_weights)
        return True


def format_seconds(seconds):
    """``"42 s"`` under two minutes, ``"3 min 05 s"`` above: the unit a reader expects for an ETA."""
    if not math.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def epoch_line(head, epoch, epochs, logs, elapsed):
    """``"<head> - loss 0.0731 - val_loss 0.0726 - 0.30 s - ETA 8.5 s"``: one epoch's ``logs`` (the dict
    ``fit`` hands its callbacks) and, before the last epoch, the time left at the pace so far."""
    parts = [head, f"loss {logs['loss']:.4f}"]
    if "val_loss" in logs:
        parts.append(f"val_loss {logs['val_loss']:.4f}")
    parts.append(f"{logs['seconds']:.2f} s")
    if epoch + 1 < epochs:
        parts.append("ETA " + format_seconds(elapsed / (epoch + 1) * (epochs - epoch - 1)))
    return " - ".join(parts)
