"""Peak training memory at T = 1000: TBPTT K=1 vs full BPTT, measured in one run.

What is measured (CPU, float32): the bytes of tensors autograd keeps for the backward pass
(``torch.autograd.graph.saved_tensors_hooks``: every saved tensor's storage is counted once
while it is alive; parameter storages are excluded because they exist anyway), tracked over
one full training step on a batch of 8 Mackey-Glass windows of T = 1000 steps. Views of the
input/target batch are excluded too (the batch is data, the same for both methods, and a
one-step view would otherwise count the whole sequence's storage). "Total" adds
the persistent training state: parameters + gradients + Adam moments (4 x parameter bytes)
and the recurrent state. Peak process RSS is also reported, but it is dominated by the
Python/torch runtime (~hundreds of MB) and by allocator caching, so the ratio is computed
on the activation and training-state bytes.

K = 1 is measured with the shipped reading (``--lookback 1``: one step of backpropagation into the
previous step, ``zoo/learning/tbptt.py``); ``--lookback 0`` measures the fully detached variant.

    python -m benchmarks.star.memory [--T 1000] [--batch 8] [--hidden 64] [--lookback 1]
"""
from __future__ import annotations

import argparse
import resource
import time

import torch

from benchmarks.star.common import save_json
from zoo.learning import make_learner
from zoo.models.star import STARRSNN
from zoo.tasks import get_task


class SavedTensorMeter:
    """Live and peak bytes of tensors saved for backward (storage-deduplicated)."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude, self.live, self.peak, self.refs = exclude, 0, 0, {}

    def _pack(self, t: torch.Tensor):
        meter = self
        ptr = t.untyped_storage().data_ptr()
        nbytes = t.untyped_storage().nbytes()

        class Holder:
            __slots__ = ("tensor", "__weakref__")

            def __init__(self, tensor):
                self.tensor = tensor
                if ptr in meter.exclude or nbytes == 0:
                    return
                n = meter.refs.get(ptr, 0)
                if n == 0:
                    meter.live += nbytes
                    meter.peak = max(meter.peak, meter.live)
                meter.refs[ptr] = n + 1

            def __del__(self):
                if ptr in meter.exclude or nbytes == 0:
                    return
                meter.refs[ptr] -= 1
                if meter.refs[ptr] == 0:
                    del meter.refs[ptr]
                    meter.live -= nbytes

        return Holder(t)

    @staticmethod
    def _unpack(holder):
        return holder.tensor

    def __enter__(self):
        self._ctx = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self._ctx.__exit__(*exc)


def measure(K: int, x: torch.Tensor, y: torch.Tensor, hidden: int, lookback: int = 1) -> dict:
    """Peak autograd-saved bytes of one training step (TBPTT with K, or full BPTT when K = T)."""
    torch.manual_seed(0)
    model = STARRSNN(n_inputs=1, n_outputs=1, n_hidden=hidden, variant="star", input_scale=3.0)
    T = x.shape[1]
    learner = make_learner("tbptt", model, get_task("mackey_glass"), K=K, update_every=1 if K == 1 else None, lr=1e-3,
                           lookback=lookback if K == 1 else 0)
    params = {p.untyped_storage().data_ptr() for p in model.parameters()} | \
             {b.untyped_storage().data_ptr() for b in model.buffers()} | \
             {x.untyped_storage().data_ptr(), y.untyped_storage().data_ptr()}
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    state_bytes = 4 * x.shape[0] * (3 * hidden + 1)
    t0 = time.time()
    with SavedTensorMeter(params) as meter:
        loss = learner.step((x, y))["loss"]
    seconds = time.time() - t0
    return {"K": K, "lookback": lookback if K == 1 else 0, "T": T, "batch": x.shape[0], "hidden": hidden, "loss": loss,
            "peak_saved_activation_bytes": meter.peak, "leak_check_live_bytes_after": meter.live,
            "param_grad_adam_bytes": 4 * param_bytes, "state_bytes": state_bytes,
            "peak_total_bytes": meter.peak + 4 * param_bytes + state_bytes, "seconds": seconds,
            "ru_maxrss_kib_so_far": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--T", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lookback", type=int, default=1, choices=(0, 1), help="K=1 lookback (1 = shipped reading)")
    ap.add_argument("--sweep", action="store_true", help="also measure T = 125, 250, 500, 1000 and plot")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.sweep:
        sweep(args.batch, args.hidden, args.lookback)
    x, y = get_task("mackey_glass").load("train", steps=args.T, stride=args.T // 4)
    x, y = x[:args.batch].contiguous(), y[:args.batch].contiguous()
    k1 = measure(1, x, y, args.hidden, args.lookback)   # K=1 first so its RSS high-water mark is not polluted
    full = measure(args.T, x, y, args.hidden)
    out = {"K=1": k1, "BPTT": full,
           "ratio_activation": full["peak_saved_activation_bytes"] / k1["peak_saved_activation_bytes"],
           "ratio_total": full["peak_total_bytes"] / k1["peak_total_bytes"]}
    print(f"| method | peak saved activations | + params/grads/Adam/state | wall time |\n|---|---|---|---|")
    for name, r in (("TBPTT K=1", k1), ("full BPTT", full)):
        print(f"| {name} (T={r['T']}, B={r['batch']}, H={r['hidden']}) | {r['peak_saved_activation_bytes'] / 2**20:.3f} MiB"
              f" | {r['peak_total_bytes'] / 2**20:.3f} MiB | {r['seconds']:.1f} s |")
    print(f"ratio BPTT / K=1: activations {out['ratio_activation']:.0f}x, total {out['ratio_total']:.0f}x "
          f"(process max RSS after K=1: {k1['ru_maxrss_kib_so_far'] / 1024:.0f} MiB, after BPTT: "
          f"{full['ru_maxrss_kib_so_far'] / 1024:.0f} MiB)")
    save_json(f"memory_T{args.T}_B{x.shape[0]}.json", out)  # windows available may cap the batch


def sweep(batch: int, hidden: int, lookback: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.star.common import RESULTS
    rows = []
    for T in (125, 250, 500, 1000):
        x, y = get_task("mackey_glass").load("train", steps=T, stride=T // 4)
        x, y = x[:batch].contiguous(), y[:batch].contiguous()
        rows.append({"T": T, "K=1": measure(1, x, y, hidden, lookback), "BPTT": measure(T, x, y, hidden)})
        print(f"T={T:5d}: K=1 {rows[-1]['K=1']['peak_total_bytes'] / 2**20:.3f} MiB, "
              f"BPTT {rows[-1]['BPTT']['peak_total_bytes'] / 2**20:.3f} MiB (total, B={x.shape[0]})", flush=True)
    save_json(f"memory_sweep_B{batch}.json", rows)
    fig, ax = plt.subplots(figsize=(5, 4))
    for key in ("K=1", "BPTT"):
        ax.plot([r["T"] for r in rows], [r[key]["peak_total_bytes"] / 2**20 for r in rows], "o-",
                label=f"{key}: total")
        ax.plot([r["T"] for r in rows], [r[key]["peak_saved_activation_bytes"] / 2**20 for r in rows], "x--",
                label=f"{key}: saved activations")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("peak training memory (MiB)")
    ax.set_title(f"STAR (H={hidden}, B={batch}): TBPTT K=1 vs BPTT")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "memory_vs_T.png", dpi=120)


if __name__ == "__main__":
    main()
