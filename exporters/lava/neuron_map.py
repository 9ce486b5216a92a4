"""NIR neuron nodes -> population parameters (:class:`NeuronSpec`) and input gains (pure numpy).

Neuron mapping (forward Euler, step dt):
  LIF/LI:   dv = dt/tau, du = 1, input gain g = dt*r/tau, bias_v = dt*v_leak/tau + g*c
  IF/I:     dv = 0, g = dt*r
  CubaLIF/CubaLI: du = dt/tau_syn, dv = dt/tau_mem, g = (dt*r/tau_mem)(dt/tau_syn) w_in,
            bias_u = g*c, bias_v = dt*v_leak/tau_mem; a bias c_r that arrives only through a
            recurrent edge (a back-edge reads t-1: absent at t = 0) adds beta to bias_u and -beta
            to bias_v, beta = g*c_r/(1-du) (exact, see delayed_bias); other kinds refuse c_r
  Threshold: du = dv = 1, vth = threshold
  zoo alif:  as LIF, plus da = dt/tau_adapt, ja = beta*da*r_adapt (adaptive threshold)
(the leak registers dv, g, bias_v of the family: :func:`zoo.neurons.lif.euler_registers`)
where c is the summed Affine bias reaching the population; g scales the incoming weight rows.
Where c goes is the spec's ``bias_register`` ("u" for CubaLIF/CubaLI, "v" otherwise), applied by
the compiler pass :func:`exporters.lava.passes.attach_bias`.
"""
from __future__ import annotations

import nir
import numpy as np

from exporters.lava.specs import NeuronSpec
from exporters.nir.executor import reset_mode
from exporters.nir.extensions import extension_name, is_extension
from exporters.nir.io import NIRError
from zoo.neurons.lif import euler_registers


def neuron_spec(name: str, node: nir.NIRNode, dt: float, latency: int) -> tuple[NeuronSpec, np.ndarray]:
    """Population parameters and the per-neuron input gain g."""
    def arr(key, default=0.0):
        v = getattr(node, key, None)
        return np.asarray(default if v is None else v, float).ravel()

    if is_extension(node):
        from exporters.lava.populations import spec_for_extension

        return spec_for_extension(name, node, extension_name(node, name), dt, latency)
    if isinstance(node, nir.Threshold):
        thr = arr("threshold")
        n = thr.size
        one = np.ones(n)
        return NeuronSpec(name, n, one, one.copy(), thr, np.zeros(n), np.zeros(n), np.zeros(n), "zero", True,
                          latency, "Threshold"), one
    spiking = isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF))
    current = isinstance(node, (nir.CubaLIF, nir.CubaLI))  # input through a current register u: bias on u
    if current:
        tau_syn, tau_mem = arr("tau_syn"), arr("tau_mem")
        du = dt / tau_syn
        dv, gain, bias_v = euler_registers(tau_mem, arr("r"), arr("v_leak"), dt)
        gain = gain * du * arr("w_in", 1.0)
    elif isinstance(node, (nir.IF, nir.I)):
        r = arr("r")
        du, dv, gain, bias_v = np.ones_like(r), np.zeros_like(r), dt * r, np.zeros_like(r)
    else:  # LIF, LI
        tau = arr("tau")
        du = np.ones_like(tau)
        dv, gain, bias_v = euler_registers(tau, arr("r"), arr("v_leak"), dt)
    for key, val in (("du", du), ("dv", dv)):
        if np.any(val < 0) or np.any(val > 1):
            raise NIRError(f"node {name!r}: dt/tau = {val.max():.4g} outside [0, 1] for {key} "
                           f"(dt={dt}): the time constant is shorter than the step")
    n = dv.size
    vth = arr("v_threshold") if spiking else np.full(n, np.inf)
    v_reset = arr("v_reset") if spiking else np.zeros(n)
    reset = reset_mode(node, name) if spiking else "none"
    return NeuronSpec(name, n, du, dv, vth, np.zeros(n), bias_v, v_reset, reset, spiking, latency,
                      type(node).__name__, bias_register="u" if current else "v"), gain


def delayed_bias(name: str, spec: NeuronSpec, b: np.ndarray) -> None:
    """A bias ``b`` (input units of u) that reaches a CubaLIF/CubaLI population only through a
    recurrent edge: absent at the sample's first step (the back-edge reads the previous step,
    zero at t = 0), constant afterwards. With constant registers, bias_u += beta and bias_v -= beta
    with beta = b/(1-du) give exactly that drive of v: u then carries beta*(1-(1-du)^(t+1))/du
    more, so u + bias_v gains beta*(1-du)*(1-(1-du)^t)/du = b*(1-(1-du)^t)/du, which is 0 at
    t = 0 and what b switched on at t = 1 adds to u. Needs du < 1 (tau_syn > dt) where b != 0."""
    keep = 1.0 - spec.du
    if np.any((b != 0) & (keep <= 0)):
        raise NIRError(f"node {name!r}: an Affine bias reaching it only through a recurrent edge needs "
                       "tau_syn > dt (with tau_syn = dt the synaptic current has no memory to delay it by one step)")
    beta = np.divide(b, keep, out=np.zeros_like(b), where=b != 0)
    spec.bias_u = spec.bias_u + beta
    spec.bias_v = spec.bias_v - beta
