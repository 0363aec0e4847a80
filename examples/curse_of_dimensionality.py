"""The curse of dimensionality in numbers (paper table 3): why 8 features beat 784 for kNN.

Scatter m = 1000 points uniformly in the unit cube [0, 1]^d.  A cube of side l holds on average m l^d
of them, so the cube expected to hold *one* point has side l = (1/m)^(1/d).  In the plane that is a
small square (0.03); in 100 dimensions it spans 93 % of every axis: a "neighbourhood" that is not
local at all.  The same happens to distances: from a random point, the nearest and the farthest of
the m points end up almost equally far away.
Takes a second.

Run:  python examples/curse_of_dimensionality.py
"""
import numpy as np

m = 1000
rng = np.random.default_rng(0)

print(f"{'d':>5} {'l = (1/m)^(1/d)':>16} {'points in that cube':>20} {'nearest/farthest':>17}")
for d in (2, 10, 100, 1000):
    side = (1 / m) ** (1 / d)

    # Simulation 1: drop a cube of side l at random inside [0, 1]^d, count the points inside.
    counts = []
    for _ in range(100):
        points = rng.random((m, d))
        corner = rng.uniform(0, 1 - side, size=d)
        inside = np.all((points >= corner) & (points <= corner + side), axis=1)
        counts.append(inside.sum())

    # Simulation 2: distances from a random query point to the m points.
    query = rng.random(d)
    distances = np.linalg.norm(points - query, axis=1)

    print(f"{d:>5} {side:>16.3f} {np.mean(counts):>20.2f} {distances.min() / distances.max():>17.3f}")

print("The cube always holds about 1 point, as the formula says; but its side tends to 1, and the")
print("nearest point is nearly as far as the farthest: in high dimension, nothing is near anything.")
