"""Anomaly detection in time series with autoencoders, and the baselines they are judged against.

    windows.py    cutting a series into windows; per-window values back to one score per point
    discord.py    the matrix-profile discord (NumPy reference and Numba kernel): the strong baseline
    models.py     the Dense, Conv1D and LSTM window autoencoders (the tutorials' architectures)
    detector.py   SeriesAnomalyDetector (PyOD's names) and WindowPCA, PCA on the same windows
    evaluation.py the UCR archive's rule, ROC AUC / average precision of point scores, F1 per threshold

Quick start::

    from npae.datasets import load_series
    from npae.timeseries import SeriesAnomalyDetector
    series = load_series("ucr-anomaly-135")
    detector = SeriesAnomalyDetector(window=128, model="conv1d", epochs=20, seed=0).fit(series.train)
    scores = detector.decision_function(series.test)     # (T,), larger = more anomalous
    flags = detector.predict(series.test)                # 0/1 per point at detector.threshold_
"""
from .detector import DiscordDetector, SeriesAnomalyDetector, WindowPCA  # noqa: F401
from .discord import discord, matrix_profile  # noqa: F401
from .evaluation import ucr_hit  # noqa: F401
from .windows import points_from_windows, sliding_windows  # noqa: F401

__all__ = ["DiscordDetector", "SeriesAnomalyDetector", "WindowPCA", "discord", "matrix_profile", "points_from_windows",
           "sliding_windows", "ucr_hit"]
