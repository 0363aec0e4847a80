"""Anomalies with a Conv1D autoencoder: Keras' "Timeseries anomaly detection using an Autoencoder".

Keras' model on windows of 128 points: Conv1D(32, 7, stride 2) -> Conv1D(16, 7, stride 2) ->
Conv1DTranspose(16) -> Conv1DTranspose(32) -> Conv1DTranspose(1), ReLUs, "same" padding (npae.Conv1D and
npae.Conv1DTranspose are the 2-D layers on images one pixel high).  Keras' threshold: the largest
reconstruction error seen in training.  Learns the anomaly-free training part of the UCR series 135 and
scores its test part; the matrix-profile discord, the field's strong baseline, runs beside it.
Runs offline (the series is embedded in npae).  A few seconds of CPU.

Run:  python examples/timeseries_conv1d.py [--quick]
"""
import sys

from npae.datasets import load_series
from npae.timeseries import DiscordDetector, SeriesAnomalyDetector, ucr_hit
from npae.timeseries.evaluation import point_metrics

QUICK = "--quick" in sys.argv[1:]
series = load_series("ucr-anomaly-135")
print(f"{series.name} from {series.source}: anomaly at {series.anomalies}")

detector = SeriesAnomalyDetector(window=128, model="conv1d", epochs=2 if QUICK else 8, batch_size=32,
                                 learning_rate=3e-3, train_stride=2, threshold="max", seed=0)
detector.fit(series.train)
print(detector.model_.summary() or "")
discord = DiscordDetector(m=128).fit(series.train)

for name, fitted in (("Conv1D autoencoder", detector), ("matrix-profile discord", discord)):
    scores = fitted.decision_function(series.test)
    hit, top = ucr_hit(scores, series.anomalies)
    metrics = point_metrics(scores, series.labels, fitted.thresholds_)
    flags = fitted.predict(series.test)
    print(f"{name}: top point {top} ({'within' if hit else 'outside'} the anomaly +- 100), ROC AUC "
          f"{metrics['roc_auc']:.3f}, AP {metrics['average_precision']:.3f}; max-rule threshold "
          f"{fitted.threshold_:.3f} flags {flags.sum()} points (F1 {metrics['f1']['max']:.3f})")
