"""Update mechanics shared by every plastic rule: the learning rate (float, or an 8-bit mantissa
and a shift in fixed point), the seeded generator for stochastic rounding, the weight format,
and the fixed-point SGD increment."""
from __future__ import annotations

import numpy as np

from exporters.lava.plastic import fixed as fx


def weight_exp(w: np.ndarray, bits: int, headroom: int = 1) -> int:
    """Fractional bits of a matrix's ``bits``-bit signed mantissas, fixed at the start: the
    largest initial |w| takes at most 2^-headroom of the range (1: half), leaving room to grow."""
    m = float(np.max(np.abs(np.asarray(w)))) or 1.0
    return int(np.floor(np.log2((2 ** (bits - 1) - 1) / m))) - int(headroom)


class SGD:
    """Mixin of the plastic layers: ``_init_sgd`` then ``_step`` for fixed-point increments."""

    def _init_sgd(self, lr: float, fixed: bool, weight_bits: int, seed: int) -> None:
        self.lr, self.fixed, self.weight_bits = float(lr), bool(fixed), int(weight_bits)
        self.lr_m, self.lr_e = fx.mantissa_shift(lr) if fixed else (0, 0)
        self.rng = np.random.default_rng(seed)

    def _step(self, q: np.ndarray, acc: np.ndarray | float, n: int, acc_frac: int, q_frac: int) -> np.ndarray:
        """Fixed-point SGD increment ``-lr * mean(acc)`` of a parameter with ``q_frac``
        fractional bits from an accumulator with ``acc_frac`` fractional bits summed over n
        samples, stochastically rounded to the parameter's LSB."""
        num = -self.lr_m * np.asarray(acc, dtype=np.int64)
        if n > 1:
            num = num // n
        return fx.stochastic_shift(num, self.lr_e + acc_frac - q_frac, self.rng)
