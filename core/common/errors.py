"""The one base class of the errors a person can act on.

Every error that means "this input, config or request cannot be done as asked" derives from
:class:`RestudioError`: bad data (:class:`core.common.schema.DataError`), a bad ``restudio.toml`` or training
config (both ``ConfigError`` classes), a refused or failed job action (:class:`core.jobs.JobError`), an edit
that lost a race (:class:`core.store.workspace.ConflictError`), cross-validation, prediction, checkpoint and
model-loading refusals. Their messages are written for the person (they name the file, row, field or option),
so the CLI prints them as one line with exit status 2 and the views show them as an error box; anything
else is a bug and keeps its traceback in the server log.

Several of them also derive from ``ValueError`` (as they did before this base existed), so code that catches
``ValueError`` around a call keeps working.
"""

from __future__ import annotations


class RestudioError(Exception):
    """A request that cannot be done as asked; the message says why, for the person who asked."""
