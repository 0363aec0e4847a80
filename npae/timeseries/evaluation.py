"""How a point score is judged: the UCR archive's rule, ranking metrics, and F1 at a threshold.

    ucr_hit         Wu and Keogh (2021): right when the single highest-scored point lies inside a labelled
                    anomaly widened by ``margin`` = 100 points on each side
    point_metrics   ROC AUC and average precision of the scores against the 0/1 labels of every point
                    (npae.metrics), and F1 of the flags at each threshold given
"""
import numpy as np

from ..metrics import average_precision_score, roc_auc_score

UCR_MARGIN = 100


def ucr_hit(scores, anomalies, margin=UCR_MARGIN):
    """(hit, top point): is argmax(scores) within some (first - margin, last + margin) of ``anomalies``
    [(first, last)] (inclusive)?  Ties go to the earliest point, as np.argmax."""
    top = int(np.argmax(scores))
    return any(first - margin <= top <= last + margin for first, last in anomalies), top


def f1_score(labels, predictions):
    """F1 of the positive class (1): 2 TP / (2 TP + FP + FN); 0 when there is nothing to find or flag."""
    labels, predictions = np.asarray(labels).astype(bool), np.asarray(predictions).astype(bool)
    true_positives = np.sum(labels & predictions)
    denominator = 2 * true_positives + np.sum(~labels & predictions) + np.sum(labels & ~predictions)
    return float(2 * true_positives / denominator) if denominator else 0.0


def point_metrics(scores, labels, thresholds):
    """{"roc_auc", "average_precision", "f1": {rule: F1 of scores > threshold}} for labels (T,) in {0, 1}."""
    labels = np.asarray(labels).astype(np.int64)
    return {"roc_auc": roc_auc_score(labels, scores), "average_precision": average_precision_score(labels, scores),
            "f1": {rule: f1_score(labels, scores > threshold) for rule, threshold in thresholds.items()}}
