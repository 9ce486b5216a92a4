"""Fuzz: malformed NIR graphs and inputs through every backend (issue 15).

Each trial builds a small valid network from a fixed seed, applies one fault of its class and
runs it through the torch executor, the float and fixed-point compilers, the float and fixed
emulators, ``zoo nir run`` on the written file (some trials) and real Lava (some trials, each
in a forked child under a timeout). Every entry point must either

* refuse with one clean error (:class:`NIRError` / :class:`ZooError`, one line), or
* run, and then agree with the torch reference (float emulator and Lava float: spikes exactly,
  outputs to 1e-6; fixed point: only that it runs or refuses cleanly),

and a graph or input that the torch backend refuses must be refused by every backend (one
validation). Anything else is counted: a *traceback* (another exception), a *hang* (a Lava run
past its timeout) or a *silent wrong result* (a disagreement without an error). The counts per
class are printed and written to ``fuzz_nir_counts.json`` (``ZOO_FUZZ_REPORT`` names another
path); the test fails unless tracebacks, hangs and wrong results are all zero.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import signal
import traceback
from collections import Counter
from pathlib import Path

import nir
import numpy as np
import pytest
import torch

from exporters.lava import build_plan, emulate
from exporters.nir import NIRError, from_nir
from nir_graphs import lif
from zoo.registry import ZooError

DT = 1e-3
CLEAN = (NIRError, ZooError)
LAVA_TIMEOUT = 90.0
LAVA_RUNS: list[int] = []  # one entry per real Lava run (reported with the counts)


# ---------------------------------------------------------------- valid networks
def valid_graph(rng: np.random.Generator) -> nir.NIRGraph:
    """Input -> (Linear|Affine -> LIF|IF|CubaLIF|Threshold) x 1-2 [+ recurrent] -> readout."""
    n_in = int(rng.integers(2, 6))
    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])})}
    edges, prev, n_prev = [], "input", n_in
    for i in range(int(rng.integers(1, 3))):
        n = int(rng.integers(2, 6))
        w = rng.normal(0.6, 0.6, (n, n_prev))
        nodes[f"fc{i}"] = (nir.Affine(weight=w, bias=rng.normal(0.05, 0.05, n)) if rng.random() < 0.5
                           else nir.Linear(weight=w))
        kind = rng.choice(["LIF", "IF", "CubaLIF", "Threshold"], p=[0.5, 0.2, 0.15, 0.15])
        tau = rng.uniform(2e-3, 1e-2, n)
        if kind == "LIF":
            node = lif(n, tau, rng.uniform(0.5, 1.2, n), reset=str(rng.choice(["zero", "subtract"])),
                       v_leak=rng.uniform(-0.05, 0.1, n))
        elif kind == "IF":
            node = nir.IF(r=rng.uniform(300, 800, n), v_threshold=rng.uniform(0.5, 1.2, n), v_reset=np.zeros(n),
                          metadata={"zoo.reset": str(rng.choice(["zero", "subtract"]))})
        elif kind == "CubaLIF":
            ts = rng.uniform(2e-3, 6e-3, n)
            node = nir.CubaLIF(tau_syn=ts, tau_mem=tau, r=tau / DT, v_leak=np.zeros(n),
                               v_threshold=rng.uniform(0.5, 1.0, n), v_reset=np.zeros(n), w_in=ts / DT,
                               metadata={"zoo.reset": "subtract"})
        else:
            node = nir.Threshold(threshold=rng.uniform(0.2, 0.8, n))
        nodes[f"n{i}"] = node
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"n{i}")]
        if i == 0 and kind == "LIF" and rng.random() < 0.4:  # a recurrent layer (previous-step input)
            nodes["rec"] = nir.Linear(weight=rng.normal(0, 0.4, (n, n)))
            edges += [(f"n{i}", "rec"), ("rec", f"n{i}")]
        prev, n_prev = f"n{i}", n
    if rng.random() < 0.5:  # LI membrane readout
        k = int(rng.integers(2, 4))
        tau = np.full(k, rng.uniform(4e-3, 1e-2))
        nodes["ro"] = nir.Linear(weight=rng.normal(0, 1, (k, n_prev)))
        nodes["li"] = nir.LI(tau=tau, r=tau / DT, v_leak=np.zeros(k))
        edges += [(prev, "ro"), ("ro", "li")]
        prev, n_prev = "li", k
    nodes["output"] = nir.Output(output_type={"output": np.array([n_prev])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT}, type_check=False)


def spikes(rng: np.random.Generator, graph: nir.NIRGraph, batch: int = 2, steps: int = 12) -> np.ndarray:
    n_in = int(np.prod(graph.nodes["input"].input_type["input"]))
    return (rng.random((batch, steps, n_in)) < 0.4).astype(np.float64)


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _array_params(graph) -> list[tuple[str, str]]:
    out = []
    for name, node in graph.nodes.items():
        for key, v in vars(node).items():
            if isinstance(v, np.ndarray) and v.dtype.kind == "f" and key not in ("input_type", "output_type") and v.size:
                out.append((name, key))
    return out


# ---------------------------------------------------------------- faults, one class each
def f_nan_inf(rng, g, x):
    name, key = _pick(rng, _array_params(g))
    a = getattr(g.nodes[name], key).copy()
    a.flat[int(rng.integers(a.size))] = _pick(rng, [np.nan, np.inf, -np.inf])
    setattr(g.nodes[name], key, a)
    return g, x


def _ensure_lif(g):
    """Graphs drawn without any time constant get their first population as a LIF."""
    n = int(np.asarray(g.nodes["fc0"].weight).shape[0])
    g.nodes["n0"] = lif(n, 5e-3, 1.0)


def f_time_constant(rng, g, x):
    if not any(hasattr(v, "tau") or hasattr(v, "tau_mem") for v in g.nodes.values()):
        _ensure_lif(g)
    cands = [(n, k) for n, v in g.nodes.items() for k in ("tau", "tau_syn", "tau_mem") if hasattr(v, k)]
    name, key = _pick(rng, cands)
    a = getattr(g.nodes[name], key).copy()
    a.flat[int(rng.integers(a.size))] = _pick(rng, [0.0, -1e-3, DT / 2, DT, 1e-9])  # DT: dt/tau = 1, valid
    setattr(g.nodes[name], key, a)
    return g, x


def f_threshold(rng, g, x):
    if not any(hasattr(v, "v_threshold") or hasattr(v, "threshold") for v in g.nodes.values()):
        _ensure_lif(g)
    cands = [(n, k) for n, v in g.nodes.items() for k in ("v_threshold", "threshold") if hasattr(v, k)]
    name, key = _pick(rng, cands)
    a = getattr(g.nodes[name], key).copy()
    a.flat[int(rng.integers(a.size))] = _pick(rng, [0.0, -0.5, -1e-12, 1e-3])  # 1e-3: tiny but valid
    setattr(g.nodes[name], key, a)
    return g, x


def f_delay(rng, g, x):
    fc = _pick(rng, [n for n in g.nodes if n.startswith("fc")])
    dst = next(d for s, d in g.edges if s == fc)
    n = int(np.asarray(g.nodes[fc].weight).shape[0])
    steps = _pick(rng, [np.full(n, -1.0), np.full(n, 0.5), np.arange(n, dtype=float), np.full(n, 70.0),
                        np.zeros(n), np.full(n, 1.0), np.full(n, 2.0), np.full(n, 3.0)])
    g.nodes["delay"] = nir.Delay(delay=steps * DT)
    g.edges = [e for e in g.edges if e != (fc, dst)] + [(fc, "delay"), ("delay", dst)]
    return g, x


def f_shape(rng, g, x):
    choice = int(rng.integers(4))
    if choice == 0:
        fc = _pick(rng, [n for n in g.nodes if n.startswith("fc") or n in ("ro", "rec")])
        w = np.asarray(g.nodes[fc].weight)
        g.nodes[fc].weight = rng.normal(0.5, 0.5, (w.shape[0] + int(rng.integers(-1, 2)),
                                                   max(1, w.shape[1] + int(rng.integers(-1, 2)))))
    elif choice == 1:
        g.nodes["output"] = nir.Output(output_type={"output": np.array([int(rng.integers(1, 8))])})
    elif choice == 2:
        name, key = _pick(rng, [(n, k) for n, k in _array_params(g) if k in ("v_reset", "v_leak", "r", "bias")])
        a = getattr(g.nodes[name], key)
        setattr(g.nodes[name], key, np.resize(a, max(0, a.size + int(rng.integers(-1, 2)))))
    else:
        g.nodes["input"] = nir.Input(input_type={"input": np.array(_pick(rng, [[0], [2, 2], [7], []]))})
    return g, x


def f_structure(rng, g, x):
    choice = int(rng.integers(10))
    if choice == 0:
        g.nodes["input2"] = nir.Input(input_type={"input": np.array([3])})
        g.edges.append(("input2", "fc0"))
    elif choice == 1:
        del g.nodes["output"]
        g.edges = [e for e in g.edges if e[1] != "output"]
    elif choice == 2:
        g.edges.append(("fc0", "ghost"))
    elif choice == 3:
        g.edges = g.edges[1:]  # fc0 loses its input: unreachable
    elif choice == 4:
        g.edges.append(("fc0", "input"))
    elif choice == 5:
        g.nodes["loop"] = nir.Scale(scale=np.full(np.asarray(g.nodes["fc0"].weight).shape[0], 0.5))
        g.edges += [("fc0", "loop"), ("loop", "fc0")] if np.asarray(g.nodes["fc0"].weight).shape[0] == \
            np.asarray(g.nodes["fc0"].weight).shape[1] else [("loop", "loop"), ("fc0", "loop")]
    elif choice == 6:
        g.nodes, g.edges = {}, []
    elif choice == 7:
        g.edges.append(g.edges[0])  # a duplicated edge: fan-in counts it twice, on every backend
    elif choice == 8:
        g.edges.append(("output", "fc0"))
    else:
        g.nodes["extra_out"] = nir.Output(output_type={"output": np.array([2])})
        g.edges.append(("n0", "extra_out"))
    return g, x


def f_nested(rng, g, x):
    """Wrap n0 into a nested graph ``grp`` (its node ``lif``); sometimes add a colliding ``grp.lif``."""
    n0 = g.nodes.pop("n0")
    n = int(np.prod(_first(n0.input_type)))
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": n0,
                                "output": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("input", "lif"), ("lif", "output")], type_check=False)
    g.nodes["grp"] = inner
    g.edges = [(("grp" if s == "n0" else s), ("grp" if d == "n0" else d)) for s, d in g.edges]
    if rng.random() < 0.5:
        g.nodes["grp.lif"] = nir.Scale(scale=np.ones(n))
        g.edges = [(s, d) if s != "grp" else ("grp.lif", d) for s, d in g.edges] + [("grp", "grp.lif")]
    return g, x


def _first(types):
    return np.ravel(next(iter(types.values())))


def f_dt(rng, g, x):
    g.metadata = {"dt": _pick(rng, ["abc", "0.001", np.array([DT, DT]), np.nan, 0.0, -DT, np.inf, True, [DT], None,
                                    np.float64(DT), np.array(DT)])}
    return g, x


def f_metadata(rng, g, x):
    choice = int(rng.integers(3))
    pops = [n for n, v in g.nodes.items() if isinstance(v, (nir.LIF, nir.IF, nir.CubaLIF))]
    if choice == 0 and pops:
        g.nodes[_pick(rng, pops)].metadata = {"zoo.reset": _pick(rng, ["bogus", b"subtract", 3, "zero"])}
    elif choice == 1:
        g.metadata = {"dt": DT, "input_frac_bits": _pick(rng, ["x", -1, 99, 2.5, 3, np.int64(1)])}
    else:
        g.metadata = dict  # nir.NIRGraph's default: the dict *type* (then dt must be given)
    return g, x


def f_input(rng, g, x):
    choice = int(rng.integers(11))
    b, t, n = x.shape
    return g, [x.transpose(0, 2, 1), x[:, :, :-1], np.zeros((0, t, n)), np.zeros((b, 0, n)),
               np.where(x > 0, np.nan, 0.0), np.where(x > 0, np.inf, 0.0), x.astype(bool), x.astype(np.int64),
               x.astype(str), x[0], x.reshape(b, t, n, 1)][choice]


CLASSES = {"nan_inf": f_nan_inf, "time_constant": f_time_constant, "threshold": f_threshold, "delay": f_delay,
           "shape": f_shape, "structure": f_structure, "nested": f_nested, "dt": f_dt, "metadata": f_metadata,
           "input": f_input, "valid": lambda rng, g, x: (g, x)}


# ---------------------------------------------------------------- running one trial
def _call(fn):
    """('ok', value) | ('error', message) | ('traceback', text)."""
    try:
        return "ok", fn()
    except CLEAN as exc:
        msg = str(exc)
        if "\n" in msg or not msg:
            return "traceback", f"error message is not one line: {msg!r}"
        return "error", msg
    except Exception:  # noqa: BLE001 - exactly what the fuzz counts
        return "traceback", traceback.format_exc(limit=6)


def _torch_checked(g, x):
    """The torch backend, fed time-first as ``zoo nir run`` feeds it; records spiking populations."""
    from exporters.nir.validate import check_input

    ex = from_nir(g)
    a = np.asarray(x)
    if a.dtype.kind not in "biuf" or a.ndim < 2:
        check_input(a, ex.input_shape)  # raises the shared error
    with torch.no_grad():
        out = ex(torch.as_tensor(a.astype(np.float64)).transpose(0, 1), record=True)
    pops = [n for n, v in ex.nodes.items() if isinstance(v, (nir.LIF, nir.IF, nir.CubaLIF, nir.Threshold))]
    return out.transpose(0, 1).numpy(), {n: ex.records[n].transpose(0, 1).numpy() for n in pops}


def _lava_in_child(plan, x, timeout: float = LAVA_TIMEOUT):
    """run_lava in a forked child under a timeout: ('ok', (output, spikes)) | error | traceback | hang."""
    LAVA_RUNS.append(1)
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def target():
        os.setpgrp()  # the child and its Lava workers form one group, killed together on a hang
        from exporters.lava import run_lava

        send.send(_call(lambda: (lambda r: (r.output, r.spikes))(run_lava(plan, x))))

    p = ctx.Process(target=target)
    p.start()
    try:
        if recv.poll(timeout):
            res = recv.recv()
            p.join(30)
            return res
        return "hang", f"no result within {timeout} s"
    finally:
        if p.is_alive():
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.join(10)


def _agree(ref, got) -> str | None:
    (out_r, spk_r), (out_g, spk_g) = ref, got
    for k, s in spk_g.items():
        if k in spk_r and not np.array_equal(s, spk_r[k].reshape(s.shape)):
            return f"spikes of {k!r} differ in {int((s != spk_r[k].reshape(s.shape)).sum())} places"
    if out_g.shape != out_r.shape:
        return f"output shape {out_g.shape} != torch {out_r.shape}"
    if not np.allclose(out_g, out_r, atol=1e-6, rtol=1e-9):
        return f"output differs by {np.abs(out_g - out_r).max():.3g}"
    return None


def run_trial(cls: str, seed: int, lava: bool, cli_dir: Path | None) -> tuple[str, str]:
    """Returns (outcome, detail): outcome in ok | error | traceback | wrong | hang."""
    rng = np.random.default_rng([seed, list(CLASSES).index(cls)])
    g = valid_graph(rng)
    x = spikes(rng, g)
    g, x = CLASSES[cls](rng, g, x)
    torch_graph = _call(lambda: from_nir(g))
    torch_res = _call(lambda: _torch_checked(g, x)) if torch_graph[0] == "ok" else torch_graph
    plans = {p: _call(lambda p=p: build_plan(g, p)) for p in ("float", "fixed")}
    runs = {}
    for p, (st, plan) in plans.items():
        if st == "ok":
            runs[p] = _call(lambda plan=plan: (lambda r: (r.output, r.spikes))(emulate(plan, x)))
    results = {"torch": torch_res, **{f"plan-{p}": v for p, v in plans.items()},
               **{f"emulator-{p}": v for p, v in runs.items()}}
    if lava and plans["float"][0] == "ok":
        results["lava-float"] = _lava_in_child(plans["float"][1], x)
    if cli_dir is not None:
        results["cli"] = _cli(g, x, cli_dir, seed)
    for name, (st, detail) in results.items():
        if st in ("traceback", "hang", "wrong"):  # (the CLI checks itself against the API: wrong)
            return st, f"{name}: {detail}"
    results.pop("cli", None)
    # one validation: what torch refuses, every backend refuses (the graph, or the input)
    if torch_graph[0] == "error":
        accepted = [n for n, (st, _) in results.items() if st == "ok" and n != "torch"]
        if accepted:
            return "wrong", f"torch refuses the graph ({torch_graph[1]}) but {', '.join(accepted)} accept it"
        return "error", torch_graph[1]
    if torch_res[0] == "error":
        accepted = [n for n, (st, _) in results.items() if st == "ok" and not n.startswith("plan-") and n != "torch"]
        if accepted:
            return "wrong", f"torch refuses the input ({torch_res[1]}) but {', '.join(accepted)} accept it"
        return "error", torch_res[1]
    for name in ("emulator-float", "lava-float"):
        if name in results and results[name][0] == "ok":
            bad = _agree(torch_res[1], results[name][1])
            if bad:
                return "wrong", f"{name} vs torch: {bad}"
    if any(st == "error" for st, _ in results.values()):
        return "error", next(d for st, d in results.values() if st == "error")  # a backend limit, cleanly
    return "ok", ""


def _cli(g, x, d: Path, seed: int):
    """``zoo nir run --backend torch`` on the written file: exit 0 with the torch result of the
    graph as nir.read returns it (nir completes dangling outputs) on the input as the CLI reads
    it ((T, ...) is one sample), or one 'error:' line with exit 2 exactly when that run refuses."""
    import contextlib
    import io

    from exporters.nir import read, write
    from zoo.cli import main

    try:
        f = write(d / f"g{seed}.nir", g)
        g_file = read(f)
    except Exception:  # noqa: BLE001 - nir cannot write or read back some faults: nothing to run
        return "error", "not serialisable"
    xa = np.asarray(x)
    xf = d / f"x{seed}.npy"
    np.save(xf, xa, allow_pickle=False)
    n_dims = len(np.ravel(g_file.nodes["input"].input_type["input"])) if isinstance(
        g_file.nodes.get("input"), nir.Input) else 1
    ref = _call(lambda: _torch_checked(g_file, xa[None] if xa.ndim == n_dims + 1 else xa))
    err = io.StringIO()
    out = d / f"o{seed}.npz"
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(["nir", "run", str(f), "--input", str(xf), "-o", str(out), "--backend", "torch"])
        except SystemExit as exc:
            rc = exc.code
        except Exception:  # noqa: BLE001
            return "traceback", traceback.format_exc(limit=6)
    text = err.getvalue().strip()
    if rc not in (0, 2) or (rc == 2 and (not text.startswith("error: ") or "\n" in text)):
        return "traceback", f"exit {rc}: {text[-500:]}"
    if ref[0] == "traceback":
        return ref
    if (rc == 0) != (ref[0] == "ok"):
        return "wrong", f"zoo nir run exit {rc} ({text}) but the API {'runs it' if ref[0] == 'ok' else ref[1]}"
    if rc == 0 and not np.allclose(np.load(out)["output"], ref[1][0], atol=1e-12):
        return "wrong", "zoo nir run output differs from the API's torch output"
    return ("ok", None) if rc == 0 else ("error", text)


def fuzz(trials: int, lava_every: int, cli_every: int, tmp: Path) -> dict:
    LAVA_RUNS.clear()
    counts: dict[str, Counter] = {c: Counter() for c in CLASSES}
    failures = []
    for cls in CLASSES:
        for seed in range(trials):
            outcome, detail = run_trial(cls, seed, lava=(seed % lava_every == 0) if lava_every else False,
                                        cli_dir=tmp if cli_every and seed % cli_every == 0 else None)
            counts[cls][outcome] += 1
            if outcome in ("traceback", "wrong", "hang"):
                failures.append(f"{cls}#{seed}: {outcome}: {detail}")
    return {"counts": {c: dict(v) for c, v in counts.items()}, "failures": failures}


def _report(result: dict, path: Path, capsys) -> None:
    total = Counter()
    for v in result["counts"].values():
        total.update(v)
    result["totals"] = {"trials": sum(total.values()), "ok": total["ok"], "clean_errors": total["error"],
                        "tracebacks": total["traceback"], "hangs": total["hang"], "silent_wrong": total["wrong"],
                        "real_lava_runs": len(LAVA_RUNS)}
    out = Path(os.environ.get("ZOO_FUZZ_REPORT", path))
    out.write_text(json.dumps(result, indent=2))
    with capsys.disabled():
        print(f"\nfuzz NIR ({out}):")
        for cls, c in result["counts"].items():
            print(f"  {cls:14s} trials {sum(c.values()):3d}  ok {c.get('ok', 0):3d}  clean errors {c.get('error', 0):3d}"
                  f"  tracebacks {c.get('traceback', 0)}  hangs {c.get('hang', 0)}  wrong {c.get('wrong', 0)}")
        print(f"  total          {result['totals']}")


def _check(result: dict) -> None:
    t = result["totals"]
    assert (t["tracebacks"], t["hangs"], t["silent_wrong"]) == (0, 0, 0), "\n".join(result["failures"][:20])
    for cls, c in result["counts"].items():  # the suite exercises both sides where a class has both
        assert sum(c.values()) > 0
    assert result["counts"]["valid"].get("ok", 0) > 0


def test_fuzz_nir_default(tmp_path, capsys):
    """12 trials per class (132), a quarter also through the CLI, and 3 real Lava runs (two valid
    networks, one with a valid Delay) compared with torch."""
    result = fuzz(trials=12, lava_every=0, cli_every=4, tmp=tmp_path)
    delayed = next(s for s in range(12) if run_trial("delay", s, False, None)[0] == "ok")  # a valid Delay
    extra = [run_trial("valid", s, lava=True, cli_dir=None) for s in (0, 1)] + [run_trial("delay", delayed, True, None)]
    for outcome, detail in extra:
        result["counts"].setdefault("lava", Counter())
        result["counts"]["lava"] = dict(Counter(result["counts"]["lava"]) + Counter([outcome]))
        if outcome in ("traceback", "wrong", "hang"):
            result["failures"].append(f"lava: {outcome}: {detail}")
    _report(result, tmp_path / "fuzz_nir_counts.json", capsys)
    _check(result)


@pytest.mark.slow
def test_fuzz_nir_extended(tmp_path, capsys):
    """60 trials per class, every 15th also in real Lava, every 3rd through the CLI."""
    result = fuzz(trials=60, lava_every=15, cli_every=3, tmp=tmp_path)
    _report(result, tmp_path / "fuzz_nir_counts_extended.json", capsys)
    _check(result)
