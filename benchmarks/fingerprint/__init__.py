"""Bit-identity regression guard: do the shipped models still give the same bits as before?

``python -m benchmarks.fingerprint.run --write`` on the old commit, then ``--check`` (the
default) on the new one, in the same environment; ``results/hashes.json`` holds the hashes of
the committed tree. Per shipped model (``zoo list``), on its first 8 test samples, a SHA-256
digest (:mod:`.digest`) of: the inputs (float and on the fixed-point grid), the torch weights and
outputs, the NIR graph run by the float64 torch executor (output and every node's record), the
float plan, the calibrated fixed plan (registers or custom-kind params, integer weights, weight
exponents, scales, message units, pre-ops, host readout), the quantisation report, and the
emulator's float and fixed runs (output, raw output, spikes, voltages). ``--lava`` adds Lava
float and fixed runs on 2 samples of lif-digits, eprop-alif-rowdigits and star-lorenz (slow).

Float bits depend on the Python, torch, numpy, lava-nc and BLAS builds and on the CPU, so the
file records them and ``--check`` refuses to compare across them. Real data: set
``$ZOO_DATA_DIR`` as for ``zoo eval`` (a changed ``inputs`` hash means other data, not other code).
"""
