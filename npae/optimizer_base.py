"""The bookkeeping every optimiser shares: binding to a model's parameters, checking each step's arrays, and
the state arrays (Adam's moments, SGD's velocities) with their saving and loading.

The math of each optimiser is in :mod:`npae.optimizers` (read that first); this is the machinery behind it.

One optimiser, one set of parameters.  Its state belongs to particular arrays, so an optimiser is *bound*
to the parameters of its first step (a model binds its own when it is built).  Stepping it with other
arrays, for example by handing one ``Adam()`` to two models, is a ValueError: sharing would mix two
models' moments, or index moments of the wrong size.
"""
import numpy as np


def _check_positive(argument, value):
    if isinstance(value, bool) or not (isinstance(value, (int, float, np.floating, np.integer))
                                       and np.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a finite positive number, got {value!r}")


def _check_fraction(argument, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be a number in [0, 1), got {value!r}")


class Optimizer:
    """Base class: binding, validation and the state arrays.  Subclasses define ``state_names`` (the state
    arrays kept per parameter) and ``_update(index, parameter, gradient, state...)``."""

    _registry_kinds = ("optimizer",)  # what npae.register files a subclass under (npae.registry)

    name = None
    state_names = ()

    def __init__(self):
        self.iterations = 0
        self._parameters = None  # the bound arrays
        self._bound_list = None  # the list object they were bound from
        self._state = None       # {state name: [one array per parameter]}, created on the first step
        self._checked_gradients = ()  # the gradient arrays last checked (a model passes the same ones)
        self._flat_gradients = []     # and their flat views (none yet: a model without parameters has none)
        self._flat_views = None       # 1-D views of each parameter and its state, made on the first step

    def get_config(self):
        raise NotImplementedError

    def __repr__(self):
        options = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({options})"

    # --- binding -----------------------------------------------------------------------------------
    def bind(self, parameters):
        """Bind to ``parameters`` (a list of arrays), checking they can be updated in place."""
        given = parameters
        parameters = list(parameters)
        if self._parameters is not None:
            if len(parameters) == len(self._parameters) and all(
                    new is old for new, old in zip(parameters, self._parameters)):
                return
            raise ValueError(f"this {type(self).__name__} already trains another set of parameters "
                             f"({self._describe(self._parameters)}); give each model its own optimiser, "
                             f"e.g. optimizer=npae.{type(self).__name__}(...) or optimizer='{self.name}'")
        for index, parameter in enumerate(parameters):
            if not isinstance(parameter, np.ndarray) or parameter.dtype not in (np.float32, np.float64):
                raise ValueError(f"parameters[{index}] must be a float32 or float64 array, got "
                                 f"{type(parameter).__name__} {getattr(parameter, 'dtype', '')}")
        self._parameters = parameters
        self._bound_list = given  # a model passes this same list object at every step

    @staticmethod
    def _describe(parameters):
        return f"{len(parameters)} arrays, {sum(p.size for p in parameters):,} values"

    def _check_step_arguments(self, parameters, gradients):
        if parameters is not self._bound_list:  # a model passes the bound list itself: nothing to check
            parameters = list(parameters)
            self.bind(parameters)
        gradients = list(gradients)
        if len(gradients) == len(self._checked_gradients) and all(
                new is old for new, old in zip(gradients, self._checked_gradients)):
            return self._parameters, self._flat_gradients
        if len(gradients) != len(parameters):
            raise ValueError(f"got {len(gradients)} gradients for {len(parameters)} parameters")
        for index, (parameter, gradient) in enumerate(zip(parameters, gradients)):
            if not isinstance(gradient, np.ndarray) or gradient.shape != parameter.shape \
                    or gradient.dtype != parameter.dtype:
                raise ValueError(f"gradients[{index}] must be a {parameter.dtype} array of shape "
                                 f"{parameter.shape}, got {getattr(gradient, 'dtype', type(gradient).__name__)} "
                                 f"{getattr(gradient, 'shape', '')}")
        self._checked_gradients = tuple(gradients)
        self._flat_gradients = [np.ascontiguousarray(gradient).reshape(-1) for gradient in gradients]
        if not all(np.shares_memory(flat, gradient) for flat, gradient in zip(self._flat_gradients, gradients)):
            self._checked_gradients = ()  # a non-contiguous gradient was copied: check (and copy) it again next time
        return self._parameters, self._flat_gradients

    # --- the update ----------------------------------------------------------------------------------
    def step(self, parameters, gradients):
        """Update every parameter in place from its gradient; returns True if all results are finite.

        The checks (binding, gradient shapes and dtypes) run once for a given set of gradient arrays: a
        model hands over the same arrays at every step, so later steps only compare identities."""
        parameters, gradients = self._check_step_arguments(parameters, gradients)
        if self._state is None:
            self._state = {name: [np.zeros_like(p) for p in parameters] for name in self.state_names}
            self._flat_views = None
        if self._flat_views is None:
            for index, parameter in enumerate(parameters):
                if not (parameter.flags.c_contiguous and parameter.flags.writeable):
                    raise ValueError(f"parameters[{index}] must be a writeable C-contiguous array (it is updated "
                                     "in place)")
            # reshape(-1) of a C-contiguous array is a view (checked above): the kernels write through it
            self._flat_views = [[parameter.reshape(-1)] + [self._state[name][index].reshape(-1)
                                                           for name in self.state_names]
                                for index, parameter in enumerate(parameters)]
        self.iterations += 1
        finite = True
        for views, flat_gradient in zip(self._flat_views, gradients):
            finite &= bool(self._update(views[0], flat_gradient, *views[1:]))
        return finite

    def _update(self, parameter, gradient, *state):
        raise NotImplementedError

    # --- state: saving, loading, rolling back --------------------------------------------------------
    def get_state(self):
        """(iterations, copies of the state arrays, in ``state_names`` order then parameter order)."""
        arrays = [] if self._state is None else [a.copy() for name in self.state_names for a in self._state[name]]
        return self.iterations, arrays

    def set_state(self, iterations, arrays):
        """Restore a state from :meth:`get_state` (or a saved file), validated before anything changes."""
        if self._parameters is None:
            raise ValueError(f"bind this {type(self).__name__} to its parameters first (a model does so when "
                             "it is built)")
        if isinstance(iterations, (bool, np.bool_)) or not isinstance(iterations, (int, np.integer)) \
                or iterations < 0:
            raise ValueError(f"iterations must be a whole number >= 0, got {iterations!r}")
        arrays = list(arrays)
        if arrays:
            expected = [(name, index, p) for name in self.state_names for index, p in enumerate(self._parameters)]
            if len(arrays) != len(expected):
                raise ValueError(f"the {type(self).__name__} state must hold {len(expected)} arrays "
                                 f"({', '.join(self.state_names)} for each of {len(self._parameters)} parameters), "
                                 f"got {len(arrays)}")
            if iterations < 1:
                raise ValueError(f"a state with arrays needs iterations >= 1, got {iterations}")
            for array, (name, index, parameter) in zip(arrays, expected):
                self._check_state_array(name, index, np.asarray(array), parameter)
            state = {name: [] for name in self.state_names}
            for array, (name, _, parameter) in zip(arrays, expected):
                state[name].append(np.array(array, dtype=parameter.dtype, order="C"))
            self._state = state
        else:
            self._state = None
        self._flat_views = None
        self.iterations = int(iterations)

    def _check_state_array(self, name, index, array, parameter):
        if array.shape != parameter.shape:
            raise ValueError(f"state {name}[{index}] has shape {array.shape}, expected {parameter.shape}")
        if array.dtype.kind != "f":
            raise ValueError(f"state {name}[{index}] must hold real floats, got dtype {array.dtype}")
        if not np.isfinite(array).all():
            raise ValueError(f"state {name}[{index}] contains NaN or infinity")
        if np.dtype(parameter.dtype).itemsize < array.dtype.itemsize and \
                np.abs(array).max(initial=0) > np.finfo(parameter.dtype).max:
            raise ValueError(f"state {name}[{index}] holds values beyond {parameter.dtype}'s range")
