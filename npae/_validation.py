"""Input checks shared by every public entry point: one place, one wording."""
import numpy as np


def _check_numbers(array, argument):
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) \
            or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"{argument} must hold real numbers, got dtype {array.dtype}")


def _check_finite(original, converted, argument):
    """NaN or infinity in ``converted`` is an error; say which it was, and whether the conversion to a
    narrower float type made it (values beyond float32's +-3.4e38 become infinity)."""
    if np.isfinite(converted).all():
        return
    if np.issubdtype(original.dtype, np.floating) and original.dtype.itemsize > converted.dtype.itemsize \
            and np.isfinite(original).all():
        largest = max(float(original.max()), -float(original.min()))  # no temporary array, unlike abs
        raise ValueError(f"{argument} holds values beyond {converted.dtype}'s range (largest magnitude "
                         f"{largest:.3g}; {converted.dtype} holds +-{float(np.finfo(converted.dtype).max):.3g})")
    bad = ~np.isfinite(converted)
    first = np.unravel_index(int(np.argmax(bad)), converted.shape)
    raise ValueError(f"{argument} contains NaN or infinity ({int(bad.sum()):,} values, the first at index "
                     f"{tuple(int(i) for i in first)})")


def check_array(x, argument="x", *, n_features=None, dtype=None, allow_empty=False):
    """Return ``x`` as a C-contiguous 2-D array of ``dtype`` (or its own float dtype), after checking it.

    ValueError, naming ``argument``, for: non-numeric or complex data, anything but 2-D, no rows, the wrong
    number of columns, NaN, infinity, or values beyond the range of ``dtype``.
    """
    array = np.asarray(x)
    _check_numbers(array, argument)
    if array.ndim != 2:
        hint = " (one observation per row: use x.reshape(1, -1) for a single one)" if array.ndim == 1 else ""
        raise ValueError(f"{argument} must be a 2-D array (observations x features), got shape {array.shape}{hint}")
    if array.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{argument} is empty (shape {array.shape}); expected at least one row")
    if n_features is not None and array.shape[1] != n_features:
        raise ValueError(f"{argument} has {array.shape[1]} features per row, expected {n_features}")
    target_dtype = dtype if dtype is not None else (array.dtype if np.issubdtype(array.dtype, np.floating)
                                                    else np.float64)
    converted = _convert(array, target_dtype)
    _check_finite(array, converted, argument)
    return converted


def _convert(array, dtype):
    """np.ascontiguousarray(array, dtype), without NumPy's overflow warning: a value beyond the range of
    ``dtype`` becomes infinity, which _check_finite then reports with its reason."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.ascontiguousarray(array, dtype=dtype)


def check_batch(x, argument, sample_shape, dtype):
    """``x`` as a C-contiguous array (N, *sample_shape) of ``dtype``, N >= 1, finite: a model's input.

    With ``sample_shape`` None, any array with a batch axis is accepted (the model learns its shape).
    """
    array = np.asarray(x)
    _check_numbers(array, argument)
    if sample_shape is None:
        if array.ndim < 2:
            raise ValueError(f"{argument} must have a batch axis and at least one more, got shape {array.shape}")
    else:
        expected = (array.shape[0] if array.ndim else 0,) + tuple(sample_shape)
        if array.ndim != len(expected) or array.shape[1:] != tuple(sample_shape):
            expected_text = "(N, " + ", ".join(map(str, sample_shape)) + ")"
            hint = ""
            if array.ndim == len(sample_shape) and array.shape == tuple(sample_shape):
                hint = f"; for a single observation use {argument}[None]"
            elif array.ndim >= 1 and array.size and array.size % int(np.prod(sample_shape)) == 0 and array.ndim > 1:
                hint = f"; reshape it with {argument}.reshape(-1, {', '.join(map(str, sample_shape))})"
            raise ValueError(f"{argument} has shape {array.shape}, expected {expected_text}{hint}")
    if array.shape[0] == 0:
        raise ValueError(f"{argument} is empty (shape {array.shape}); expected at least one row")
    converted = _convert(array, dtype)
    _check_finite(array, converted, argument)
    return converted


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
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{argument} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_seed(seed, argument="seed"):
    """None or a non-negative int (a NumPy SeedSequence's entropy)."""
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))
                             or seed < 0):
        raise ValueError(f"{argument} must be a non-negative integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def shape_problem(shape, dtype):
    """Why NumPy cannot make an array of ``shape`` and ``dtype`` (a sentence), or None when it can.

    A file's header declares a shape before any data is read; NumPy refuses a shape whose non-zero
    lengths multiply past its index range, even when another length is 0 and the array would hold
    nothing (``(0, 2**30, 2**31)`` of int32), with a message that names no file. Checking here first lets
    the reader say which file is wrong.
    """
    spanned = np.dtype(dtype).itemsize
    for length in shape:
        spanned *= length or 1
    limit = int(np.iinfo(np.intp).max)
    if spanned > limit:
        return (f"shape {tuple(shape)} of {np.dtype(dtype).newbyteorder('=').name} spans {spanned} bytes, "
                f"more than NumPy can index ({limit})")
    return None


def is_real_number(value):
    """True for a finite int or float (Python's or NumPy's), False for anything else: strings, None,
    complex numbers, booleans, arrays, NaN and infinity.  For the checks of numeric arguments, which must
    say "must be a number" rather than let ``np.isfinite('0.1')`` raise a TypeError."""
    return (not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, float, np.integer, np.floating))
            and bool(np.isfinite(value)))


def check_flag(value, argument):
    """``value`` as a bool, accepting only True, False (or NumPy's) and 0 / 1: a string such as "no" is
    true to Python, which would silently mean the opposite of what was written."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{argument} must be True or False, got {value!r:.80}")
