"""What every layer shares: the KLUE-RE data contract (``schema``: labels, columns, ``DataError``), atomic
file writes (``atomic``) and the server's ``restudio.toml`` (``config``). Imports nothing else of ``core``."""
