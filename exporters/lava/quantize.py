"""Float plan -> Loihi fixed-point integers, in one place, with a report of what was rounded
or saturated. Shared by the Lava builder and the emulator.

Per population a scale S (state units per float unit, before the <<6 alignment):
  W_int = round(W*S / 2^e) in [-256, 254] even (mixed sign), [0, 255] or [-255, 0];
  vth_int = round(vth*S) (17-bit unsigned, > 0); bias_int = round(bias*S*64) (= mant << exp,
  mant 13-bit signed, exp 0..7); v_reset_int = round(v_reset*S*64);
  du_int = round(4096*du) - 1 (12-bit, Lava's +1 offset); dv_int = round(4096*dv).
S = 254*2^e / max|W|, with the largest e in 0..7 that keeps vth*S*4 <= 2^17-1 (headroom for v
above threshold within 24 bits) and the bias within 13-bit mantissa << 7; non-spiking
populations and readouts use e = 0; S is lowered (fewer weight bits, reported) if the threshold
or bias still does not fit.
Dequantisation: voltage = v_int / (64*S); readout Dense value = a_int / S.
The scale and the weights are chosen the same way for every population; its registers are then
quantised by its kind: the LIF/ALIF registers above (:func:`quantize_lif`) or a custom kind's
own ``PopulationKind.quantize`` (:func:`quantize_kind`).
Convolution stages (:class:`ConvSpec`): the last op's kernel is quantised like a Dense matrix
(same S and e for the population); ops before it (a pool's sum, or a kernel of a conv -> conv
chain) become 8-bit integers of their own (exactly, when already integers) whose scale is folded
into the last kernel before it is quantised, so the stage is a chain of integer sums << e.
Optional (``quantize_plan(split=True)``): every Dense into a population becomes two 8-bit Dense
stages, the second carrying the rounding residual at a lower exponent (~15-bit weights).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from exporters.lava.conv import ConvOp
from exporters.lava.populations import PopulationKind, custom_kind
from exporters.lava.specs import INPUT, OUTPUT, ConvSpec, DenseSpec, NeuronSpec, Plan
from exporters.nir.io import NIRError

VTH_MAX = 2 ** 17 - 1
BIAS_MANT_MAX = 2 ** 12 - 1
BIAS_MAX = BIAS_MANT_MAX << 7


@dataclass
class QuantReport:
    """What quantisation did to one stage."""

    name: str
    scale: float
    weight_exp: int = 0
    max_abs_weight_error: float = 0.0  # in float weight units
    weights_saturated: int = 0
    weights_zeroed: int = 0  # nonzero float weights that became 0
    vth_rel_error: float = 0.0  # the float threshold rounded at the population scale S
    decay_abs_error: float | None = 0.0  # LIF/ALIF decay registers (None: a custom kind, see its notes)
    bias_abs_error: float | None = 0.0  # LIF/ALIF bias registers (None: a custom kind, see its notes)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: (float(v) if isinstance(v, (np.floating, float)) else v) for k, v in self.__dict__.items()}


@dataclass
class FixedPlan:
    """Integer parameters for every stage plus the scales needed to read values back."""

    plan: Plan
    neurons: dict[str, NeuronSpec]  # integer registers (LIF/ALIF) or integer params (a custom kind)
    weights: dict[str, np.ndarray]  # Dense name -> int weights
    weight_exp: dict[str, int]
    scale: dict[str, float]  # population or readout Dense -> S
    report: dict[str, QuantReport]
    input_frac_bits: int = 0  # graded inputs enter as x*2^k; their Dense shifts right by k
    host_readout: str | None = None  # output Dense fed by voltages: applied on the host (float)
    msg_unit: dict[str, float] = field(default_factory=dict)  # graded population -> float per message unit
    pre_ops: dict[str, tuple] = field(default_factory=dict)  # ConvSpec name -> integer ops before its last

    def int_ops(self, d: ConvSpec) -> tuple:
        """The integer ops of convolution stage ``d``: its pre-ops, then the last op with ``weights[d.name]``."""
        last = d.ops[-1]
        w = self.weights[d.name]
        return self.pre_ops[d.name] + ((last.with_weight(w) if isinstance(last, ConvOp) else w),)


def weight_range(w: np.ndarray) -> tuple[int, int, int]:
    """(lo, hi, step) of Lava's 8-bit weights for this matrix's sign mode."""
    if np.all(w >= 0):
        return 0, 255, 1
    if np.all(w <= 0):
        return -255, 0, 1
    return -256, 254, 2


def quantize_weights(w: np.ndarray, s: float, e: int, name: str, rep: QuantReport) -> np.ndarray:
    lo, hi, step = weight_range(w)
    x = w * s / 2 ** e / step
    q = np.round(x)
    sat = (q * step < lo) | (q * step > hi)
    q = np.clip(q * step, lo, hi).astype(np.int64)
    rep.weights_saturated += int(sat.sum())
    rep.weights_zeroed += int(((q == 0) & (w != 0)).sum())
    err = np.abs(q * 2 ** e / s - w).max() if w.size else 0.0
    rep.max_abs_weight_error = max(rep.max_abs_weight_error, float(err))
    return q


def split_bias(b: np.ndarray, name: str) -> np.ndarray:
    """Round to a value representable as mant << exp (13-bit mant, 3-bit exp)."""
    b = np.round(b).astype(np.int64)
    exp = np.zeros_like(b)
    while np.any(np.abs(b >> exp) > BIAS_MANT_MAX) and exp.max() < 7:
        exp = np.where(np.abs(b >> exp) > BIAS_MANT_MAX, exp + 1, exp)
    if np.any(np.abs(b >> exp) > BIAS_MANT_MAX):
        raise NIRError(f"node {name!r}: bias too large for 13-bit mantissa with exponent <= 7")
    mant = np.sign(b) * (np.abs(b) >> exp)
    return mant << exp


def integer_pre_ops(d: ConvSpec) -> tuple[tuple, float]:
    """The ops of ``d`` before its last as integers, and the factor (float per integer unit) that
    multiplies the last op's weights: integer-valued kernels (a pool's sum) stay exact, others
    become 8-bit weights (scale 254 / max|w|)."""
    ops, factor = [], 1.0
    for op in d.ops[:-1]:
        w = op.weight if isinstance(op, ConvOp) else op
        if np.array_equal(w, np.round(w)) and np.abs(w).max(initial=0) <= 255:
            q = np.round(w).astype(np.int64)
        else:
            s = 254 / max(float(np.abs(w).max()), 1e-300)
            q = quantize_weights(w, s, 0, d.name, QuantReport(d.name, s))
            factor /= s
        ops.append(op.with_weight(q) if isinstance(op, ConvOp) else q)
    return tuple(ops), factor


def last_weights(d: DenseSpec | ConvSpec, factor: float = 1.0) -> np.ndarray:
    """What the quantiser scales: a Dense matrix, or a convolution stage's last kernel (x ``factor``)."""
    if isinstance(d, DenseSpec):
        return d.weight
    last = d.ops[-1]
    return (last.weight if isinstance(last, ConvOp) else last) * factor


def split_weights(d: DenseSpec, w: np.ndarray, s: float, e: int, q: np.ndarray) -> tuple[DenseSpec, np.ndarray, int]:
    """A second 8-bit Dense (same source, target and timing) carrying what the 8-bit weights
    ``q`` (exponent ``e``) left out of ``w*s``: weights ``lo`` with exponent ``e_lo`` (at least -8,
    Loihi's range) so that q*2^e + lo*2^e_lo approximates w*s to about 15 bits."""
    resid = w * s - q * 2.0 ** e
    rmax = float(np.abs(resid).max())
    e_lo = max(-8, int(np.ceil(np.log2(rmax / 254)))) if rmax > 0 else e - 8
    rep = QuantReport(d.name + "+lo", s)
    lo = quantize_weights(resid / s, s, e_lo, d.name, rep)
    return replace(d, name=d.name + "+lo", weight=resid / s), lo, e_lo


def population_scale(name: str, spec: NeuronSpec, wmax: float, calibration: dict[str, float] | None,
                     rep: QuantReport) -> tuple[float, int]:
    """(S, e) of one population, any kind: S = 254*2^e / max|W| with the largest e in 0..7 that
    keeps vth*S*4 and bias*S*64 in range (spiking; e = 0 otherwise), lowered to fit the 17-bit
    threshold, the calibrated 24-bit state (headroom 1.5x; e then shifts the sum instead) and the
    13-bit bias mantissa; each limit is noted in ``rep``."""
    e = 0
    bmax = float(np.abs(spec.bias_v).max())
    if spec.spiking:
        if np.any(spec.vth <= 0):
            raise NIRError(f"node {name!r}: fixed point needs v_threshold > 0 (Loihi vth is unsigned)")
        vmax = float(spec.vth.max())
        while e < 7 and vmax * 254 * 2 ** (e + 1) / wmax * 4 <= VTH_MAX \
                and bmax * 254 * 2 ** (e + 1) / wmax * 64 <= BIAS_MAX:
            e += 1
        s = 254 * 2 ** e / wmax
        if vmax * s > VTH_MAX:
            s = VTH_MAX / vmax
            rep.notes.append("scale limited by the 17-bit threshold: weights use fewer than 8 bits")
    else:
        s = 254 / wmax
    xmax = (calibration or {}).get(name, 0.0)  # max |u|, |v| (or custom state) of a float run
    if xmax > 0 and s > (2 ** 23 - 1) / (64 * 1.5 * xmax):
        s = (2 ** 23 - 1) / (64 * 1.5 * xmax)
        e = int(np.ceil(np.log2(wmax * s / 254)))  # keep 8-bit weights: shift the sum instead
        e = max(-7, min(7, e))
        rep.notes.append(f"scale capped by the calibrated state range (max |state| = {xmax:.3g}); "
                         f"weight_exp {e}")
    if bmax * s * 64 > BIAS_MAX:
        s = BIAS_MAX / (64 * bmax)
        rep.notes.append("scale limited by the 13-bit bias mantissa: weights use fewer than 8 bits")
    rep.scale, rep.weight_exp = s, e
    if spec.spiking:  # the float threshold at S (a custom kind may hold its own threshold more finely)
        rep.vth_rel_error = float(np.abs(np.round(spec.vth * s) / s - spec.vth).max() / np.abs(spec.vth).max())
    return s, e


def quantize_lif(spec: NeuronSpec, s: float, rep: QuantReport) -> NeuronSpec:
    """The LIF/ALIF population (ZooNeuron) at scale S: its integer registers du = round(4096 du) - 1
    (Lava's +1 offset), dv = round(4096 dv), vth = round(vth S) (0 when not spiking), bias_v as
    mant << exp (:func:`split_bias`), bias_u, v_reset, ja = round(x S 64), da = round(4096 da)."""
    name = spec.name
    du = np.round(spec.du * 4096).astype(np.int64) - 1
    dv = np.round(spec.dv * 4096).astype(np.int64)
    if np.any(du < 0):
        raise NIRError(f"node {name!r}: current decay dt/tau_syn < 1/4096 is not representable (du register)")
    rep.decay_abs_error = float(max(np.abs((du + 1) / 4096 - spec.du).max(), np.abs(dv / 4096 - spec.dv).max()))
    vth = np.round(spec.vth * s).astype(np.int64) if spec.spiking else np.zeros(spec.n, dtype=np.int64)
    bias_v = split_bias(spec.bias_v * s * 64, name)
    bias_u = np.round(spec.bias_u * s * 64).astype(np.int64)
    rep.bias_abs_error = float(max(np.abs(bias_v / (s * 64) - spec.bias_v).max(),
                                   np.abs(bias_u / (s * 64) - spec.bias_u).max()))
    v_reset = np.round(spec.v_reset * s * 64).astype(np.int64)
    da = np.round(spec.da * 4096).astype(np.int64)
    ja = np.round(spec.ja * s * 64).astype(np.int64)
    rep.decay_abs_error = max(rep.decay_abs_error, float(np.abs(da / 4096 - spec.da).max()))
    return replace(spec, du=du, dv=dv, vth=vth, bias_u=bias_u, bias_v=bias_v, v_reset=v_reset, da=da, ja=ja)


def quantize_kind(kind: PopulationKind, spec: NeuronSpec, s: float, rep: QuantReport, xmax: float
                  ) -> tuple[NeuronSpec, float | None]:
    """A custom population kind at scale S: its own ``kind.quantize`` sets its integer params (the
    LIF-shaped fields of its spec are not used by its process and stay as compiled). Graded kinds
    send 16-bit messages of 2^k state units (k = ``params["msg_shift"]``, from the calibrated
    state range ``xmax``; 8 without one); returns the spec and the float value of one message unit."""
    params, notes = kind.quantize(spec, s)
    rep.notes.extend(notes)
    rep.decay_abs_error = rep.bias_abs_error = None  # no LIF registers: the kind's own formats, in its notes
    unit = None
    if kind.graded:
        k = int(max(0, np.ceil(np.log2(1.5 * xmax * s * 64 + 1)) - 15)) if xmax > 0 else 8
        params["msg_shift"] = k
        unit = 2.0 ** k / (64 * s)
    return replace(spec, params=params), unit


def quantize_plan(plan: Plan, input_frac_bits: int = 0, calibration: dict[str, float] | None = None,
                  split: bool = False) -> FixedPlan:
    """Quantise every population and Dense stage of ``plan``: per population (in plan order) the
    scale (:func:`population_scale`), its incoming weights, then its registers by its kind
    (:func:`quantize_lif` or :func:`quantize_kind`); then the readout stages. ``split``: every
    Dense into a population gets a second 8-bit Dense with the rounding residual
    (``split_weights``): about 15-bit weights for twice the synapses (the returned
    ``FixedPlan.plan`` lists the extra stages right after their first halves). With
    ``input_frac_bits`` = k, graded inputs arrive as integers x*2^k and the input Dense uses
    weight_exp e - k (Lava's arithmetic right shift, i.e. floor). ``calibration`` (population ->
    max |state| in float units, e.g. ``RunResult.state_max`` of a float run) caps the scale of
    populations without a threshold so their 24-bit state does not saturate (headroom 1.5x)."""
    _check_finite_plan(plan, calibration)
    weights, wexp, scale, report, msg_unit = {}, {}, {}, {}, {}
    neurons = {}
    extra: dict[str, DenseSpec] = {}  # split: Dense name -> its residual Dense
    by_dst: dict[str, list[DenseSpec]] = {}
    for d in plan.denses:
        by_dst.setdefault(d.dst, []).append(d)

    pre_ops, factors = {}, {}
    for d in plan.denses:
        if isinstance(d, ConvSpec):
            pre_ops[d.name], factors[d.name] = integer_pre_ops(d)

    def effective(d: DenseSpec | ConvSpec) -> np.ndarray:  # weights per message unit of graded sources
        w = last_weights(d, factors.get(d.name, 1.0))
        return w * msg_unit[d.src] if d.src in msg_unit else w

    for name, spec in plan.neurons.items():
        rep = QuantReport(name, 0.0)
        incoming = by_dst.get(name, [])
        wmax = max((float(np.abs(effective(d)).max()) for d in incoming if effective(d).size), default=0.0)
        if wmax == 0:
            raise NIRError(f"node {name!r}: all incoming weights are zero; nothing to quantise against")
        s, e = population_scale(name, spec, wmax, calibration, rep)
        for d in incoming:
            weights[d.name] = quantize_weights(effective(d), s, e, name, rep)
            wexp[d.name] = e - (input_frac_bits if d.src == INPUT else 0)
            if split and isinstance(d, ConvSpec):
                rep.notes.append(f"{d.name}: convolution stage not split (one 8-bit kernel)")
            elif split and not (d.src in plan.neurons and d.graded(plan.neurons)):
                lo_spec, lo, e_lo = split_weights(d, effective(d), s, e, weights[d.name])
                weights[lo_spec.name], wexp[lo_spec.name] = lo, e_lo - (input_frac_bits if d.src == INPUT else 0)
                extra[d.name] = lo_spec
                err = np.abs((weights[d.name] * 2.0 ** e + lo * 2.0 ** e_lo) / s - effective(d)).max()
                rep.max_abs_weight_error = float(err)
                rep.weights_zeroed = int(((weights[d.name] == 0) & (lo == 0) & (d.weight != 0)).sum())
                rep.notes.append(f"{d.name}: split into two 8-bit Dense stages (exponents {e} and {e_lo})")
        kind = custom_kind(spec)
        if kind is None:
            neurons[name] = quantize_lif(spec, s, rep)
        else:
            neurons[name], unit = quantize_kind(kind, spec, s, rep, (calibration or {}).get(name, 0.0))
            if unit is not None:
                msg_unit[name] = unit
        scale[name] = s
        report[name] = rep
    host = None
    for d in plan.denses:
        if d.dst == OUTPUT and d.src != INPUT and d.graded(plan.neurons):
            host = d.name  # 24-bit voltages x 8-bit weights would overflow Lava's int32 Dense
            report[d.name] = QuantReport(d.name, 1.0, notes=["membrane readout applied on the host in float64 "
                                                             "to the recorded fixed-point voltages"])
        elif d.dst == OUTPUT:
            w = last_weights(d, factors.get(d.name, 1.0))
            rep = QuantReport(d.name, 254 / max(float(np.abs(w).max()), 1e-300))
            weights[d.name] = quantize_weights(w, rep.scale, 0, d.name, rep)
            wexp[d.name], scale[d.name], report[d.name] = 0, rep.scale, rep
    for d in plan.denses:
        if d.dst == OUTPUT and d.src == INPUT and input_frac_bits:
            wexp[d.name] -= input_frac_bits
    if extra:
        plan = replace(plan, denses=[x for d in plan.denses for x in ([d, extra[d.name]] if d.name in extra else [d])])
    return FixedPlan(plan, neurons, weights, wexp, scale, report, input_frac_bits, host, msg_unit, pre_ops)


def stage_ops(plan: Plan | FixedPlan, d: DenseSpec | ConvSpec) -> tuple:
    """The ops one stage applies: float ops of a plan, integer ops of a fixed plan (a stage the
    fixed plan computes on the host keeps its float ops)."""
    fixed = isinstance(plan, FixedPlan) and d.name in plan.weights
    if isinstance(d, ConvSpec):
        return plan.int_ops(d) if fixed else d.ops
    return (plan.weights[d.name] if fixed else d.weight,)


def _check_finite_plan(plan: Plan, calibration: dict[str, float] | None) -> None:
    """NaN/inf never reach the integer conversion (np.round(nan).astype(int) is an arbitrary integer).
    Graphs are validated at load (exporters.nir.validate); this guards plans built by hand and
    calibrations of a float run that overflowed."""
    for d in plan.denses:
        ops = d.ops if isinstance(d, ConvSpec) else (d.weight,)
        if not all(np.all(np.isfinite(op.weight if isinstance(op, ConvOp) else op)) for op in ops):
            raise NIRError(f"Dense {d.name!r}: weights contain NaN or inf; nothing to quantise")
    for name, spec in plan.neurons.items():
        for key in ("du", "dv", "vth", "bias_u", "bias_v", "v_reset", "da", "ja"):
            v = np.asarray(getattr(spec, key), float)
            if key == "vth" and not spec.spiking:
                continue
            if not np.all(np.isfinite(v)):
                raise NIRError(f"node {name!r}: {key} contains NaN or inf; nothing to quantise")
    for name, xmax in (calibration or {}).items():
        if not np.isfinite(xmax):
            raise NIRError(f"node {name!r}: the calibration run's state is {xmax} (the float network diverges)")


def check_fixed_sources(plan: Plan) -> None:
    """Fixed point carries binary spikes between stages; graded sources are refused by name."""
    for d in plan.denses:
        kind = custom_kind(plan.neurons[d.src]) if d.src in plan.neurons else None
        if kind is not None and kind.graded:
            continue  # graded messages with a fixed-point format (msg_shift)
        if d.src in plan.neurons and d.graded(plan.neurons) and d.dst != OUTPUT:
            raise NIRError(f"node {d.src!r}: feeds {d.dst!r} with graded values (voltages); "
                           "fixed point supports binary spikes between stages only")


def quantize_inputs(x: np.ndarray, max_frac_bits: int = 12) -> tuple[np.ndarray, int, float]:
    """Inputs for fixed point: binary spikes pass as they are (k = 0); graded values become
    multiples of 2^-k — exactly when some k <= ``max_frac_bits`` represents them, else rounded
    with the largest k that keeps |x|*2^k < 2^15. Returns (x, k, max rounding error); callers
    report the error (nothing is rounded silently)."""
    x = np.asarray(x, dtype=np.float64)
    if np.isin(x, (0, 1)).all():
        return x, 0, 0.0
    for k in range(1, max_frac_bits + 1):
        if np.array_equal(x * 2 ** k, np.round(x * 2 ** k)):
            return x, k, 0.0
    k = int(min(max_frac_bits, 14 - np.ceil(np.log2(max(np.abs(x).max(), 1e-12)))))
    if k < 0:
        raise NIRError(f"graded inputs up to {np.abs(x).max():.3g} do not fit 16-bit fixed-point messages")
    xq = np.round(x * 2 ** k) / 2 ** k
    return xq, k, float(np.abs(xq - x).max())
