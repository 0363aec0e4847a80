"""Anomalies in a sensor series with a Dense autoencoder: TensorFlow's "Intro to Autoencoders" recipe.

A Dense autoencoder (flattened windows of 128 points, 32-16-8-16-32) learns the anomaly-free first 1,200
points of the UCR anomaly archive's series 135; every point of the 7,501-point test part then gets a score
(its reconstruction error, averaged over the windows covering it).  TensorFlow's threshold: mean + 1
standard deviation of the training scores.  The UCR archive's rule: is the top-scored point within the
labelled anomaly (points 4187..4198) +- 100?  Runs offline (the series is embedded in npae).  A few seconds of CPU.

Run:  python examples/timeseries_dense.py [--quick]
"""
import sys

import numpy as np

from npae.datasets import load_series
from npae.timeseries import SeriesAnomalyDetector, ucr_hit
from npae.timeseries.evaluation import point_metrics

QUICK = "--quick" in sys.argv[1:]
series = load_series("ucr-anomaly-135")          # NPAE_DATA/timeseries/..., else the embedded copy
print(f"{series.name}: {series.train.size:,} training points, {series.test.size:,} test points "
      f"(anomaly at {series.anomalies}), from {series.source}")

detector = SeriesAnomalyDetector(window=128, model="dense", epochs=5 if QUICK else 30, batch_size=32,
                                 learning_rate=3e-3, threshold="std", n_std=1.0, seed=0)
detector.fit(series.train)                       # anomaly-free data only
scores = detector.decision_function(series.test)  # (7501,): one score per point
flags = detector.predict(series.test)            # 1 where the score exceeds mean + 1 std of training scores

hit, top = ucr_hit(scores, series.anomalies)
metrics = point_metrics(scores, series.labels, detector.thresholds_)
print(f"top-scored point: {top} -> {'within' if hit else 'outside'} the anomaly +- 100 (the UCR rule)")
print(f"ROC AUC {metrics['roc_auc']:.3f}, average precision {metrics['average_precision']:.3f}")
print(f"threshold (mean + 1 std) {detector.threshold_:.3f}: {flags.sum()} points flagged, "
      f"{flags[series.labels == 1].sum()} of the {series.labels.sum()} anomalous ones")
for rule, f1 in metrics["f1"].items():
    print(f"  F1 at the {rule!r} threshold ({detector.thresholds_[rule]:.3f}): {f1:.3f}")
print("five highest scores at points", np.argsort(scores)[::-1][:5].tolist())
