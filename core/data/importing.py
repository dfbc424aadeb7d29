"""Import data files into the workspace, and seed the demo dataset.

The view's upload form, the CLI's ``import`` and ``seed`` commands and the
tests all come through here, so a dataset is always stored the same way: the
original file copied read-only, the parsed frame as parquet, invalid rows kept
for download, and a default dev split.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.common.schema import KLUE_SCHEMA, SCHEMAS, DataError, LabelSchema, check_dataset_name
from core.data import loading
from core.data.label_maps import load_label_map
from core.data.splits import create_split
from core.data.validation import LoadResult
from core.store.workspace import DatasetInfo, PartInfo, Workspace

DEMO_NAME = "demo (synthetic KLUE-RE)"
#: Largest upload the view accepts, in MB (also server.maxUploadSize in .streamlit/config.toml).
MAX_UPLOAD_MB = 200


@dataclass(frozen=True)
class ImportReport:
    dataset: DatasetInfo
    results: dict[str, LoadResult]
    #: What the import decided on the user's behalf (e.g. no dev split: too few labeled rows).
    notes: tuple[str, ...] = ()

    @property
    def n_invalid(self) -> int:
        return sum(len({r.row for r in res.invalid}) for res in self.results.values())


def _attach_gold(result: LoadResult, gold_path: str | os.PathLike[str], gold_name: str) -> pd.DataFrame:
    """Fill an unlabeled test frame's labels from a gold file; every test id must be covered."""
    gold = loading.load_gold(gold_path, schema=result.schema, display_name=gold_name)
    frame = result.frame.copy()
    labels = frame["id"].astype(str).map(gold)
    missing = frame.loc[labels.isna(), "id"].tolist()
    if missing:
        raise DataError(
            f"{gold_name}: no gold label for test id(s) {missing[:5]}{' and more' if len(missing) > 5 else ''}."
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
    names = original_names or {}
    label_map = load_label_map(label_map_path, display_name=names.get("label_map")) if label_map_path else None
    if label_map:
        schema = schema.with_labels(tuple(sorted(label_map, key=label_map.__getitem__)))
    # Refuse a bad or taken name before anything is parsed or stored: a retry must not leave copies behind.
    name = check_dataset_name(name)
    if any(d.name == name for d in workspace.datasets()):
        raise DataError(f"A dataset named {name!r} already exists in this workspace; pick another name.")
    results: dict[str, LoadResult] = {}
    loaded: dict[str, tuple[Path, str, pd.DataFrame]] = {}
    # Parse and check every file first; only a dataset that can be added is stored.
    for part, path in (("train", train_path), ("test", test_path)):
        if path is None:
            continue
        # Messages name the file as the user knows it (an upload's own name, not the server's temp copy).
        display_name = names.get(part) or os.fspath(path)
        result = loading.load_file(
            path, fmt=fmt, schema=schema, label_map=label_map, encoding=encoding, display_name=display_name
        )
        if result.frame.empty:
            raise DataError(
                f"{display_name}: no valid row ({len(result.invalid)} problems; first: "
                f"{result.invalid[0].reason if result.invalid else 'empty file'})."
            )
        schema = result.schema
        frame = result.frame
        if part == "test" and gold_path is not None:
            frame = _attach_gold(result, gold_path, names.get("gold") or os.fspath(gold_path))
        # Stored as the user named it (an upload's name may hold a '/', as in '<b>x</b>'), else the base name.
        loaded[part] = (Path(path), names.get(part) or Path(path).name, frame)
        results[part] = result
    created: list[Path] = []
    dataset: DatasetInfo | None = None
    try:
        parts: dict[str, tuple[PartInfo, pd.DataFrame, pd.DataFrame]] = {}
        for part, (path, display_name, frame) in loaded.items():
            result = results[part]
            stored, digest = workspace.store_file(path, name=display_name, created=created)
            gold_stored = None
            if part == "test" and gold_path is not None:
                gold_name = names.get("gold") or Path(gold_path).name
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
        notes: list[str] = []
        if parts["train"][0].labeled:
            try:
                create_split(workspace, dataset.id, dev_fraction=dev_fraction, seed=seed, author=author)
            except ValueError as exc:
                # Too few labeled rows for a stratified split: the data itself imported fine, and the
                # Data view can make a split later (the Train view asks for one).
                notes.append(f"No dev split was made: {exc}")
    except BaseException:
        # Anything that fails (or is interrupted) after files were written takes the import back whole:
        # the dataset it added, then only the copies this import wrote (an identical file another
        # dataset uses stays).
        if dataset is not None:
            workspace.remove_new_dataset(dataset.id)
        for copy in created:
            copy.unlink(missing_ok=True)
        raise
    return ImportReport(dataset, results, tuple(notes))


def import_uploaded(
    workspace: Workspace,
    name: str,
    files: dict[str, tuple[str, bytes]],
    **options: object,
) -> ImportReport:
    """Import files given as (file name, bytes), as the view's upload form has them.

    The bytes go to a temporary folder that is removed whatever happens; messages and the stored
    copy use the uploaded file's own name (cut to 120 characters), never the temporary path.
    """
    # The suffix (which picks the format) from the full name, before a long name is cut.
    suffixes = {part: _upload_suffix(fname) for part, (fname, _) in files.items()}
    files = {part: (_upload_name(fname), data) for part, (fname, data) in files.items()}
    for fname, data in files.values():
        if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
            raise DataError(f"{fname}: {len(data) / 1e6:.0f} MB is over the {MAX_UPLOAD_MB} MB upload limit.")
    with tempfile.TemporaryDirectory(prefix="restudio-upload-") as tmp:
        paths = {}
        for part, (_, data) in files.items():
            target = Path(tmp) / f"{part}{suffixes[part]}"
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


def _upload_suffix(fname: str) -> str:
    """The extension the temporary copy gets (it picks the format): a plain one, else ``.csv``."""
    suffix = Path(fname).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,9}", suffix) else ".csv"


def _upload_name(fname: str) -> str:
    """An uploaded file's name as messages show it: as the browser sent it (a '/' in it is part of the
    name, as in ``<b>x</b>.csv``, not a folder), cut to 120 characters."""
    name = fname.strip() or "upload"
    return name if len(name) <= 120 else name[:117] + "..."


def seed_demo(workspace: Workspace, *, seed: int = 13, author: str = "RE Studio") -> DatasetInfo:
    """Make sure the demo dataset is in the workspace (generated once, then reused)."""
    for info in workspace.datasets():
        if info.name == DEMO_NAME:
            return info
    from core.data.demo import write_demo_dataset  # only needed on a fresh workspace

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
