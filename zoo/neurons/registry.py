"""The neuron registry: name -> :class:`~zoo.neurons.descriptor.NeuronDescriptor`
(a :class:`zoo.registries.Registry`, the zoo's one registry type).

A neuron module registers its descriptor at import (``register(DESCRIPTOR)``); ``MODULES``
lists the modules to import (adding a neuron = one line here). Each neuron has one spelling;
``aliases`` keep older spellings readable. Unknown names get the closest known name.
"""
from __future__ import annotations

import importlib

from zoo.neurons.descriptor import NeuronDescriptor
from zoo.registries import Registry

MODULES: list[str] = [  # modules defining a DESCRIPTOR (imported on the first lookup, in this order)
    "zoo.neurons.brf",
    "zoo.neurons.se_adlif",
    "zoo.neurons.rf",
    "zoo.neurons.lif",
]


class UnknownNeuron(KeyError, ValueError):
    def __str__(self) -> str:
        return str(self.args[0])


def _load() -> None:
    for module in MODULES:
        importlib.import_module(module)


NEURONS: Registry[NeuronDescriptor] = Registry("neuron", UnknownNeuron, loader=_load)
_ALIASES: dict[str, str] = {}


def register(desc: NeuronDescriptor) -> NeuronDescriptor:
    """Add ``desc`` under its name and aliases (a name registered twice is an error)."""
    NEURONS.register(desc.name, desc)
    for alias in desc.aliases:
        _ALIASES[alias] = desc.name
    return desc


def names() -> list[str]:
    """Registered neuron names (sorted)."""
    return NEURONS.names()


def get(name: str) -> NeuronDescriptor:
    """The descriptor of ``name`` (or of an alias); unknown names raise with a suggestion."""
    NEURONS.names()  # load
    return NEURONS.get(_ALIASES.get(name, name))


def aliases() -> dict[str, str]:
    """Older spellings -> the neuron's one name."""
    NEURONS.names()  # load
    return dict(_ALIASES)


def descriptors() -> list[NeuronDescriptor]:
    return NEURONS.values()
