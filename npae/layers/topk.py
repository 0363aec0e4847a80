"""TopK: keep the k largest values of each row, zero the rest (the activation of Gao et al.'s sparse autoencoders).

A sparse autoencoder wants each code to use few latents.  An L1 penalty (npae.layers.activity) asks for that
and pays for it by shrinking every active value towards 0; TopK simply *sets* the number of active latents to
k and leaves the kept values as they are (Makhzani & Frey 2014, "k-Sparse Autoencoders"; Gao et al. 2024,
"Scaling and evaluating sparse autoencoders", section 2.3).
"""
import numpy as np

from ..registry import register
from .base import Layer


def topk_mask(x, k):
    """The boolean mask (B, D) of the k largest entries of each row of x (B, D), ties to the lowest index.

    How: t = the k-th largest value of the row (``np.partition``, O(D) per row); keep every entry > t, then,
    among the entries equal to t, the first (k - number kept so far) in column order.  The same input always
    gives the same mask, whatever the order NumPy's selection algorithm visits the row in.
    """
    threshold = -np.partition(-x, k - 1, axis=1)[:, k - 1:k]          # (B, 1): the k-th largest value
    above = x > threshold                                              # (B, D): surely kept
    tied = x == threshold                                              # (B, D): kept while places remain
    places_left = k - above.sum(axis=1, keepdims=True)                 # (B, 1), >= 1
    return above | (tied & (np.cumsum(tied, axis=1) <= places_left))


@register
class TopK(Layer):
    """y = x * m, where m marks the k largest values of each row of x.

    Shapes:   x, y, m (B, D), 1 <= k <= D.   Exactly k entries of every row are kept (some may be 0 or
    negative: put a ReLU before it, as TopK(ReLU(z)) does in npae.TopKSparseAutoencoder, so that only
    positive values are active).

    Forward:   m_ij = 1 if x_ij is among the k largest of row i, else 0;     y = x * m
    Backward:  dL/dx = dL/dy * m                  (the gradient flows through the kept entries only)

    Why that is the gradient almost everywhere.  Where the k-th and the (k+1)-th largest values of a row
    differ, a small enough change of x changes no ranking across that gap, so m stays the same around x
    and y = x * m is a linear function of x there, with Jacobian diag(m).  The inputs where the gap is 0
    (a tie at the boundary) form a set of measure zero: random or learned real-valued inputs almost
    never meet one, and gradient checks that draw their inputs at random do not either.

    At a tie the function has no derivative, and is not even continuous: with x = (1, 1) and k = 1,
    raising x_2 by any epsilon moves the kept value from column 1 to column 2.  (Ties at the value 0,
    after a ReLU, are harmless: whichever zero is "kept", y is the same.)  npae then breaks the tie
    deterministically, **the lowest column index wins** (see ``topk_mask``), and backward returns the
    gradient of the branch that the rule picked, diag(m) with that m: a one-sided derivative, which is
    what PyTorch's ``torch.topk`` backward returns for its own (unspecified) choice.
    """

    def __init__(self, k):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer (the number of values kept per row), got {k!r}")
        self.k = int(k)

    def get_config(self):
        return {"k": self.k}

    def output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 1 or input_shape[0] < self.k:
            raise ValueError(f"{self!r} takes rows of at least k = {self.k} values, shape (batch, D) with "
                             f"D >= {self.k}; got per-sample shape {input_shape}")
        return input_shape

    def _forward(self, x):                                 # x (B, D)
        keep = topk_mask(x, self.k)                        # (B, D) bool, k True per row
        self.keep(mask=keep)
        return np.where(keep, x, x.dtype.type(0))          # (B, D)

    def _backward(self, grad_y):                           # grad_y (B, D)
        return np.where(self.kept.mask, grad_y, grad_y.dtype.type(0))
