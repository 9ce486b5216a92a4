"""PyTorch <-> NIR: ``to_nir`` (exact export), ``from_nir`` (torch executor), safe ``read``/``write``."""
from exporters.nir.executor import NIRExecutor, from_nir, graph_dt
from exporters.nir.export import to_nir
from exporters.nir.io import NIRError, read, write

__all__ = ["NIRError", "NIRExecutor", "from_nir", "graph_dt", "read", "to_nir", "write"]
