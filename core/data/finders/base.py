"""The one shape every audit finding takes, and the registry of the finders that produce it.

A *finder* looks for one kind of problem (duplicates, wrong entity types, label issues ...) and returns
a *findings table*: a :class:`pandas.DataFrame` with exactly the columns :data:`FINDING_COLUMNS`, one
row per finding, in the finder's own ranking order:

``id`` : str or None
    The dataset row the finding is about (None where the row has no readable id, e.g. an invalid row).
``kind`` : str
    The finder's :attr:`Finder.kind`, so tables of several finders can be concatenated.
``score`` : float
    How sure or how severe, in [0, 1], higher meaning likelier a real problem (1.0 for rule checks that
    are certain, e.g. an exact duplicate).
``suggestion`` : str or None
    The fix the finder proposes, in words (None when it has none).
``detail`` : str
    Why the row was found, in words.

A findings table is a summary for listing and comparing; each finder derives it from its detailed
result (e.g. :class:`core.data.audit.AuditReport`'s tables), which stays what the CLI prints and what the
Data view's fix buttons work from.

The registry lives here, at the bottom of the finders' packages: ``core.data`` registers its audit
finders (:mod:`core.data.finders`) and higher packages register theirs on import (``core.analysis``
registers label issues), since ``core.data`` may not import them. A new finder is one module that calls
:func:`register`; the Data view lists every registered finder in :attr:`Finder.order`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from core.data.audit import AuditReport

FINDING_COLUMNS: tuple[str, ...] = ("id", "kind", "score", "suggestion", "detail")


@dataclass(frozen=True)
class FinderInput:
    """What a finder may look at; every finder takes the same input and ignores what it does not need.

    Attributes
    ----------
    report : AuditReport
        The audit of the current train rows (and test rows, for the overlap).
    train : pandas.DataFrame, optional
        The current train rows (canonical frame).
    invalid_rows : pandas.DataFrame, optional
        The rows the import could not read (``row, field, reason, id``), as ``Workspace.invalid_rows`` gives.
    root : optional
        The workspace root (a path or a ``Workspace``), for finders that read stored results such as
        out-of-fold probabilities.
    dataset_id : int, optional
        The dataset the rows belong to, with ``root``.
    """

    report: AuditReport
    train: pd.DataFrame | None = None
    invalid_rows: pd.DataFrame | None = None
    root: Any = None
    dataset_id: int | None = None


@dataclass(frozen=True)
class Finder:
    """One kind of finding: its names, how to find it and how to count it.

    Attributes
    ----------
    kind : str
        Short identifier (``type_flags``), the findings table's ``kind`` column and the registry key.
    title : str
        The name the Data view shows for it (``Type flags``).
    help : str
        One sentence on what it finds.
    find : callable
        ``find(source: FinderInput) -> pandas.DataFrame``, the findings table (:data:`FINDING_COLUMNS`).
    count : callable, optional
        ``count(source) -> int | None``, the number the Data view shows next to the title (e.g. duplicate
        groups' extra copies rather than rows); None shows no number. Without it, the findings' row count.
    order : int
        Position in the Data view's list (ascending; ties keep registration order).
    """

    kind: str
    title: str
    help: str
    find: Callable[[FinderInput], pd.DataFrame]
    count: Callable[[FinderInput], int | None] | None = None
    order: int = 100

    def run(self, source: FinderInput) -> pd.DataFrame:
        """The findings table, its columns checked (a finder with another shape is a bug in it)."""
        table = self.find(source)
        if tuple(table.columns) != FINDING_COLUMNS:
            raise ValueError(
                f"Finder {self.kind!r} returned columns {list(table.columns)}; every finder returns "
                f"{list(FINDING_COLUMNS)}."
            )
        return table

    def counted(self, source: FinderInput) -> int | None:
        """The number shown next to the title (see :attr:`count`)."""
        return self.count(source) if self.count is not None else len(self.run(source))


#: Every registered finder by kind, in registration order; :func:`finders` gives the display order.
FINDERS: dict[str, Finder] = {}


def register(finder: Finder) -> Finder:
    """Add ``finder`` to :data:`FINDERS` and return it; registering a kind again replaces the earlier one."""
    FINDERS[finder.kind] = finder
    return finder


def finders() -> list[Finder]:
    """The registered finders in display order (:attr:`Finder.order`, then registration order)."""
    return sorted(FINDERS.values(), key=lambda f: f.order)


def findings(
    kind: str,
    ids: Sequence[Any] | np.ndarray | pd.Series,
    *,
    score: float | Sequence[float] | np.ndarray | pd.Series = 1.0,
    suggestion: str | Sequence[str | None] | np.ndarray | pd.Series | None = None,
    detail: str | Sequence[str] | np.ndarray | pd.Series = "",
) -> pd.DataFrame:
    """A findings table (:data:`FINDING_COLUMNS`) from per-finding columns; a scalar applies to every row.

    Ids become strings (a missing id stays None); scores become floats.
    """
    n = len(ids)

    def column(values: Any) -> np.ndarray:
        if values is None or isinstance(values, (str, int, float)):
            return np.full(n, values, dtype=object)
        out = np.asarray(values, dtype=object)
        if len(out) != n:
            raise ValueError(f"findings({kind!r}): a column has {len(out)} values for {n} ids.")
        return out

    id_values = [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in column(ids)]
    return pd.DataFrame(
        {
            "id": pd.Series(id_values, dtype=object),
            "kind": pd.Series(np.full(n, kind, dtype=object), dtype=object),
            "score": pd.Series(column(score), dtype=np.float64),
            "suggestion": pd.Series(column(suggestion), dtype=object),
            "detail": pd.Series(column(detail), dtype=object),
        },
        columns=list(FINDING_COLUMNS),
    )
