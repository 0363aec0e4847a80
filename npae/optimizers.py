"""Optimisers: Adam (Kingma & Ba 2015, Algorithm 1) and SGD with optional momentum.

``step(parameters, gradients)`` updates each parameter array in place from its gradient; it is the only
code in npae that writes to parameters.  State (moments, velocities) is created on the first step, one
array per parameter, with the parameter's shape and dtype.
"""
import numpy as np

from .kernels import optim


def _check_positive(argument, value):
    if not (isinstance(value, (int, float, np.floating, np.integer)) and np.isfinite(value) and value > 0):
        raise ValueError(f"{argument} must be a positive number, got {value!r}")


class Optimizer:
    name = "optimizer"
    arrays_per_parameter = 0  # how many state arrays of a parameter's shape the optimiser keeps

    def get_config(self):
        raise NotImplementedError

    def state_arrays(self):
        """The optimiser's state as a list of arrays (for saving); empty before the first step."""
        return []


class Adam(Optimizer):
    """Adam, exactly Algorithm 1 of Kingma & Ba (2015).  At step t = 1, 2, ... for each parameter theta:

        g = dL/dtheta
        m <- beta1 m + (1 - beta1) g                 first moment (mean of g)
        v <- beta2 v + (1 - beta2) g^2               second moment (uncentred variance of g)
        m_hat = m / (1 - beta1^t)                    bias correction: m and v start at 0, so early
        v_hat = v / (1 - beta2^t)                    averages are too small by exactly these factors
        theta <- theta - lr m_hat / (sqrt(v_hat) + eps)

    eps is added *after* bias correction and the square root, as in the paper and in Keras.  Defaults are
    Keras' (lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-7); the paper and PyTorch use eps = 1e-8.
    (scikit-learn's MLP folds the bias correction into the learning rate instead: the same in exact
    arithmetic except for where eps enters.)
    """

    name = "adam"
    arrays_per_parameter = 2  # m and v

    def __init__(self, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-7):
        _check_positive("learning_rate", learning_rate)
        _check_positive("epsilon", epsilon)
        for argument, value in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= value < 1:
                raise ValueError(f"{argument} must lie in [0, 1), got {value!r}")
        self.learning_rate = float(learning_rate)
        self.beta1 = float(beta1)
        self.beta2 = float(beta2)
        self.epsilon = float(epsilon)
        self.iterations = 0
        self.first_moments = None
        self.second_moments = None

    def __repr__(self):
        return (f"Adam(learning_rate={self.learning_rate}, beta1={self.beta1}, beta2={self.beta2}, "
                f"epsilon={self.epsilon})")

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "beta1": self.beta1,
                "beta2": self.beta2, "epsilon": self.epsilon}

    def state_arrays(self):
        if self.first_moments is None:
            return []
        return list(self.first_moments) + list(self.second_moments)

    def set_state(self, iterations, arrays):
        half = len(arrays) // 2
        self.iterations = int(iterations)
        self.first_moments = [np.array(a) for a in arrays[:half]] if arrays else None
        self.second_moments = [np.array(a) for a in arrays[half:]] if arrays else None

    def step(self, parameters, gradients):
        if self.first_moments is None:
            self.first_moments = [np.zeros_like(p) for p in parameters]
            self.second_moments = [np.zeros_like(p) for p in parameters]
        self.iterations += 1
        t = self.iterations
        # 1 / (1 - beta^t) in float64, then cast: beta2^t creeps towards 1 for thousands of steps and
        # computing it in float32 would round the correction badly.
        inverse_correction1 = 1.0 / (1.0 - self.beta1 ** t)
        inverse_correction2 = 1.0 / (1.0 - self.beta2 ** t)
        for parameter, grad, m, v in zip(parameters, gradients, self.first_moments, self.second_moments):
            cast = parameter.dtype.type
            optim.adam_update(parameter.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                              cast(self.learning_rate), cast(self.beta1), cast(self.beta2), cast(self.epsilon),
                              cast(inverse_correction1), cast(inverse_correction2))


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum mu >= 0 (Keras' form; mu = 0 is plain SGD):

        v <- mu v - lr g;   theta <- theta + v
    """

    name = "sgd"
    arrays_per_parameter = 1  # the velocity

    def __init__(self, learning_rate=0.01, momentum=0.0):
        _check_positive("learning_rate", learning_rate)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self.iterations = 0
        self.velocities = None

    def __repr__(self):
        return f"SGD(learning_rate={self.learning_rate}, momentum={self.momentum})"

    def get_config(self):
        return {"name": self.name, "learning_rate": self.learning_rate, "momentum": self.momentum}

    def state_arrays(self):
        return list(self.velocities) if self.velocities is not None else []

    def set_state(self, iterations, arrays):
        self.iterations = int(iterations)
        self.velocities = [np.array(a) for a in arrays] if arrays else None

    def step(self, parameters, gradients):
        if self.velocities is None:
            self.velocities = [np.zeros_like(p) for p in parameters]
        self.iterations += 1
        for parameter, grad, velocity in zip(parameters, gradients, self.velocities):
            cast = parameter.dtype.type
            optim.sgd_momentum_update(parameter.reshape(-1), grad.reshape(-1), velocity.reshape(-1),
                                      cast(self.learning_rate), cast(self.momentum))


OPTIMIZERS = {"adam": Adam, "sgd": SGD}


def get_optimizer(optimizer):
    """None -> Adam with Keras' defaults; a name in OPTIMIZERS; a dict from ``get_config``; or an instance."""
    if optimizer is None:
        return Adam()
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, dict):
        options = dict(optimizer)
        name = options.pop("name", None)
        if name not in OPTIMIZERS:
            raise ValueError(f"optimizer={name!r} is not one of {sorted(OPTIMIZERS)}")
        return OPTIMIZERS[name](**options)
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValueError(f"optimizer={optimizer!r} is not one of {sorted(OPTIMIZERS)} or an Optimizer instance")
