"""Where things are kept: the workspace (datasets, revisions, corrections and their audit trail in SQLite:
``workspace``, ``database``) and run folders (``runs``)."""
