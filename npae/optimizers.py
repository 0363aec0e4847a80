"""Optimisers: Adam (Kingma & Ba 2015, Algorithm 1) and SGD with optional momentum.

``step(parameters, gradients)`` updates each parameter array in place from its gradient; it is the only
code in npae that writes to parameters.  It returns True when every updated value is finite (a model
rolls back when it is not; see ``npae.training``).

One optimiser, one set of parameters.  Its state (Adam's moments, SGD's velocities) belongs to particular
arrays, so an optimiser is *bound* to the parameters of its first step (a model binds its own when it is
built).  Stepping it with other arrays, for example by handing one ``Adam()`` to two models, is a
ValueError: sharing would mix two models' moments, or index moments of the wrong size.
"""
import numpy as np

from .kernels import optim


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


class Adam(Optimizer):
    """Adam, exactly Algorithm 1 of Kingma & Ba (2015), as PyTorch implements it.  At step t = 1, 2, ...
    for each parameter theta:

        g = dL/dtheta
        m <- beta1 m + (1 - beta1) g                 first moment (mean of g)
        v <- beta2 v + (1 - beta2) g^2               second moment (uncentred variance of g)
        m_hat = m / (1 - beta1^t)                    bias correction: m and v start at 0, so early
        v_hat = v / (1 - beta2^t)                    averages are too small by exactly these factors
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    Where eps goes, ``epsilon_form``:

        "pytorch" (default)  theta <- theta - lr m_hat / (sqrt(v_hat) + eps)         Algorithm 1, PyTorch
        "keras"              theta <- theta - lr_t m / (sqrt(v) + eps),             Keras, scikit-learn (the
                             lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)             paper's "epsilon hat" form)

    The Keras form is the PyTorch one with eps replaced by eps / sqrt(1 - beta2^t) (divide its numerator
    and denominator by sqrt(1 - beta2^t)), which is how it is computed here.  The two differ while v is
    tiny: after one step with the same settings, by up to 0.7 lr.  Use "keras" to train a model ported
    from Keras as Keras would.  Defaults are Keras' values (lr = 1e-3, beta1 = 0.9, beta2 = 0.999,
    eps = 1e-7); PyTorch's eps is 1e-8.
    """

    name = "adam"
    state_names = ("first_moment", "second_moment")

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7, epsilon_form="pytorch"):
        super().__init__()
        if epsilon_form not in ("pytorch", "keras"):
            raise ValueError(f"epsilon_form must be 'pytorch' or 'keras', got {epsilon_form!r:.50}")
        self.epsilon_form = epsilon_form
        _check_positive("learning_rate", learning_rate)
        _check_positive("epsilon", epsilon)
        _check_fraction("beta1", beta1)
        _check_fraction("beta2", beta2)
        self.learning_rate = float(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "beta1": self.beta1, "beta2": self.beta2,
                "epsilon": self.epsilon, "epsilon_form": self.epsilon_form}

    def step(self, parameters, gradients):
        # 1 / (1 - beta^t) in float64, then cast to the parameters' dtype: beta2^t falls from 0.999 towards
        # 0 over thousands of steps, so 1 - beta2^t starts at 0.001, where float32 would keep only ~4
        # correct digits of the correction.
        t = self.iterations + 1
        self._inverse_corrections = (1.0 / (1.0 - self.beta1 ** t), 1.0 / (1.0 - self.beta2 ** t))
        self._step_epsilon = self.epsilon if self.epsilon_form == "pytorch" else \
            self.epsilon / np.sqrt(1.0 - self.beta2 ** t)  # Keras' form (class docstring)
        return super().step(parameters, gradients)

    def _update(self, parameter, gradient, first_moment, second_moment):
        cast = parameter.dtype.type
        inverse_correction1, inverse_correction2 = self._inverse_corrections
        return optim.adam_update(parameter, gradient, first_moment, second_moment, cast(self.learning_rate),
                                 cast(self.beta1), cast(self.beta2), cast(self._step_epsilon), cast(inverse_correction1),
                                 cast(inverse_correction2))

    def _check_state_array(self, name, index, array, parameter):
        super()._check_state_array(name, index, array, parameter)
        if name == "second_moment" and (array < 0).any():
            raise ValueError(f"state second_moment[{index}] has negative values (a mean of squares cannot)")


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum mu >= 0 (Keras' form; mu = 0 is plain SGD):

        v <- mu v - lr g;   theta <- theta + v
    """

    name = "sgd"
    state_names = ("velocity",)

    def __init__(self, learning_rate=0.01, momentum=0.0):
        super().__init__()
        _check_positive("learning_rate", learning_rate)
        _check_fraction("momentum", momentum)
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "momentum": self.momentum}

    def _update(self, parameter, gradient, velocity):
        cast = parameter.dtype.type
        return optim.sgd_momentum_update(parameter, gradient, velocity, cast(self.learning_rate),
                                         cast(self.momentum))


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def get_optimizer(optimizer):
    """None -> Adam with Keras' defaults; a name; a config dict ({"name": "adam", "learning_rate": ...});
    or an Optimizer instance (used as it is: it will be bound to the model's parameters)."""
    from .registry import instantiate

    if optimizer is None:
        return Adam()
    if isinstance(optimizer, Optimizer):
        return optimizer
    return instantiate("optimizer", optimizer.lower() if isinstance(optimizer, str) else optimizer, "optimizer")


def optimizer_config(optimizer):
    return {"name": optimizer.name, **optimizer.get_config()}


def _register_built_ins():
    from .registry import register_all

    register_all(OPTIMIZERS.values())


_register_built_ins()
