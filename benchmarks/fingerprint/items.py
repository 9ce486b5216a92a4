"""The hashed items of one shipped model (see :mod:`benchmarks.fingerprint`), and the software
and CPU they were computed on."""
from __future__ import annotations

import dataclasses
import platform
import sys
from importlib import metadata

import numpy as np
import torch

from benchmarks.fingerprint.digest import digest
from zoo.pipeline import Pipeline

SAMPLES = 8  # first test samples: torch, NIR executor, emulator
LAVA_SAMPLES = 2  # first test samples of the optional Lava runs
LAVA_MODELS = ("lif-digits", "eprop-alif-rowdigits", "star-lorenz")  # small enough for Lava's CPU runtime
# registers of the LIF-shaped NeuronSpec fields; a custom population kind reads its ``params`` instead
LIF_REGISTERS = ("du", "dv", "vth", "bias_u", "bias_v", "v_reset", "da", "ja")
INFO = "(info)"  # suffix of items shown when changed but not counted: nothing downstream reads them


def environment() -> dict[str, str]:
    """What float bits depend on: interpreter, numeric libraries, CPU architecture and kernels."""
    from threadpoolctl import threadpool_info

    blas = sorted(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
                  for i in threadpool_info() if i.get("user_api") == "blas")
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "lava-nc": metadata.version("lava-nc"), "machine": platform.machine(),
            "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": "; ".join(blas),
            "byteorder": sys.byteorder}


def _run_items(prefix: str, run) -> dict[str, str]:
    """A :class:`~exporters.lava.RunResult`: outputs (dequantised and raw), spikes, voltages."""
    return {f"{prefix}_out": digest(run.output), f"{prefix}_raw": digest(run.output_raw),
            f"{prefix}_spikes": digest(run.spikes), f"{prefix}_volts": digest(run.voltages)}


def _fields(obj, drop: tuple[str, ...] = ()) -> dict:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name not in drop}


def plan_items(fp, fx) -> dict[str, str]:
    """The float plan (every field: populations, stages, readout), the fixed plan (integer
    registers or custom-kind params, weights, weight exponents, scales, message units, pre-ops,
    host readout, input grid, and the float plan it quantised) and the quantisation report. The
    LIF-shaped registers of custom kinds (unread: the builder and emulator use their params) are
    a separate informative item."""
    from exporters.lava.populations import custom_kind

    neurons = {n: _fields(s, LIF_REGISTERS if custom_kind(s) else ()) for n, s in fx.neurons.items()}
    unread = {n: {k: getattr(s, k) for k in LIF_REGISTERS} for n, s in fx.neurons.items() if custom_kind(s)}
    return {"float_plan": digest(fp),
            "fixed_plan": digest({**_fields(fx, ("neurons", "report")), "neurons": neurons}),
            f"fixed_custom_lif_registers{INFO}": digest(unread),
            "quant_report": digest(fx.report)}


def fingerprint(pipe: Pipeline, samples: int = SAMPLES) -> dict[str, str]:
    """Item -> digest for ``pipe`` on its first ``samples`` test samples: inputs, torch weights
    and outputs, the float64 NIR executor's output and records, the plans, and the emulator's
    float and fixed runs."""
    from exporters.lava import emulate
    from exporters.lava.quantize import quantize_inputs

    x, _ = pipe.data("test", samples)
    x_fixed, frac_bits, _ = quantize_inputs(x.numpy())
    res = {"inputs": digest((x, x_fixed, frac_bits)), "torch_weights": digest(pipe.model.state_dict()),
           "torch_out": digest(pipe.torch_outputs(x))}
    ref = pipe.reference()
    with torch.no_grad():
        res["nir_out"] = digest(ref(x.transpose(0, 1).double(), record=True))
    res["nir_records"] = digest(ref.records)
    fp, fx = pipe.plan("float"), pipe.plan("fixed", frac_bits)
    res.update(plan_items(fp, fx))
    res.update(_run_items("emu_float", emulate(fp, x.numpy())))
    res.update(_run_items("emu_fixed", emulate(fx, x_fixed)))
    return res


def lava_fingerprint(pipe: Pipeline, samples: int = LAVA_SAMPLES) -> dict[str, str]:
    """Lava float and fixed runs (the CPU simulator) on the first ``samples`` test samples."""
    from exporters.lava import run_lava
    from exporters.lava.quantize import quantize_inputs

    x, _ = pipe.data("test", samples)
    x_fixed, frac_bits, _ = quantize_inputs(x.numpy())
    res = _run_items("lava_float", run_lava(pipe.plan("float"), x.numpy()))
    res.update(_run_items("lava_fixed", run_lava(pipe.plan("fixed", frac_bits), x_fixed)))
    return res
