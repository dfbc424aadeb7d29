"""The Data view's features: reading files (``loading``), importing them into the workspace (``importing``,
``splits``), the audit and its flags (``audit``, ``fixes``), export and augmentation (``export``,
``augment``), and the demo dataset generator (``demo``)."""
