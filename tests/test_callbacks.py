"""fit(callbacks=...) and EarlyStopping: when they run, when training stops, which weights it keeps."""
import numpy as np
import pytest

import npae
from npae.callbacks import EarlyStopping


@pytest.fixture
def data(rng):
    return rng.uniform(0, 1, (300, 12)).astype(np.float32)


def _snapshots():
    """A callback that records the weights after every epoch."""
    weights = []

    def record(model, epoch, logs):
        weights.append([w.copy() for w in model.get_weights()])

    return record, weights


def test_every_callback_sees_every_epoch_with_its_logs(data):
    seen = []
    model = npae.Autoencoder([12, 4], seed=0)
    history = model.fit(data, epochs=3, validation_data=data[:50], verbose=0,
                        callbacks=[lambda m, epoch, logs: seen.append((m, epoch, dict(logs)))])
    assert [epoch for _, epoch, _ in seen] == [0, 1, 2] and all(m is model for m, _, _ in seen)
    assert [logs["loss"] for _, _, logs in seen] == history.history["loss"]
    assert [logs["val_loss"] for _, _, logs in seen] == history.history["val_loss"]
    assert set(seen[0][2]) == {"loss", "val_loss", "seconds"}


def test_a_callback_returning_true_stops_after_that_epoch_and_the_others_still_run(data):
    later = []
    model = npae.Autoencoder([12, 4], seed=0)
    history = model.fit(data, epochs=10, verbose=0,
                        callbacks=[lambda m, epoch, logs: epoch == 1, lambda m, epoch, logs: later.append(epoch)])
    assert history.epoch == [0, 1] and later == [0, 1]


def test_callbacks_do_not_change_the_weights(data):
    weights = []
    for callbacks in (None, [lambda m, epoch, logs: None]):
        model = npae.Autoencoder([12, 4], seed=0)
        model.fit(data, epochs=3, verbose=0, callbacks=callbacks)
        weights.append(model.get_weights())
    for plain, with_callback in zip(*weights):
        np.testing.assert_array_equal(plain, with_callback)


def test_early_stopping_stops_after_patience_and_restores_the_best_weights(data):
    # min_delta = 1 makes every epoch after the first "not an improvement": the best stays epoch 0.
    stopper = EarlyStopping(monitor="loss", patience=2, min_delta=1.0)
    record, weights = _snapshots()
    model = npae.Autoencoder([12, 4], seed=0)
    history = model.fit(data, epochs=20, verbose=0, callbacks=[record, stopper])
    assert history.epoch == [0, 1, 2]
    assert stopper.best_epoch == 0 and stopper.stopped_epoch == 2 and stopper.best == history.history["loss"][0]
    for restored, best in zip(model.get_weights(), weights[0]):
        np.testing.assert_array_equal(restored, best)
    assert not all(np.array_equal(a, b) for a, b in zip(weights[2], weights[0]))  # it did move on


def test_early_stopping_without_restoring_keeps_the_last_weights(data):
    stopper = EarlyStopping(monitor="loss", patience=1, min_delta=1.0, restore_best_weights=False)
    record, weights = _snapshots()
    model = npae.Autoencoder([12, 4], seed=0)
    model.fit(data, epochs=20, verbose=0, callbacks=[record, stopper])
    assert stopper.stopped_epoch == 1
    for kept, last in zip(model.get_weights(), weights[-1]):
        np.testing.assert_array_equal(kept, last)


def test_early_stopping_lets_an_improving_run_finish_and_resets_for_the_next_fit(data):
    stopper = EarlyStopping(monitor="val_loss", patience=3)
    model = npae.Autoencoder([12, 4], seed=0)
    history = model.fit(data, epochs=5, validation_split=0.2, verbose=0, callbacks=[stopper])
    assert len(history.epoch) == 5 and stopper.stopped_epoch is None
    assert stopper.best_epoch == int(np.argmin(history.history["val_loss"]))
    model.fit(data, epochs=1, validation_split=0.2, verbose=0, callbacks=[stopper])
    assert stopper.best_epoch == 0  # on_train_begin started it afresh


def test_early_stopping_on_val_loss_needs_validation_data(data):
    with pytest.raises(ValueError, match="validation_data or validation_split"):
        npae.Autoencoder([12, 4], seed=0).fit(data, epochs=2, verbose=0, callbacks=[EarlyStopping()])


@pytest.mark.parametrize("options, message", [
    ({"monitor": "accuracy"}, "monitor"), ({"patience": 0}, "patience"), ({"patience": 2.5}, "patience"),
    ({"min_delta": -0.1}, "min_delta"), ({"min_delta": float("nan")}, "min_delta")])
def test_early_stopping_validates_its_arguments(options, message):
    with pytest.raises(ValueError, match=message):
        EarlyStopping(**options)


def test_fit_rejects_a_callback_that_cannot_be_called(data):
    model = npae.Autoencoder([12, 4], seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"callbacks\[1\] must be callable"):
        model.fit(data, epochs=1, verbose=0, callbacks=[lambda m, e, logs: None, "stop"])
    for unchanged, original in zip(model.get_weights(), before):
        np.testing.assert_array_equal(unchanged, original)


def test_one_callback_needs_no_list_and_a_strange_answer_is_named(rng):
    x = rng.random((32, 6)).astype(np.float32)
    model = npae.Autoencoder([6, 3], seed=0)
    seen = []
    model.fit(x, epochs=2, verbose=0, callbacks=lambda model, epoch, logs: seen.append(epoch))
    assert seen == [0, 1]
    with pytest.raises(ValueError, match=r"callbacks\[0\] returned array"):
        model.fit(x, epochs=1, verbose=0, callbacks=[lambda model, epoch, logs: np.ones(3)])
    with pytest.raises(ValueError, match="callbacks must be a list of callables"):
        model.fit(x, epochs=1, verbose=0, callbacks=3)
