"""Exporters: PyTorch <-> NIR (``exporters.nir``) and NIR -> Lava (``exporters.lava``)."""
