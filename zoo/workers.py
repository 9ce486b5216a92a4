"""Worker entry of the processes :mod:`zoo.launch` starts: ``python -m zoo.workers train
RECIPE_JSON OUT`` (one rank of ``zoo train --nproc N``) or ``python -m zoo.workers map DIR`` (one
evaluation shard: reads ``DIR/in{RANK}.pkl``, writes ``DIR/out{RANK}.pkl``).
"""
from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    import argparse
    import importlib

    p = argparse.ArgumentParser(prog="python -m zoo.workers")
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="(worker) one rank of a data-parallel training run")
    t.add_argument("recipe_json")
    t.add_argument("out")
    t.add_argument("--device", default="cpu")
    t.add_argument("--quiet", action="store_true")
    m = sub.add_parser("map", help="(worker) one evaluation shard")
    m.add_argument("dir")
    args = p.parse_args(argv)
    if args.cmd == "train":
        from zoo.train import train

        recipe = json.loads(Path(args.recipe_json).read_text())
        try:
            train(recipe, args.out, log=lambda msg: print(msg, file=sys.stderr, flush=True),
                  progress=not args.quiet, device=args.device)
        except Exception:  # report like Python would, then leave without interpreter teardown:
            import traceback  # a process group's gloo threads still running at shutdown make C++
            # std::terminate abort the process (signal 6) instead of exiting with code 1
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)
        return 0
    rank = int(os.environ["RANK"])
    torch.set_num_threads(int(os.environ.get("ZOO_THREADS", "1")))
    with open(Path(args.dir) / f"in{rank}.pkl", "rb") as f:
        fn, payload, shard = pickle.load(f)
    module, func = fn.split(":")
    try:
        result = ("ok", getattr(importlib.import_module(module), func)(payload, shard))
    except Exception as exc:  # re-raised in the parent as the same exception (e.g. NIRError)
        try:
            pickle.dumps(exc)
        except Exception:
            raise exc from None
        result = ("error", exc)
    tmp = Path(args.dir) / f"out{rank}.tmp"
    with open(tmp, "wb") as f:
        pickle.dump(result, f)
    os.replace(tmp, Path(args.dir) / f"out{rank}.pkl")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
