"""Online learning inside Lava: plastic layers whose traces, errors and weight updates run in
Lava process models (float64 and Loihi-style fixed point), and a bit-exact numpy twin.

* :mod:`.layer` — the :class:`OnlineLayer` / :class:`OnlineHead` interface every plastic layer
  implements (one sample, one step at a time; forward then same-step backward).
* :mod:`.fixed` — integer helpers (shift rounding, stochastic rounding, saturation, LUTs).
* :mod:`.stop` — STOP's trace rule (hidden LIF layers + cross-entropy readout).
* :mod:`.eprop` — online e-prop (recurrent layer + LI readout).
* :mod:`.star` — STAR-SNN's TBPTT with K = 1 (recurrent STAR ALIF layer + LI readout, SGD every step).
* :mod:`.procs` — the Lava Processes / ProcessModels that host any OnlineLayer.
* :mod:`.run` — one training/evaluation schedule run in Lava or in the emulator.
"""
