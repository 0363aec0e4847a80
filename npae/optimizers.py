"""Optimisers: Adam (Kingma & Ba 2015, Algorithm 1) and SGD with optional momentum.

``step(parameters, gradients)`` updates each parameter array in place from its gradient; it is the only
code in npae that writes to parameters.  It returns True when every updated value is finite (a model
rolls back when it is not; see ``npae.training``).  Each optimiser below is its formulas and one call of a
fused kernel (:mod:`npae.kernels.optim`, its NumPy reference first); binding to a model's parameters,
checking every step's arrays and keeping the state are in :mod:`npae.optimizer_base`.
"""
import numpy as np

from .kernels import optim
from .optimizer_base import Optimizer, _check_fraction, _check_positive

__all__ = ["Adam", "SGD", "Optimizer", "get_optimizer", "optimizer_config"]


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
