"""Uploaded ensemble files: per-session folders swept when their session is gone or a day old
(:func:`core.analysis.ensemble_uploads.stale_upload_folders` decides,
:func:`core.analysis.ensemble_uploads.sweep_upload_folders` deletes),
and messages / recipes that name an upload by its own file name, never by the server path it was saved
under (:attr:`core.analysis.ensemble_members.MemberSet.shown_as`)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest

from core.analysis import ensemble_export, ensemble_members, ensemble_uploads
from core.common.schema import KLUE_SCHEMA, DataError
from core.train.metrics import write_submission

DAY = 24 * 3600
NOW = 1_900_000_000.0


def name(session: str) -> str:
    return ensemble_uploads.session_folder_name(session)


# -- deciding (pure) ---------------------------------------------------------------------------------


def test_folders_of_ended_sessions_go_and_live_ones_stay():
    folders = {name("alive"): NOW - 60, name("ended"): NOW - 60, name("reconnecting"): NOW - 3600}
    gone = ensemble_uploads.stale_upload_folders(folders, {"alive", "reconnecting", "no-folder"}, now=NOW)
    assert gone == [name("ended")]


def test_a_day_old_folder_goes_even_when_its_session_seems_alive():
    folders = {name("a"): NOW - DAY - 1, name("b"): NOW - DAY + 60}
    assert ensemble_uploads.stale_upload_folders(folders, {"a", "b"}, now=NOW) == [name("a")]
    assert ensemble_uploads.stale_upload_folders(folders, {"a", "b"}, now=NOW, max_age_s=30) == sorted(folders)


def test_unknown_sessions_leave_age_alone_to_decide():
    folders = {name("a"): NOW - 10, name("b"): NOW - 2 * DAY}
    assert ensemble_uploads.stale_upload_folders(folders, None, now=NOW) == [name("b")]
    # Known to be none: every folder's session has ended.
    assert ensemble_uploads.stale_upload_folders(folders, set(), now=NOW) == sorted(folders)
    assert ensemble_uploads.stale_upload_folders({}, set(), now=NOW) == []


@pytest.mark.parametrize("session", ["../../etc", "a/b", "", "x" * 500, "ü\x00"])
def test_any_session_id_makes_one_safe_folder_name(session):
    folder = name(session)
    assert folder.startswith("s-") and len(folder) == 34
    assert all(c.isalnum() or c == "-" for c in folder)
    assert name(session) == folder and name(session + "1") != folder


# -- deleting ------------------------------------------------------------------------------------------


def _touch_tree(folder: Path, when: float) -> None:
    for current, dirs, files in os.walk(folder):
        for item in (*dirs, *files):
            os.utime(os.path.join(current, item), (when, when))
    os.utime(folder, (when, when))


def test_sweep_deletes_ended_and_old_session_folders_only(tmp_path):
    root = tmp_path / "uploads"
    alive = ensemble_uploads.session_upload_dir("alive", root=root)
    ended = ensemble_uploads.session_upload_dir("ended", root=root)
    old = ensemble_uploads.session_upload_dir("old", root=root)
    for folder in (alive, ended, old):
        (folder / "dev").mkdir()
        (folder / "dev" / "000.csv").write_text("id,pred_label,probs\n")
    _touch_tree(old, NOW - 2 * DAY)
    # A file changed recently keeps an old folder (a session still using it).
    _touch_tree(alive, NOW - 2 * DAY)
    os.utime(alive / "dev" / "000.csv", (NOW - 5, NOW - 5))
    other = root / "not-a-session-folder"
    other.mkdir()
    _touch_tree(other, NOW - 9 * DAY)
    (root / "s-file").write_text("a file, not a folder")

    gone = ensemble_uploads.sweep_upload_folders({"alive", "old"}, root=root, now=NOW)
    assert sorted(gone) == sorted([ended, old])
    assert alive.is_dir() and not ended.exists() and not old.exists()
    assert other.is_dir() and (root / "s-file").is_file()  # only session folders are ever touched
    assert ensemble_uploads.sweep_upload_folders({"alive"}, root=root, now=NOW) == []  # nothing left to do
    assert ensemble_uploads.sweep_upload_folders(None, root=tmp_path / "missing", now=NOW) == []


def test_sweep_never_follows_a_link(tmp_path):
    root = tmp_path / "uploads"
    root.mkdir()
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep")
    (root / name("ended")).symlink_to(precious, target_is_directory=True)
    assert ensemble_uploads.sweep_upload_folders(set(), root=root, now=NOW) == []
    assert (precious / "keep.txt").read_text() == "keep"


def test_session_folders_are_private_and_a_linked_root_is_refused(tmp_path):
    folder = ensemble_uploads.session_upload_dir("abc", root=tmp_path / "uploads")
    assert folder.parent == tmp_path / "uploads" and folder.name == name("abc")
    assert (folder.stat().st_mode & 0o777) == 0o700 and ((tmp_path / "uploads").stat().st_mode & 0o777) == 0o700
    assert ensemble_uploads.session_upload_dir("abc", root=tmp_path / "uploads") == folder  # made once, reused
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "linked").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OSError, match="not a private folder"):
        ensemble_uploads.session_upload_dir("abc", root=tmp_path / "linked")
    assert not any(elsewhere.iterdir())


def test_the_default_root_is_per_user_in_the_temp_folder(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = ensemble_uploads.upload_root()
    assert root.parent == tmp_path and root.name.startswith("restudio-ensemble-uploads-")


# -- uploads named by their own name -------------------------------------------------------------------


LABELS = KLUE_SCHEMA.labels


def _write_member(path: Path, ids: list[str], seed: int) -> Path:
    probs = np.random.default_rng(seed).dirichlet(np.ones(len(LABELS)), size=len(ids))
    write_submission(path, ids, probs, label_names=LABELS)
    return path


@pytest.fixture
def saved(tmp_path) -> dict[str, Path]:
    """Files as the view saves uploads: numbered names in a server folder."""
    folder = tmp_path / "server-temp" / "s-0123"
    for sub in ("dev", "test", "gold"):
        (folder / sub).mkdir(parents=True)
    ids = [f"r{i}" for i in range(20)]
    gold = folder / "gold" / "000.csv"
    gold.write_text("id,label\n" + "".join(f"{i},{LABELS[k % 3]}\n" for k, i in enumerate(ids)), encoding="utf-8")
    return {
        "gold": gold,
        "dev0": _write_member(folder / "dev" / "000.csv", ids, 0),
        "dev1": _write_member(folder / "dev" / "001.csv", ids, 1),
        "test0": _write_member(folder / "test" / "000.csv", [f"t{i}" for i in range(5)], 2),
        "test1": folder / "test" / "001.csv",
    }


def test_a_corrupt_upload_is_named_by_its_own_name(saved):
    saved["dev1"].write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00garbage")
    shown = {saved["dev0"]: "alpha.csv", saved["dev1"]: "![x](http://203.0.113.9/p.png).csv", saved["gold"]: "g.csv"}
    with pytest.raises(DataError) as info:
        ensemble_members.members_from_files([saved["dev0"], saved["dev1"]], saved["gold"], shown_as=shown)
    text = str(info.value)
    assert text.startswith("![x](http://203.0.113.9/p.png).csv is not UTF-8"), text
    assert "server-temp" not in text and "001.csv" not in text


def test_a_short_upload_names_both_files_by_their_own_names(saved):
    saved["dev1"].write_text(saved["dev1"].read_text(encoding="utf-8").rsplit("\n", 3)[0] + "\n", encoding="utf-8")
    shown = {saved["dev0"]: "alpha.csv", saved["dev1"]: "beta.csv", saved["gold"]: "gold labels.csv"}
    with pytest.raises(DataError, match=r"^beta\.csv does not predict the same rows as gold labels\.csv") as info:
        ensemble_members.members_from_files([saved["dev0"], saved["dev1"]], saved["gold"], shown_as=shown)
    assert "server-temp" not in str(info.value)


def test_export_errors_and_the_recipe_name_uploads_by_their_own_names(saved):
    saved["test1"].write_text("id,pred_label,probs\n", encoding="utf-8")
    shown = {
        saved["dev0"]: "alpha.csv",
        saved["dev1"]: "beta.csv",
        saved["gold"]: "gold.csv",
        saved["test0"]: "alpha test.csv",
        saved["test1"]: "beta test.csv",
    }
    members = ensemble_members.members_from_files(
        [saved["dev0"], saved["dev1"]],
        saved["gold"],
        names=["alpha", "beta"],
        test_paths=[saved["test0"], saved["test1"]],
        shown_as=shown,
    )
    recipe = ensemble_export.recipe(members, method="soft", weights=[1, 1])
    assert [(m["dev_predictions"], m["test_predictions"]) for m in recipe["members"]] == [
        ("alpha.csv", "alpha test.csv"),
        ("beta.csv", "beta test.csv"),
    ]
    with pytest.raises(DataError, match=r"^beta test\.csv has a header line but no data rows") as info:
        ensemble_export.export_test(members, method="soft", weights=[1, 1], out=io.StringIO())
    assert "server-temp" not in str(info.value)
    # Files given by path (the command line) keep their paths.
    plain = ensemble_members.members_from_files([saved["dev0"]], saved["gold"])
    plain_recipe = ensemble_export.recipe(plain, method="soft", weights=[1])
    assert plain_recipe["members"][0]["dev_predictions"] == str(saved["dev0"])
