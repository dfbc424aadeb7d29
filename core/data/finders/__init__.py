"""Audit findings in one shape, from a registry of finders (one finder per module).

:mod:`core.data.finders.base` defines the findings table (:data:`FINDING_COLUMNS`: ``id, kind, score,
suggestion, detail``), the :class:`Finder` record and the registry (:data:`FINDERS`, :func:`register`,
:func:`finders`). Importing this package registers the audit's finders, each derived from the
:class:`core.data.audit.AuditReport` (or the import's invalid rows); ``core.analysis.label_issue_finder``
adds the label issues. To add a finder: a module here that calls :func:`register`, imported below.
"""

from __future__ import annotations

from core.data.finders import conflicts, duplicates, invalid_rows, offsets, overlap, type_flags
from core.data.finders.base import FINDERS, FINDING_COLUMNS, Finder, FinderInput, finders, findings, register

__all__ = [
    "FINDERS",
    "FINDING_COLUMNS",
    "Finder",
    "FinderInput",
    "conflicts",
    "duplicates",
    "finders",
    "findings",
    "invalid_rows",
    "offsets",
    "overlap",
    "register",
    "type_flags",
]
