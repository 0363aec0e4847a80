"""Anomalies with an LSTM sequence autoencoder (the Keras blog's sequence-to-sequence autoencoder).

LSTM(1, 32) reads a window of 128 points into its last hidden state (the code), RepeatVector(128) hands the
code to every step of LSTM(32, 32, return_sequences=True), and TimeDistributed(Dense(32, 1)) maps each step
back to a value.  Backpropagation through time is written out in npae.LSTM's docstring.  The LSTM is the
slowest of the three models (128 sequential steps per window), so it trains on every 4th window for a few
epochs here: compare its scores with the Dense and Conv1D examples.  Runs offline.  A few seconds of CPU.

Run:  python examples/timeseries_lstm.py [--quick]
"""
import sys

import npae
from npae.datasets import load_series
from npae.timeseries import SeriesAnomalyDetector, ucr_hit
from npae.timeseries.evaluation import point_metrics

QUICK = "--quick" in sys.argv[1:]
series = load_series("ucr-anomaly-135")
print(f"{series.name} from {series.source}: anomaly at {series.anomalies}")

# The model spelled out (model="lstm" builds the same): windows (N, 128, 1) in, (N, 128, 1) out.
model = npae.Sequential([npae.LSTM(1, 32, rng=0), npae.RepeatVector(128),
                         npae.LSTM(32, 32, return_sequences=True, rng=1),
                         npae.TimeDistributed(npae.Dense(32, 1, rng=2))],
                        optimizer={"name": "adam", "learning_rate": 3e-3}, seed=0)
detector = SeriesAnomalyDetector(window=128, model=model, epochs=1 if QUICK else 6, batch_size=32,
                                 train_stride=4, score_stride=8, threshold="contamination", contamination=0.01)
detector.fit(series.train)
print("training loss per epoch:", [round(loss, 4) for loss in detector.history_.history["loss"]])
scores = detector.decision_function(series.test)
hit, top = ucr_hit(scores, series.anomalies)
metrics = point_metrics(scores, series.labels, detector.thresholds_)
print(f"top point {top} ({'within' if hit else 'outside'} the anomaly +- 100), ROC AUC {metrics['roc_auc']:.3f}, "
      f"AP {metrics['average_precision']:.3f}, F1 at the top-1 % threshold {metrics['f1']['contamination']:.3f}")
