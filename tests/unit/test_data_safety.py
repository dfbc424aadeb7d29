"""Serving the data core to a team: hostile or broken files get a short message naming the user's file,
row and field (never a traceback, never a server path); a failed import leaves nothing behind; names and
ids cannot hide characters; text from the data is shown as text in markdown and in charts."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from core.common.schema import KLUE_SCHEMA, MAX_DATASET_NAME, DataError, check_dataset_name
from core.data import importing, label_maps, loading, readers
from core.data.importing import import_dataset, import_uploaded
from core.serve import display
from core.store import workspace as workspace_module
from core.store.workspace import Workspace

HEADER = "id,sentence,subject_entity,object_entity,label,source\n"
SUBJ = "\"{'word': '이순신', 'start_idx': 0, 'end_idx': 2, 'type': 'PER'}\""
OBJ = "\"{'word': '1545년', 'start_idx': 4, 'end_idx': 8, 'type': 'DAT'}\""
SENTENCE = "이순신은 1545년에 태어났다."


def csv_rows(ids: list[str], label: str = "per:date_of_birth") -> str:
    return HEADER + "".join(f"{i},{SENTENCE},{SUBJ},{OBJ},{label},wikipedia\n" for i in ids)


def klue_record(guid: str) -> dict:
    return {
        "guid": guid,
        "sentence": SENTENCE,
        "subject_entity": {"word": "이순신", "start_idx": 0, "end_idx": 2, "type": "PER"},
        "object_entity": {"word": "1545년", "start_idx": 4, "end_idx": 8, "type": "DAT"},
        "label": "per:date_of_birth",
        "source": "wikipedia",
    }


def contents(ws: Workspace) -> tuple[list[str], list[str], list[str]]:
    """Datasets, stored files (temp files included) and dataset folders of a workspace."""
    files = sorted(p.name for p in (ws.root / "files").iterdir())
    folders = sorted(p.name for p in (ws.root / "datasets").iterdir())
    return [d.name for d in ws.datasets()], files, folders


@pytest.fixture
def train_csv(tmp_path) -> Path:
    path = tmp_path / "train.csv"
    labels = ["per:date_of_birth", "no_relation"] * 10
    path.write_text(
        HEADER + "".join(f"{i},{SENTENCE},{SUBJ},{OBJ},{lab},wikipedia\n" for i, lab in enumerate(labels)),
        encoding="utf-8",
    )
    return path


# -- nesting ----------------------------------------------------------------------------------------


DEEP = "[" * 10_000 + "]" * 10_000


def test_jsonl_line_nested_10000_deep_names_file_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    lines = [json.dumps(klue_record("a")), json.dumps(klue_record("b")), DEEP]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        loading.load_file(path, display_name="train.jsonl")
    assert str(err.value).startswith("train.jsonl line 3: nested too deep")


def test_jsonl_first_line_nested_too_deep(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"guid": ' + DEEP + "}\n" + json.dumps(klue_record("b")) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"^train\.jsonl line 1: nested too deep"):
        loading.load_file(path, display_name="train.jsonl")


def test_json_list_nested_too_deep_names_the_line(tmp_path):
    path = tmp_path / "train.json"
    records = [json.dumps(klue_record(str(i))) for i in range(3)]
    # Brackets inside strings do not count; the deep value is on line 5.
    records[1] = records[1].replace('"wikipedia"', '"[[[[{{{{"')
    path.write_text("[\n" + ",\n".join(records) + ',\n{"guid": "x",\n"sentence": ' + DEEP + "}\n]\n")
    with pytest.raises(DataError, match=r"^train\.json line 6: nested too deep"):
        loading.load_file(path, display_name="train.json")


def test_label_map_nested_too_deep(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text('{"no_relation": ' + DEEP + "}")
    with pytest.raises(DataError, match=r"labels\.json line 1: nested too deep"):
        label_maps.load_label_map(path, display_name="labels.json")


def test_tacred_type_that_is_a_list_is_a_row_problem(tmp_path):
    record = {
        "id": "t1",
        "token": ["Bill", "founded", "Microsoft"],
        "subj_start": 0,
        "subj_end": 0,
        "obj_start": 2,
        "obj_end": 2,
        "subj_type": ["PERSON"],  # unhashable: crashed the TACRED type sniffing
        "obj_type": "ORGANIZATION",
        "relation": "org:founded_by",
    }
    path = tmp_path / "tacred.json"
    path.write_text(json.dumps([record]))
    result = loading.load_file(path)
    assert [(r.row, r.field) for r in result.invalid] == [(1, "subj_type")]


# -- user's file names, never server paths ------------------------------------------------------------


def test_upload_messages_name_the_uploaded_file_not_the_temp_copy(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DataError) as err:
        import_uploaded(ws, "x", {"train": ("my data.csv", b"id,sentence\n1,hello\n")})
    message = str(err.value)
    assert message.startswith("my data.csv lacks the required column(s)"), message
    assert "restudio-upload" not in message and str(scratch) not in message
    # The temporary copy of the upload is gone too.
    assert list(scratch.iterdir()) == []


def test_upload_gold_messages_name_the_uploaded_gold_file(tmp_path, train_csv):
    ws = Workspace(tmp_path / "ws")
    test = csv_rows(["1", "2"], label="100").encode()
    with pytest.raises(DataError) as err:
        import_uploaded(
            ws,
            "x",
            {
                "train": ("train.csv", train_csv.read_bytes()),
                "test": ("test.csv", test),
                "gold": ("our gold.csv", b"id,label\n1,no_relation\n2,bogus\n"),
            },
        )
    assert str(err.value).startswith("our gold.csv: row 2, field label: unknown label 'bogus'"), str(err.value)


# -- huge headers -------------------------------------------------------------------------------------


def test_million_column_header_gets_a_short_message(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(",".join(f"column_number_{i}" for i in range(1_000_000)) + "\n1\n")
    with pytest.raises(DataError) as err:
        loading.load_file(path, display_name="train.csv")
    message = str(err.value)
    assert message.startswith("train.csv: header has 1,000,000 columns; expected at most 1,000"), message[:300]
    assert len(message) < 300


def test_unknown_columns_listing_is_capped(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text(",".join("x" * 500 + str(i) for i in range(900)) + "\n1\n")
    with pytest.raises(DataError) as err:
        loading.load_file(path, display_name="train.csv")
    message = str(err.value)
    assert "lacks the required column(s) id, sentence" in message
    assert "and 888 more" in message and len(message) < 1500, len(message)


# -- invisible and direction-changing characters ------------------------------------------------------


@pytest.mark.parametrize("char", ["\u200b", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\ufeff"])
def test_ids_with_invisible_characters_are_refused_per_row(tmp_path, char):
    path = tmp_path / "train.csv"
    path.write_text(csv_rows(["1", f"2{char}txt", "3"]), encoding="utf-8")
    result = loading.load_file(path, display_name="train.csv")
    assert result.frame["id"].tolist() == ["1", "3"]
    [problem] = result.invalid
    assert (problem.row, problem.field) == (2, "id")
    assert f"U+{ord(char):04X}" in problem.reason


def test_json_ids_with_bidi_override_are_refused(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps([klue_record("a"), klue_record("evil\u202egpj.exe")]))
    result = loading.load_file(path)
    assert [(r.row, r.field) for r in result.invalid] == [(2, "guid")]
    assert "U+202E" in result.invalid[0].reason


PAYLOAD = "![x](http://203.0.113.9/p.png) <img src=http://203.0.113.9/q.png> `tick"


def test_plain_and_visible_show_invisible_characters_as_codes():
    text = display.plain(PAYLOAD)
    # No markdown character is left bare: each has a backslash before it (drawn as the character), and
    # removing the backslashes gives the text back.
    assert re.findall(r"(?<!\\)[!\[\]()<>`:]", text) == []
    assert text.replace("\\", "") == PAYLOAD
    assert display.visible("ab\u202ecd\u200b") == "ab⟨U+202E⟩cd⟨U+200B⟩"
    assert display.plain("ann\u202e") == "ann⟨U\\+202E⟩"  # markdown draws "\+" as "+"
    assert display.chart_text("x\u2066y") == "x⟨U+2066⟩y"


# -- dataset names ------------------------------------------------------------------------------------


def test_dataset_name_length_limit_is_stated(tmp_path, train_csv):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DataError, match=f"at most {MAX_DATASET_NAME} characters; this one has 81"):
        import_dataset(ws, "n" * 81, train_csv)
    assert contents(ws) == ([], [], [])
    assert import_dataset(ws, "n" * 80, train_csv).dataset.name == "n" * 80


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u2067", "\ufeff"])
def test_dataset_name_with_hidden_character_is_refused(tmp_path, train_csv, char):
    ws = Workspace(tmp_path / "ws")
    with pytest.raises(DataError, match=f"invisible or direction-changing character.*U\\+{ord(char):04X}"):
        import_dataset(ws, f"team{char}copy", train_csv)
    assert contents(ws) == ([], [], [])


def test_dataset_name_with_line_break_is_refused():
    with pytest.raises(DataError, match="line break"):
        check_dataset_name("one\ntwo")
    assert check_dataset_name("  klue-re v1  ") == "klue-re v1"


def test_add_dataset_checks_the_name_too(tmp_path):
    with pytest.raises(DataError, match="at most 80"):
        Workspace(tmp_path).add_dataset("x" * 100, schema=KLUE_SCHEMA, parts={}, author="t")


# -- failed imports leave nothing ---------------------------------------------------------------------


def test_every_write_failure_leaves_nothing(tmp_path, train_csv, monkeypatch):
    """A copy cut short, a crash after some parts are written, a stored gold copy failing: each import
    fails and the workspace is as before (no dataset, no stored file, no temp file, no folder)."""
    test = tmp_path / "test.csv"
    test.write_text(csv_rows(["a", "b"], label="100"), encoding="utf-8")
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\na,no_relation\nb,no_relation\n")

    def half_copy(src, dst):
        Path(dst).write_bytes(Path(src).read_bytes()[:10])
        raise OSError(28, "No space left on device")

    ws = Workspace(tmp_path / "cut-short")
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", half_copy)
        with pytest.raises(OSError):
            import_dataset(ws, "x", train_csv)
    assert contents(ws) == ([], [], []), "a copy cut short left files"

    real_write = workspace_module.atomic_write_bytes
    calls: list[Path] = []

    def crash_on_third(path, data, **kw):
        calls.append(path)
        if len(calls) == 3:  # train.parquet and train_invalid.csv are written by now
            raise OSError(28, "No space left on device")
        real_write(path, data, **kw)

    ws = Workspace(tmp_path / "mid-write")
    with monkeypatch.context() as m:
        m.setattr(workspace_module, "atomic_write_bytes", crash_on_third)
        with pytest.raises(OSError):
            import_dataset(ws, "x", train_csv, test_path=test, gold_path=gold)
    assert len(calls) == 3
    assert contents(ws) == ([], [], []), "a crash after some parts were written left files"

    real_store = Workspace.store_file

    def fail_on_gold(self, source, **kw):
        if Path(source).name == "gold.csv":
            raise PermissionError(13, "Permission denied")
        return real_store(self, source, **kw)

    ws = Workspace(tmp_path / "gold-copy")
    with monkeypatch.context() as m:
        m.setattr(Workspace, "store_file", fail_on_gold)
        with pytest.raises(PermissionError):
            import_dataset(ws, "x", train_csv, test_path=test, gold_path=gold)
    assert contents(ws) == ([], [], []), "a failed gold copy left the train and test copies"


def test_crash_while_making_the_split_takes_the_dataset_back(tmp_path, train_csv, monkeypatch):
    ws = Workspace(tmp_path / "ws")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(importing, "create_split", interrupted)
    with pytest.raises(KeyboardInterrupt):
        import_dataset(ws, "x", train_csv)
    assert contents(ws) == ([], [], [])
    # The name is free again, and a retry stores everything once.
    monkeypatch.undo()
    report = import_dataset(ws, "x", train_csv)
    assert ws.split(report.dataset.id) is not None and len(contents(ws)[1]) == 1


def test_too_few_rows_for_a_split_imports_without_one_and_says_so(tmp_path):
    ws = Workspace(tmp_path / "ws")
    one = tmp_path / "one.csv"
    one.write_text(csv_rows(["1"]), encoding="utf-8")
    report = import_dataset(ws, "tiny", one)
    assert ws.split(report.dataset.id) is None
    assert report.notes and report.notes[0].startswith("No dev split was made: Too few labeled rows")


# -- text from the data, shown as text ----------------------------------------------------------------


def test_chart_labels_are_text_not_plotly_markup():
    dist = pd.DataFrame(
        {
            "value": ['<a href="http://203.0.113.9/">wiki</a>', "wikitree & co"],
            "train_count": [3, 1],
            "train_share": [0.75, 0.25],
        }
    )
    fig = display.distribution_figure(dist, "Source")
    labels = list(fig.data[0].x)
    assert labels == ['&lt;a href="http://203.0.113.9/"&gt;wiki&lt;/a&gt;', "wikitree &amp; co"]


def test_heatmap_labels_are_text():
    table = pd.DataFrame({"value": ["<b>x</b> | PER-<i>LOC</i>"], "train_count": [2]})
    fig = display.heatmap_figure(table)
    assert list(fig.data[0].y) == ["&lt;b&gt;x&lt;/b&gt;"] and list(fig.data[0].x) == ["PER-&lt;i&gt;LOC&lt;/i&gt;"]


def test_curve_legend_names_are_text():
    points = pd.DataFrame({"run": ["<a href='http://203.0.113.9'>r</a>"] * 2, "x": [1, 2], "value": [0.1, 0.2]})
    fig = display.curves_figure(points, title="F1", x_title="step")
    assert "<a" not in fig.data[0].name


def test_upload_name_is_cut_and_keeps_the_format():
    assert importing._upload_name(" <b>b</b> t.csv ") == "<b>b</b> t.csv"
    assert len(importing._upload_name("x" * 300 + ".json")) == 120
    assert importing._upload_suffix("x" * 300 + ".json") == ".json"
    assert importing._upload_suffix("weird.c\x00sv") == ".csv"


def test_message_file_names_are_cut(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("id,sentence\n1,x\n")
    with pytest.raises(DataError) as err:
        loading.load_file(path, display_name="n" * 5000 + ".csv")
    assert len(str(err.value)) < 400


def test_unreadable_file_message_does_not_repeat_the_server_path(tmp_path, monkeypatch):
    path = tmp_path / "secret-dir" / "t.csv"
    path.parent.mkdir()
    path.write_text(HEADER + "1,x,y,z,no_relation,w\n")

    def unreadable(source, **kwargs):
        # What pyarrow raises for a file that vanished or went unreadable between the checks and the read.
        raise FileNotFoundError(2, "No such file or directory", str(source))

    monkeypatch.setattr(readers.pcsv, "read_csv", unreadable)
    with pytest.raises(DataError) as err:
        loading.load_file(path, display_name="t.csv")
    assert str(err.value) == "t.csv could not be read: No such file or directory."
