"""Input checks shared by every public entry point: one place, one wording."""
import numpy as np


def check_array(x, argument="x", *, n_features=None, dtype=None, allow_empty=False):
    """Return ``x`` as a C-contiguous 2-D array of ``dtype`` (or its own float dtype), after checking it.

    ValueError, naming ``argument``, for: non-numeric or complex data, anything but 2-D, no rows, the wrong
    number of columns, NaN or infinity.
    """
    array = np.asarray(x)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{argument} must hold real numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        hint = " (one observation per row: use x.reshape(1, -1) for a single one)" if array.ndim == 1 else ""
        raise ValueError(f"{argument} must be a 2-D array (observations x features), got shape {array.shape}{hint}")
    if array.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{argument} is empty (shape {array.shape}); expected at least one row")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{argument} has {array.shape[1]} features per row, expected {n_features}")
    target_dtype = dtype if dtype is not None else (array.dtype if np.issubdtype(array.dtype, np.floating)
                                                    else np.float64)
    array = np.ascontiguousarray(array, dtype=target_dtype)
    if not np.isfinite(array).all():
        raise ValueError(f"{argument} contains NaN or infinity")
    return array


def check_array_in_range(x, argument="x", *, dtype, n_features=None, allow_empty=False):
    """check_array to ``dtype``, with a ValueError that says so when finite values overflow the cast
    (float64 data beyond float32's range would otherwise be reported as "NaN or infinity")."""
    array = np.asarray(x)
    if array.dtype.kind == "f" and np.finfo(array.dtype).max > np.finfo(dtype).max:
        with np.errstate(over="ignore"):
            cast = array.astype(dtype)
        if not np.isfinite(cast).all() and np.isfinite(array).all():
            raise ValueError(f"{argument} has values beyond the range of {np.dtype(dtype)} (largest |value| "
                             f"{float(np.abs(array).max()):.3g}); rescale {argument} or use dtype='float64'")
        array = cast
    return check_array(array, argument, dtype=dtype, n_features=n_features, allow_empty=allow_empty)


def check_positive_int(value, argument, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}, got {value!r}")
    return int(value)
