"""``python -m core.jobs _wrap --db DB --job ID -- COMMAND...``: how a local job process runs its command."""

import sys

from core.jobs.local import wrap_main

if sys.argv[1:2] == ["_wrap"]:
    raise SystemExit(wrap_main(sys.argv[2:]))
print("usage: python -m core.jobs _wrap --db DB --job ID -- COMMAND...", file=sys.stderr)
raise SystemExit(2)
