"""Import data files into the workspace, and seed the demo dataset.

The view's upload form, the CLI's ``import`` and ``seed`` commands and the
tests all come through here, so a dataset is always stored the same way: the
original file copied read-only, the parsed frame as parquet, invalid rows kept
for download, and a default dev split.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core import loading
from core.schema import KLUE_SCHEMA, SCHEMAS, DataError, LabelSchema
from core.splits import create_split
from core.workspace import DatasetInfo, PartInfo, Workspace

DEMO_NAME = "demo (synthetic KLUE-RE)"
#: Largest upload the view accepts, in MB (also server.maxUploadSize in .streamlit/config.toml).
MAX_UPLOAD_MB = 200


@dataclass(frozen=True)
class ImportReport:
    dataset: DatasetInfo
    results: dict[str, loading.LoadResult]

    @property
    def n_invalid(self) -> int:
        return sum(len({r.row for r in res.invalid}) for res in self.results.values())


def _attach_gold(result: loading.LoadResult, gold_path: str | os.PathLike[str]) -> pd.DataFrame:
    """Fill an unlabeled test frame's labels from a gold file; every test id must be covered."""
    gold = loading.load_gold(gold_path, schema=result.schema)
    frame = result.frame.copy()
    labels = frame["id"].astype(str).map(gold)
    missing = frame.loc[labels.isna(), "id"].tolist()
    if missing:
        raise DataError(
            f"{Path(gold_path).name}: no gold label for test id(s) {missing[:5]}"
            f"{' and more' if len(missing) > 5 else ''}."
        )
    frame["label"] = labels.astype(frame["label"].dtype)
    return frame


def import_dataset(
    workspace: Workspace,
    name: str,
    train_path: str | os.PathLike[str],
    *,
    test_path: str | os.PathLike[str] | None = None,
    gold_path: str | os.PathLike[str] | None = None,
    fmt: str = "auto",
    schema_name: str = "klue",
    label_map_path: str | os.PathLike[str] | None = None,
    encoding: str | None = None,
    original_names: dict[str, str] | None = None,
    author: str = "unknown",
    dev_fraction: float = 0.1,
    seed: int = 42,
) -> ImportReport:
    """Load the files, store them in the workspace and make the default dev split.

    Raises :class:`DataError` when a file cannot be read at all or holds no
    valid row; rows that fail validation are kept in the report (and the
    workspace) instead.
    """
    if schema_name not in SCHEMAS:
        raise DataError(f"Unknown label schema {schema_name!r}; choose one of {sorted(SCHEMAS)}.")
    schema: LabelSchema = SCHEMAS[schema_name]
    label_map = loading.load_label_map(label_map_path) if label_map_path else None
    if label_map:
        schema = schema.with_labels(tuple(sorted(label_map, key=label_map.__getitem__)))
    names = original_names or {}
    name = name.strip()
    # Refuse a taken name before anything is parsed or stored: a retry must not leave copies behind.
    if not name:
        raise DataError("A dataset needs a name.")
    if any(d.name == name for d in workspace.datasets()):
        raise DataError(f"A dataset named {name!r} already exists in this workspace; pick another name.")
    results: dict[str, loading.LoadResult] = {}
    loaded: dict[str, tuple[Path, str, pd.DataFrame]] = {}
    # Parse and check every file first; only a dataset that can be added is stored.
    for part, path in (("train", train_path), ("test", test_path)):
        if path is None:
            continue
        result = loading.load_file(path, fmt=fmt, schema=schema, label_map=label_map, encoding=encoding)
        display_name = names.get(part, Path(path).name)
        if result.frame.empty:
            raise DataError(
                f"{display_name}: no valid row ({len(result.invalid)} problems; first: "
                f"{result.invalid[0].reason if result.invalid else 'empty file'})."
            )
        schema = result.schema
        frame = result.frame
        if part == "test" and gold_path is not None:
            frame = _attach_gold(result, gold_path)
        loaded[part] = (Path(path), display_name, frame)
        results[part] = result
    created: list[Path] = []
    try:
        parts: dict[str, tuple[PartInfo, pd.DataFrame, pd.DataFrame]] = {}
        for part, (path, display_name, frame) in loaded.items():
            result = results[part]
            stored, digest = workspace.store_file(path, name=display_name, created=created)
            gold_stored = None
            if part == "test" and gold_path is not None:
                gold_name = names.get("gold", Path(gold_path).name)
                gold_stored = str(workspace.store_file(gold_path, name=gold_name, created=created)[0])
            info = PartInfo(
                part=part,
                fmt=result.fmt,
                original_name=display_name,
                stored_path=str(stored),
                sha256=digest,
                n_records=result.n_records,
                n_rows=len(frame),
                n_invalid=len({r.row for r in result.invalid}),
                labeled=bool(frame["label"].notna().any()),
                gold_path=gold_stored,
            )
            parts[part] = (info, frame, result.invalid_frame())
        dataset = workspace.add_dataset(name, schema=schema, parts=parts, author=author)
    except BaseException:
        # Remove only the copies this import wrote: an identical file another dataset uses stays.
        for copy in created:
            copy.unlink(missing_ok=True)
        raise
    if parts["train"][0].labeled:
        create_split(workspace, dataset.id, dev_fraction=dev_fraction, seed=seed, author=author)
    return ImportReport(dataset, results)


def import_uploaded(
    workspace: Workspace,
    name: str,
    files: dict[str, tuple[str, bytes]],
    **options: object,
) -> ImportReport:
    """Import files given as (file name, bytes), as the view's upload form has them."""
    for fname, data in files.values():
        if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
            raise DataError(f"{fname}: {len(data) / 1e6:.0f} MB is over the {MAX_UPLOAD_MB} MB upload limit.")
    with tempfile.TemporaryDirectory(prefix="restudio-upload-") as tmp:
        paths = {}
        for part, (fname, data) in files.items():
            target = Path(tmp) / f"{part}{Path(fname).suffix.lower() or '.csv'}"
            target.write_bytes(data)
            paths[part] = target
        if "train" not in paths:
            raise DataError("Upload a train file (the test file and gold labels are optional).")
        return import_dataset(
            workspace,
            name,
            paths["train"],
            test_path=paths.get("test"),
            gold_path=paths.get("gold"),
            original_names={part: fname for part, (fname, _) in files.items()},
            **options,  # type: ignore[arg-type]
        )


def seed_demo(workspace: Workspace, *, seed: int = 13, author: str = "RE Studio") -> DatasetInfo:
    """Make sure the demo dataset is in the workspace (generated once, then reused)."""
    for info in workspace.datasets():
        if info.name == DEMO_NAME:
            return info
    from core.demo import write_demo_dataset  # only needed on a fresh workspace

    source = workspace.root / "demo-source"
    write_demo_dataset(source, seed=seed)
    report = import_dataset(
        workspace,
        DEMO_NAME,
        source / "train.csv",
        test_path=source / "test.csv",
        gold_path=source / "test_gold.csv",
        schema_name=KLUE_SCHEMA.name,
        author=author,
    )
    return report.dataset
