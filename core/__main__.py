"""``python -m core``: the RE Studio command line."""

from core.cli import main

raise SystemExit(main())
