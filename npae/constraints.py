"""Weight constraints: a projection applied to a layer's weights after every optimiser step.

A constraint is a callable ``constraint(W)`` that changes W in place so that it satisfies the
constraint again; layers that take one (``npae.Conv2D(..., constraint=...)``) call it from
``apply_constraints``, which the training loop runs after each update.  Only the weights are constrained,
never the bias, as Keras' ``kernel_constraint``.

    MaxNorm(max_value=2.0, axis=0)   Keras' ``max_norm``: every weight vector along ``axis`` has a
                                     Euclidean norm of at most max_value (Srivastava et al. 2014, sec. 5.1)
"""
import numpy as np

# Keras' backend epsilon, added to the norm before dividing by it: an all-zero vector stays zero.
EPSILON = 1e-7


class MaxNorm:
    """W <- W * clip(||W||, 0, max_value) / (epsilon + ||W||), the norm taken along ``axis`` (keepdims).

    Exactly Keras' ``MaxNorm(max_value, axis)``, including its default ``axis=0`` and the epsilon (so a
    vector already inside the ball shrinks by the factor ||w|| / (1e-7 + ||w||), as in Keras):

    * a Dense matrix W (D_in, D_out) with axis=0: each output unit's incoming weights, a vector of D_in;
    * a Conv2D kernel W (kh, kw, C_in, C_out) with the default axis=0: each vector of kh values along the
      kernel's rows (what ``max_norm(2.0)`` does in the paper's notebook); axis=(0, 1, 2) constrains each
      whole filter of kh kw C_in values instead, one per output channel, which is what Keras' documentation
      suggests for convolutions.
    """

    name = "max_norm"

    def __init__(self, max_value=2.0, axis=0):
        if isinstance(max_value, bool) or not isinstance(max_value, (int, float, np.floating, np.integer)) \
                or not (np.isfinite(max_value) and max_value > 0):
            raise ValueError(f"max_value must be a finite number > 0, got {max_value!r}")
        def is_integer(value):
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        if isinstance(axis, (tuple, list)):
            if not axis or not all(is_integer(a) for a in axis):
                raise ValueError(f"axis must be an integer or a tuple of integers, got {axis!r}")
            axis = tuple(int(a) for a in axis)
        elif is_integer(axis):
            axis = int(axis)
        else:
            raise ValueError(f"axis must be an integer or a tuple of integers, got {axis!r}")
        self.max_value = float(max_value)
        self.axis = axis

    def check(self, shape, argument="constraint"):
        """A ValueError unless every axis exists for a weight array of ``shape``."""
        axes = self.axis if isinstance(self.axis, tuple) else (self.axis,)
        if any(not -len(shape) <= a < len(shape) for a in axes) or len({a % len(shape) for a in axes}) != len(axes):
            raise ValueError(f"{argument}: axis={self.axis!r} does not fit weights of shape {tuple(shape)}")

    def __call__(self, W):
        norms = np.sqrt(np.sum(np.square(W), axis=self.axis, keepdims=True))
        W *= (np.clip(norms, 0, self.max_value) / (EPSILON + norms)).astype(W.dtype)

    def get_config(self):
        return {"max_value": self.max_value, "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}

    def __repr__(self):
        return f"MaxNorm(max_value={self.max_value!r}, axis={self.axis!r})"


CONSTRAINTS = {MaxNorm.name: MaxNorm}


def get_constraint(constraint):
    """None, a constraint object, its name ("max_norm": the defaults) or its config
    ({"name": "max_norm", "max_value": 2.0, "axis": 0})."""
    if constraint is None or isinstance(constraint, MaxNorm):
        return constraint
    options = {}
    if isinstance(constraint, dict):
        options = dict(constraint)
        constraint = options.pop("name", None)
    if not isinstance(constraint, str) or constraint not in CONSTRAINTS:
        raise ValueError(f"constraint={constraint!r} is not None, a MaxNorm or one of {sorted(CONSTRAINTS)}")
    if "axis" in options and isinstance(options["axis"], list):
        options["axis"] = tuple(options["axis"])
    try:
        return CONSTRAINTS[constraint](**options)
    except TypeError as error:
        raise ValueError(f"constraint {constraint!r} does not take the options {options}: {error}") from None


def constraint_config(constraint):
    """What a layer's ``get_config`` stores: None or {"name": ..., options}."""
    return None if constraint is None else {"name": constraint.name, **constraint.get_config()}
