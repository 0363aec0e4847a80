"""The LSTM layer (Hochreiter and Schmidhuber 1997, with the forget gate of Gers et al. 2000), as Keras has it.

Read :mod:`npae.layers.dense` first: each step of an LSTM is four Dense layers of [x_t, h_{t-1}] (the
gates), glued by element-wise products.  Backpropagation through time is the chain rule applied to the
unrolled loop, last step first.
"""
import numpy as np

from .. import _backend
from .._validation import check_flag, check_positive_int
from ..initializers import get_initializer, initializer_config
from ..kernels import recurrent as kernels
from .base import Layer


def orthogonal(shape, rng, dtype):
    """A (rows, columns) matrix with orthonormal rows (rows <= columns) or columns: Keras' ``Orthogonal``
    initialiser (the QR of a standard normal matrix, signs fixed by R's diagonal so that it is uniform)."""
    rows, columns = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, columns), min(rows, columns))))
    q *= np.sign(np.diag(r))
    return (q.T if rows < columns else q).astype(dtype)


class LSTM(Layer):
    """Long short-term memory over a sequence, Keras' layout and gate order.

    Shapes:  x (B, T, D)   W (D, 4H) "kernel"   U (H, 4H) "recurrent_kernel"   b (4H,) "bias"
             output (B, T, H) with ``return_sequences=True``, else the last hidden state h_T (B, H).
    The 4H columns hold the gates in Keras' order i, f, c, o (input, forget, cell candidate "g", output),
    so ``get_weights()`` is Keras' ``[kernel, recurrent_kernel, bias]`` one to one.  PyTorch's ``nn.LSTM``
    (same gate order) has weight_ih_l0 = W^T, weight_hh_l0 = U^T and two biases whose sum is b:
    ``npae.interop.lstm_from_torch`` / ``lstm_to_torch`` convert.

    Forward, from h_0 = c_0 = 0, for t = 1 .. T:

        z_t = x_t W + h_{t-1} U + b                          (B, 4H) = [z_i, z_f, z_g, z_o]
        i = sigma(z_i)   f = sigma(z_f)   g = tanh(z_g)   o = sigma(z_o)
        c_t = f * c_{t-1} + i * g                            the cell: a running sum, gated
        h_t = o * tanh(c_t)

    Backward through time.  L depends on h_t directly (e_t = the output's gradient at step t: every t with
    return_sequences, only e_T otherwise, e_t = 0 for the others) and through h_{t+1} and c_{t+1}, the
    later steps.  Going from t = T down to 1, with dz_{T+1}, dc_{T+1} = 0 carried between steps:

        dh   = e_t + dz_{t+1} U^T                          (the output's gradient + the next step's, via h_t)
        dc   = dc_{t+1} f_{t+1} + dh * o * (1 - tanh(c_t)^2)  the cell path: c_{t+1} = f_{t+1} c_t + ...
        dz_i = dc * g * i (1 - i)        dz_f = dc * c_{t-1} * f (1 - f)
        dz_g = dc * i * (1 - g^2)        dz_o = dh * tanh(c_t) * o (1 - o)

    dc_{t+1} f_{t+1} is why the LSTM learns long ranges: along the cell path the gradient is multiplied by
    the forget gate only (no weight matrix, no squashing derivative), so with f near 1 it neither vanishes
    nor explodes.  The parameters are shared by every step, so their gradients are sums over t (and b),
    accumulated step by step (see _backward for why not as one product over all B T rows):

        dL/dW = sum_t x_t^T dz_t       dL/dU = sum_t h_{t-1}^T dz_t       dL/db = sum_{t, b} dz_t
        dL/dx_t = dz_t W^T

    How it runs: x W + b for every step is one product before the loop; each step does one product
    h_{t-1} U (forward), or dz_t U^T and the step's terms of dL/dW, dL/dU, dL/dx (backward), and one pass
    of element-wise work (:mod:`npae.kernels.recurrent`).  Internally the arrays are time-major, (T, B, ...),
    so that one step's rows are contiguous.  A training forward keeps x, the gates, c, tanh(c) and h of
    every step.  References: A. Graves, *Supervised Sequence Labelling with Recurrent Neural Networks*
    (2012), section 4.6 (the same equations, without peepholes); Keras' ``LSTMCell`` (layout, initialisers).

    Parameters
    ----------
    input_size, hidden_size : int (D, H; Keras calls H ``units``)
    return_sequences : bool, default False
    init : the kernel's initialiser, "glorot_uniform" (Keras' default).  U starts orthogonal and b at 0
        except the forget gate's bias, 1 (Keras' ``unit_forget_bias=True``: remember by default).
    dtype : "float32" (default) or "float64";  rng : numpy Generator or int seed
    """

    def __init__(self, input_size, hidden_size, return_sequences=False, init="glorot_uniform", dtype="float32",
                 rng=None):
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.return_sequences = check_flag(return_sequences, "return_sequences")
        self.init = init
        self.dtype = _backend.resolve_dtype(dtype)
        D, H = self.input_size, self.hidden_size
        generator = np.random.default_rng(rng)
        self.W = self.new_parameter((D, 4 * H), self.dtype,
                                    lambda: get_initializer(init)((D, 4 * H), generator, self.dtype))
        self.U = self.new_parameter((H, 4 * H), self.dtype, lambda: orthogonal((H, 4 * H), generator, self.dtype))
        self.b = self.new_parameter((4 * H,), self.dtype,
                                    lambda: np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
        self.dW, self.dU, self.db = (self.new_gradient(p) for p in (self.W, self.U, self.b))

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "return_sequences": self.return_sequences, "init": initializer_config(self.init),
                "dtype": self.dtype.name}

    def parameters(self):
        return [self.W, self.U, self.b]

    def gradients(self):
        return [self.dW, self.dU, self.db]

    def weights_to_penalize(self):
        return [(self.W, self.dW), (self.U, self.dU)]

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 2 or input_shape[1] != self.input_size:
            raise ValueError(f"{self!r} takes sequences of per-sample shape (time, {self.input_size}), got "
                             f"{input_shape}")
        return (input_shape[0], self.hidden_size) if self.return_sequences else (self.hidden_size,)

    def _forward(self, x):                                   # x (B, T, D)
        batch, steps, _ = x.shape
        H = self.hidden_size
        xs = self.buffer("inputs", (steps, batch, self.input_size), self.dtype)
        np.copyto(xs, x.transpose(1, 0, 2))                   # time-major (T, B, D)
        gates = self.buffer("gates", (steps, batch, 4 * H), self.dtype)
        np.matmul(xs.reshape(steps * batch, -1), self.W, out=gates.reshape(steps * batch, -1))
        gates += self.b                                       # x_t W + b for every t, one product
        c = self.buffer("cells", (steps + 1, batch, H), self.dtype)
        h = self.buffer("hidden", (steps + 1, batch, H), self.dtype)
        tanh_c = self.buffer("tanh_cells", (steps, batch, H), self.dtype)
        recurrent = self.buffer("recurrent_term", (batch, 4 * H), self.dtype)
        c[0] = 0
        h[0] = 0
        for t in range(steps):
            np.matmul(h[t], self.U, out=recurrent)
            gates[t] += recurrent                             # z_t
            kernels.lstm_cell_forward(gates[t], c[t], c[t + 1], tanh_c[t], h[t + 1])
        self.keep(xs=xs, gates=gates, c=c, tanh_c=tanh_c, h=h)
        if self.return_sequences:
            output = self.buffer("output", (batch, steps, H), self.dtype)
            np.copyto(output, h[1:].transpose(1, 0, 2))
            return output                                     # (B, T, H)
        return h[steps].copy()                                # (B, H)

    def _backward(self, grad_output):                        # (B, T, H) or (B, H)
        kept = self.kept
        steps, batch, _ = kept.xs.shape
        H = self.hidden_size
        grad_h = self.buffer("grad_hidden", (steps, batch, H), self.dtype)
        if self.return_sequences:
            np.copyto(grad_h, grad_output.transpose(1, 0, 2))
        else:
            grad_h[:-1] = 0
            grad_h[-1] = grad_output
        grad_z = self.buffer("grad_gates", (batch, 4 * H), self.dtype)         # dz_t of the current step
        grad_c = self.buffer("grad_cell", (batch, H), self.dtype)
        grad_c[...] = 0
        grad_x = self.buffer("grad_input", (batch, steps, self.input_size), self.dtype) if self.need_input_grad \
            else None
        terms = {name: self.buffer(name, parameter.shape, self.dtype)
                 for name, parameter in (("W_term", self.W), ("U_term", self.U))}
        recurrent = self.buffer("recurrent_gradient", (batch, H), self.dtype)
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                grad_h[t] += np.matmul(grad_z, self.U.T, out=recurrent)   # via h_t into step t + 1
            kernels.lstm_cell_backward(kept.gates[t], kept.c[t], kept.tanh_c[t], grad_h[t], grad_c, grad_z)
            # The parameters' gradients, one step at a time: products with a short inner dimension (B), which
            # OpenBLAS runs fast; one product over all B T rows (inner dimension 8,192 for B = 64, T = 128)
            # took 25 to 200 times longer with two threads on this busy machine (measured 780 ms against 3.5 ms).
            self.dW += np.matmul(kept.xs[t].T, grad_z, out=terms["W_term"])     # x_t^T dz_t
            self.dU += np.matmul(kept.h[t].T, grad_z, out=terms["U_term"])      # h_{t-1}^T dz_t
            self.db += grad_z.sum(axis=0)
            if grad_x is not None:
                grad_x[:, t] = grad_z @ self.W.T                                  # dz_t W^T
        return grad_x                                                             # (B, T, D) or None
