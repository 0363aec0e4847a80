"""Checks shared by the kNN searches: queries in the model's dtype, distances that cannot overflow."""
import numpy as np

from .._validation import check_array, check_array_in_range


def distance_overflow(query_norms, max_train_norm, n_features):
    """ValueError when a float64 squared distance from these queries could overflow (float64 data only).

    The canonical distance sum_f (t_f - q_f)^2 never exceeds (|q| + |t|)^2 (1 + gamma_D), so finite
    results are guaranteed below that; float32 data can never get there (their squares fit float64).
    """
    reach = (query_norms.max(initial=0.0) + max_train_norm) ** 2 * (1 + (n_features + 3) * 2.0**-52)
    if not reach <= np.finfo(np.float64).max:
        raise ValueError("x has values too large: squared distances to the training points overflow float64 "
                         "(the largest is about (|x| + max |training point|)^2); rescale x and the training set")


def check_squared_norms(sq_norms, x):
    """ValueError unless the squared row norms of the training set x are finite and fit x's dtype.

    Finite norms <=> finite values, so one pass over x both computes the norms and checks the values.
    """
    if not (np.isfinite(sq_norms).all() and sq_norms.max() <= np.finfo(x.dtype).max):
        check_array(x, "x")  # raises when a value is NaN or infinite, with the library's wording
        hint = "rescale x" + (" or use dtype='float64'" if x.dtype != np.float64 else "")
        raise ValueError(f"x has values too large: squared norms overflow {x.dtype}; {hint}")



def checked_queries(x, rows, dtype):
    """Queries x[rows] as a C-contiguous block of the model's dtype, checked finite (and in its range)."""
    return check_array_in_range(x[rows], "x", dtype=dtype)
