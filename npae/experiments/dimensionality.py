"""Experiment 3 (paper table 3): the curse of dimensionality, the formula beside a simulation.

Take m points drawn uniformly in the unit cube [0, 1]^d.  A cube of side l inside it holds on average
m l^d of them, so the side of the smallest cube *expected to hold one point* is

    l = (1/m)^(1/d)          m = 1000:  d = 2 -> 0.03,  10 -> 0.50,  100 -> 0.93,  1000 -> 0.99

(the paper prints 0.003 for d = 2; (1/1000)^(1/2) is 0.0316).  In 100 dimensions a neighbourhood that
holds one point in a thousand spans 93 % of every axis: nothing about it is local any more.  Read the
other way round, a cube of side 1/10 holds m / 10^d points: 10 in the plane, 10^-7 in ten dimensions.

The simulation draws the m points ``trials`` times and measures, for each d:

* ``mean_count``: points inside a cube of side l placed at random in [0, 1]^d.  The formula says 1.
* ``median_smallest_side``: the side of the smallest cube with a corner at the origin that holds at
  least one point, ``min_i max_j x_ij``.  Its median is (ln 2 / m)^(1/d), a little below l: the cube
  expected to hold one point holds none a third of the time ((1 - 1/m)^m ~ 1/e).  Both tend to 1.
* ``mean_count_tenth``: points inside a random cube of side 1/10 (formula m / 10^d).
* ``distance_ratio``: nearest over farthest Euclidean distance from a random query point to the m
  points, averaged over queries.  Near 0 in the plane, near 1 in high dimension: all points are about
  equally far, which is why kNN on 784 raw pixels works harder than on 8 latent features.
"""
import time

import numpy as np

M_POINTS = 1000
DIMENSIONS = (2, 10, 100, 1000)
PAPER = {2: 0.003, 10: 0.50, 100: 0.93, 1000: 0.99}   # table 3 as printed
TRIALS = {False: 100, True: 20}                       # full / quick
RATIO_TRIALS = 10                                     # trials that also measure the distance ratio...
QUERIES = 20                                          # ...with this many query points each


def side_for_one_point(m, d):
    """l = (1/m)^(1/d): the side of a cube in [0, 1]^d expected to hold one of m uniform points."""
    return (1.0 / m) ** (1.0 / np.asarray(d, dtype=np.float64))


def _count_in_random_cube(points, side, rng):
    """Points of ``points`` (m, d) inside a cube of side ``side`` whose corner is uniform in [0, 1 - side]^d."""
    corner = rng.uniform(0.0, 1.0 - side, size=points.shape[1])
    return int(np.sum(np.all((points >= corner) & (points <= corner + side), axis=1)))


def _distance_ratio(points, queries):
    """Mean over queries of (nearest / farthest) distance to ``points``; queries (Q, d), points (m, d)."""
    squared = (np.sum(queries ** 2, axis=1)[:, None] + np.sum(points ** 2, axis=1)[None, :]
               - 2.0 * queries @ points.T)                       # (Q, m)
    distances = np.sqrt(np.maximum(squared, 0.0))                 # clamp: cancellation can dip below 0
    return float(np.mean(distances.min(axis=1) / distances.max(axis=1)))


def simulate(m, d, trials, rng):
    """The four measures of the module docstring for one dimension d (floats)."""
    side = float(side_for_one_point(m, d))
    counts, counts_tenth, smallest_sides, ratios = [], [], [], []
    for trial in range(trials):
        points = rng.random((m, d))
        counts.append(_count_in_random_cube(points, side, rng))
        counts_tenth.append(_count_in_random_cube(points, 0.1, rng))
        smallest_sides.append(points.max(axis=1).min())
        if trial < RATIO_TRIALS:  # a mean over 200 queries is already steady to two digits
            ratios.append(_distance_ratio(points, rng.random((QUERIES, d))))
    return {"mean_count": float(np.mean(counts)), "median_smallest_side": float(np.median(smallest_sides)),
            "mean_count_tenth": float(np.mean(counts_tenth)), "distance_ratio": float(np.mean(ratios))}


def run(data=None, *, quick=False, seed=0, m=M_POINTS, dimensions=DIMENSIONS):
    """Table 3 with a simulation column; ``data`` is not used (the points are simulated).

    Returns ``rows`` (d, formula, paper or None, median_theory (ln 2/m)^(1/d), tenth_formula_log10 log10(m/10^d),
    and
    the measures of :func:`simulate`), ``curve`` {d, formula} for a plot, ``m``, ``trials``, ``seconds``.
    """
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    trials = TRIALS[bool(quick)]
    rows = []
    for d in dimensions:
        row = {"d": int(d), "formula": float(side_for_one_point(m, d)),
               "paper": PAPER.get(d) if m == M_POINTS else None,
               "median_theory": float((np.log(2.0) / m) ** (1.0 / d)),
               "tenth_formula_log10": float(np.log10(m) - d)}   # m / 10^d underflows for d = 1000
        row.update(simulate(m, d, trials, rng))
        rows.append(row)
    curve_d = np.unique(np.round(np.logspace(0, np.log10(max(dimensions)), 200)).astype(int))
    return {"m": m, "trials": trials, "seed": seed, "rows": rows,
            "curve": {"d": curve_d, "formula": side_for_one_point(m, curve_d)},
            "seconds": {"total": time.perf_counter() - started}}
