"""The neuron registry: name -> :class:`~zoo.neurons.descriptor.NeuronDescriptor`.

A neuron module registers its descriptor at import (``register(DESCRIPTOR)``); ``MODULES``
lists the modules to import (adding a neuron = one line here). Each neuron has one spelling;
``aliases`` keep older spellings readable. Unknown names get the closest known name.
"""
from __future__ import annotations

import difflib
import importlib

from zoo.neurons.descriptor import NeuronDescriptor

MODULES: list[str] = [  # modules defining a DESCRIPTOR (imported lazily, in this order)
    "zoo.neurons.brf",
    "zoo.neurons.se_adlif",
    "zoo.neurons.rf",
]

_NEURONS: dict[str, NeuronDescriptor] = {}
_ALIASES: dict[str, str] = {}


class UnknownNeuron(KeyError, ValueError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(desc: NeuronDescriptor) -> NeuronDescriptor:
    """Add ``desc`` under its name and aliases (a name registered twice is an error)."""
    if desc.name in _NEURONS and _NEURONS[desc.name] is not desc:
        raise ValueError(f"neuron {desc.name!r} is registered twice")
    _NEURONS[desc.name] = desc
    for alias in desc.aliases:
        _ALIASES[alias] = desc.name
    return desc


def _load() -> None:
    for module in MODULES:
        importlib.import_module(module)


def names() -> list[str]:
    """Registered neuron names (sorted)."""
    _load()
    return sorted(_NEURONS)


def get(name: str) -> NeuronDescriptor:
    """The descriptor of ``name`` (or of an alias); unknown names raise with a suggestion."""
    _load()
    name = _ALIASES.get(name, name)
    if name not in _NEURONS:
        close = difflib.get_close_matches(name, list(_NEURONS) + list(_ALIASES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNeuron(f"unknown neuron {name!r} (known: {', '.join(sorted(_NEURONS))}){hint}")
    return _NEURONS[name]


def aliases() -> dict[str, str]:
    """Older spellings -> the neuron's one name."""
    _load()
    return dict(_ALIASES)


def descriptors() -> list[NeuronDescriptor]:
    _load()
    return [_NEURONS[n] for n in sorted(_NEURONS)]
