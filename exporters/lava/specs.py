"""The plan's data types: populations, Dense stages, convolution stages and the Plan (pure numpy)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exporters.lava.conv import ConvOp
from exporters.lava.linear_map import apply_ops, check_dense, op_n_in, op_n_out

INPUT = "__input__"
OUTPUT = "__output__"


@dataclass
class NeuronSpec:
    """One population (float parameters, one value per neuron)."""

    name: str
    n: int
    du: np.ndarray
    dv: np.ndarray
    vth: np.ndarray
    bias_u: np.ndarray
    bias_v: np.ndarray
    v_reset: np.ndarray
    reset: str
    spiking: bool
    latency: int
    kind: str  # NIR primitive name (or zoo extension name)
    da: np.ndarray | None = None  # adaptive threshold: decay per step (None: no adaptation)
    ja: np.ndarray | None = None  # adaptive threshold: jump per spike (threshold units)
    params: dict | None = None  # parameters of a custom population kind (exporters.lava.populations)
    bias_register: str = "v"  # where the summed Affine bias goes: "u" (a current register: CubaLIF, CubaLI) or "v"

    def __post_init__(self) -> None:
        if self.da is None:
            self.da = np.zeros(self.n)
        if self.ja is None:
            self.ja = np.zeros(self.n)


@dataclass
class DenseSpec:
    """One Lava Dense stage: ``weight`` (n_dst, n_src) from ``src`` to ``dst``."""

    name: str
    src: str
    dst: str
    weight: np.ndarray
    recurrent: bool = False
    signal: str = "spikes"  # what the source sends: "spikes", or "v" (membrane, through a v_tap)
    delay: int = 0  # extra steps from NIR Delay nodes on the path (Lava DelayDense)

    def graded(self, neurons: dict[str, "NeuronSpec"]) -> bool:
        """True when the source sends graded values (input, voltages) rather than spikes."""
        return self.src == INPUT or self.signal == "v" or not neurons[self.src].spiking

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

@dataclass
class ConvSpec:
    """One convolution stage from ``src`` to ``dst``: ``ops`` (:class:`~exporters.lava.conv.ConvOp`
    kernels, possibly a final dense matrix) applied in order within one step, as one Lava
    process (:class:`~exporters.lava.procs.batched_conv.BatchedConv`). Same timing as a
    :class:`DenseSpec`; no dense matrix is ever built unless :attr:`weight` is read."""

    name: str
    src: str
    dst: str
    ops: tuple
    recurrent: bool = False
    signal: str = "spikes"
    delay: int = 0

    graded = DenseSpec.graded

    @property
    def n_out(self) -> int:
        return op_n_out(self.ops[-1])

    @property
    def n_in(self) -> int:
        return op_n_in(self.ops[0])

    @property
    def n_weights(self) -> int:
        """Stored weights: every kernel's values (a pool's ones count, as Loihi stores them)."""
        return int(sum(np.size(op.weight if isinstance(op, ConvOp) else op) for op in self.ops))

    @property
    def weight(self) -> np.ndarray:
        """The equivalent dense (n_out, n_in) matrix, for tools on small models (metrics, cards);
        refused above ``ZOO_MAX_DENSE_BYTES``."""
        return self.expand(None)

    def expand(self, last: np.ndarray | None) -> np.ndarray:
        """Dense matrix of the chain with the last op's weights replaced by ``last`` (e.g. integers)."""
        check_dense(self.name, self.n_out, self.n_in, "the dense view of a convolution stage", copies=2)
        ops = self.ops
        if last is not None:
            op = ops[-1]
            ops = ops[:-1] + ((op.with_weight(np.asarray(last, np.float64)) if isinstance(op, ConvOp)
                               else np.asarray(last, np.float64)),)
        return apply_ops(ops, np.eye(self.n_in)).T


Stage = "DenseSpec | ConvSpec"


@dataclass
class Plan:
    dt: float
    input_shape: tuple[int, ...]
    neurons: dict[str, NeuronSpec]
    denses: list  # DenseSpec | ConvSpec, in build order
    output_src: str  # a neuron name, or the name of a Dense feeding the output
    output_kind: str  # "spikes" | "v" | "dense"
    output_shape: tuple[int, ...]
    latency: int
    mapping: dict[str, str] = field(default_factory=dict)  # NIR node -> what it became
    output_bias: np.ndarray | None = None  # readout Affine bias, added when the sink is read

    @property
    def n_in(self) -> int:
        return int(np.prod(self.input_shape))
