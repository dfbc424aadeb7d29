"""What every layer shares: the KLUE-RE data contract (``schema``: labels, columns, ``DataError``), atomic
file writes (``atomic``), the server's ``restudio.toml`` (``config``) and the ``RESTUDIO_*`` environment
variables (``settings``). Imports nothing else of ``core``."""
