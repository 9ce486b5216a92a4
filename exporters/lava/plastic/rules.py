"""Which recipe learning rules run inside Lava, and how a recipe's ``[learning]`` table maps to
plastic layers: the plastic pass.

:func:`plastic_pass` builds the plastic layers of the network a NIR graph describes (the graph
``zoo export`` writes, with dt in its metadata), the learning rule and its metadata: the
graph's parameter values are loaded into a freshly built ``template`` of the recipe's model
(:func:`exporters.nir.model_import.load_from_nir`, which checks that the graph is exactly an
export of that model), and the rule's layer builder reads them from there. So the network that
learns in Lava is the one ``zoo export`` writes, and the learned parameters (returned under the
model's ``state_dict`` names, i.e. the NIR node names plus the field) export back to NIR.

``PLASTIC_RULES``: rule name -> "module:function" building the layer chain
``fn(model, steps, lr, fixed, seed, **options) -> list[OnlineLayer]`` (head last). A rule runs
in Lava with plain SGD (``optimizer = "sgd"``, no momentum): Adam's per-parameter moments have
no counterpart in the on-chip rules. Fixed-point options come from the recipe's
``[lava_fixed]`` table (e.g. ``weight_bits``, ``trace_bits``; every rule also takes
``round_seed``, the seed of the stochastic-rounding generators, default the recipe seed).
``lr_decay = 1`` (constant rate) is accepted; any other value is refused like every other
unsupported key. :func:`update_every_step` tells whether a rule updates after every time step
(``tbptt`` with ``update_every = 1``, its default) instead of after every batch.
"""
from __future__ import annotations

import copy
import importlib
from typing import Any, Callable

import nir

from exporters.lava.plastic.layer import OnlineLayer
from exporters.nir.io import NIRError

PLASTIC_RULES: dict[str, str] = {
    "stop": "exporters.lava.plastic.stop:stop_layers",
    "eprop": "exporters.lava.plastic.eprop:eprop_rule",
    "hypr": "exporters.lava.plastic.eprop:eprop_rule",  # HYPR's update is e-prop's for every lam: lam = 1 here
    "tbptt": "exporters.lava.plastic.star:star_layers",  # STAR-SNN's TBPTT, K = 1 only
}
_EPROP_FIXED = ("weight_bits", "trace_frac", "trace_bits", "coef_bits", "state_frac", "err_bits", "acc_frac",
                "acc_bits", "lut_frac", "input_frac", "hidden_headroom", "out_headroom")
# learning-table keys each rule forwards to its layer builder (everything else is refused)
RULE_OPTIONS: dict[str, tuple[str, ...]] = {
    "stop": ("variant", "alpha_min", "alpha_max", "theta_min"),
    "eprop": ("label_steps", "learn_cell", "learn"),
    "hypr": ("label_steps", "learn_cell", "learn", "lam"),
    "tbptt": ("K", "update_every"),
}
FIXED_OPTIONS: dict[str, tuple[str, ...]] = {
    "stop": ("weight_bits", "trace_bits", "input_frac"),
    "eprop": _EPROP_FIXED,
    "hypr": _EPROP_FIXED,
    "tbptt": ("weight_bits", "in_headroom", "rec_headroom", "out_headroom", "input_frac"),
}
IGNORED = {"hypr": ("lam",)}  # accepted for recipe compatibility, no effect on the update


def update_every_step(rule: str, learning: dict[str, Any]) -> bool:
    """Whether ``rule`` with the recipe's ``[learning]`` table applies its updates after every
    time step (TBPTT(1) with ``update_every = 1``, the torch learner's default) rather than after
    every ``batch_size`` samples (``update_every = None``)."""
    return rule == "tbptt" and learning.get("update_every", 1) == 1


def plastic_layers(rule: str, model: Any, steps: int, learning: dict[str, Any], fixed: bool, seed: int = 0,
                   fixed_options: dict[str, Any] | None = None, source: str = "recipe") -> list[OnlineLayer]:
    """Layers of ``model`` that learn with ``rule`` inside Lava; ``learning`` is the recipe's
    ``[learning]`` table without rule/epochs/batch_size/train_samples. Errors name the key."""
    build = rule_builder(rule, learning, fixed, seed, fixed_options, source)
    try:
        return build(model, steps)
    except (ValueError, NotImplementedError) as exc:
        raise ValueError(f"{source}: {exc}") from None


def rule_builder(rule: str, learning: dict[str, Any], fixed: bool, seed: int = 0,
                 fixed_options: dict[str, Any] | None = None, source: str = "recipe") -> Callable[[Any, int], list]:
    """Check ``rule`` and its ``[learning]`` / ``[lava_fixed]`` tables (errors name the key) and
    return ``build(model, steps) -> layers`` with them bound."""
    if rule not in PLASTIC_RULES:
        raise ValueError(f"{source}: rule {rule!r} does not run inside Lava; rules that do: "
                         f"{', '.join(sorted(PLASTIC_RULES))}")
    learning = dict(learning)
    opt = learning.pop("optimizer", "sgd")
    if opt != "sgd":
        raise ValueError(f"{source}: [learning] optimizer = {opt!r}; inside Lava the rules apply plain SGD "
                         "(set optimizer = \"sgd\"; Adam's moments have no on-chip counterpart)")
    if "lr" not in learning:
        raise ValueError(f"{source}: [learning] needs lr")
    lr = float(learning.pop("lr"))
    if float(learning.get("lr_decay", 1.0)) == 1.0:
        learning.pop("lr_decay", None)  # a constant rate: what the plastic layers do
    unknown = sorted(set(learning) - set(RULE_OPTIONS[rule]))
    if unknown:
        raise ValueError(f"{source}: [learning] keys {unknown} are not supported by {rule!r} inside Lava "
                         f"(supported: lr, optimizer, {', '.join(RULE_OPTIONS[rule])})")
    fixed_options = dict(fixed_options or {})
    if fixed:
        seed = int(fixed_options.pop("round_seed", seed))
    fixed_options.pop("round_seed", None)
    unknown = sorted(set(fixed_options) - set(FIXED_OPTIONS[rule]))
    if unknown:
        raise ValueError(f"{source}: [lava_fixed] keys {unknown} are not known to {rule!r} "
                         f"(known: {', '.join(FIXED_OPTIONS[rule])})")
    for key in IGNORED.get(rule, ()):
        learning.pop(key, None)
    module, fn = PLASTIC_RULES[rule].split(":")
    build = getattr(importlib.import_module(module), fn)
    options = {**learning, **(fixed_options if fixed else {})}
    return lambda model, steps: build(model, steps, lr, fixed=fixed, seed=seed, **options)


def plastic_pass(graph: nir.NIRGraph, rule: str, template: Any, steps: int, learning: dict[str, Any], fixed: bool,
                 seed: int = 0, fixed_options: dict[str, Any] | None = None, source: str = "recipe"
                 ) -> list[OnlineLayer]:
    """The plastic layers (head last) that learn ``graph`` with ``rule`` inside Lava.

    ``graph``: a zoo NIR graph (dt in its metadata); ``template``: a model built from the
    recipe's builder and ``model_config`` (class, sizes and training-only settings; it is copied,
    its parameter values are replaced by the graph's). Other arguments as :func:`plastic_layers`.
    Errors are ``ValueError`` naming ``source`` (and the node, for a graph that does not fit)."""
    from exporters.nir.model_import import load_from_nir

    build = rule_builder(rule, learning, fixed, seed, fixed_options, source)  # the recipe's errors first
    try:
        model = load_from_nir(copy.deepcopy(template), graph, f"{source}: NIR graph")
        return build(model, steps)
    except NIRError as exc:
        raise ValueError(str(exc)) from None
    except (ValueError, NotImplementedError) as exc:
        raise ValueError(f"{source}: {exc}") from None
