"""AppTest: the Train page's backbone catalog, building a tiny backbone of a family, the TAPT form (a job
that waits in the queue), and a finished TAPT job's "Fine-tune from it" and "Re-run with edits"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core import jobs
from core.data.importing import seed_demo
from core.store import backbones
from core.store.workspace import Workspace
from core.train import catalog

pytestmark = pytest.mark.apptest


def shown(element) -> str:
    """An element's text without the markdown escapes the view adds to names (display.plain)."""
    return element.value.replace("\\", "")


def table_with(at, column: str):
    """The table that has ``column`` (AppTest does not expose a plain st.dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture
def backbone_app(tmp_path, make_app, monkeypatch):
    """A returning user's workspace: the demo, one tiny RoBERTa build and one finished TAPT job with its backbone."""
    monkeypatch.setenv("RESTUDIO_MAX_CPU_JOBS", "0")  # no CPU slot: submitted jobs stay queued
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # an empty cache, not the machine's
    home = tmp_path / "ws"
    demo = seed_demo(Workspace(home))
    built = catalog.build_tiny(home, "roberta", dataset=demo.name, vocab_size=700, hidden=32)
    # A TAPT job as the job system leaves it: its run summary names the backbone it published.
    store = jobs.JobStore(home)
    config = {"dataset": demo.name, "model": built.path, "input_format": "entity_marker", "max_steps": 5}
    job = store.create(name="tapt done", command=jobs.training_command(verb="tapt"), kind="tapt", config=config)
    tapt_dir = backbones.backbones_root(home) / f"tapt-job{job.id}"
    staging = backbones.staging_dir(home, tapt_dir.name)
    for item in Path(built.path).iterdir():
        (staging / item.name).write_bytes(item.read_bytes())
    backbones.write_meta(
        staging,
        {
            "kind": "tapt",
            "base_model": built.path,
            "dataset": demo.name,
            "dataset_revision": 0,
            "job_id": job.id,
            "status": "succeeded",
            "steps": 5,
            "max_steps": 5,
            "created_at": "2026-12-03T00:00:00+00:00",
        },
    )
    backbones.publish(staging, home, tapt_dir.name)
    run = Path(job.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    (run / "summary.json").write_text(
        json.dumps({"status": "succeeded", "backbone_dir": str(tapt_dir), "backbone_name": tapt_dir.name})
    )
    store.transition(job.id, "running", expect={"queued"})
    store.transition(job.id, "succeeded", expect={"running"})
    at = make_app(home)
    at.switch_page("views/train.py").run()
    assert not at.exception, at.exception
    return at, home, built, tapt_dir, job


def test_the_catalog_lists_tiny_and_the_workspace_backbones(backbone_app):
    at, _home, built, tapt_dir, job = backbone_app
    table = table_with(at, "what it is")
    assert table["backbone"].tolist()[0] == "tiny"
    rows = table.set_index("backbone")
    assert rows.loc[built.name, "family"] == "roberta" and rows.loc[built.name, "source"] == "workspace"
    assert f"job #{job.id}" in rows.loc[tapt_dir.name, "what it is"]
    options = at.selectbox(key="cfg_model").options
    assert options[0].startswith("tiny") and any(tapt_dir.name in o for o in options)


def test_build_a_tiny_backbone_of_a_family(backbone_app):
    at, home, *_ = backbone_app
    at.selectbox(key="tiny_family").set_value("electra")
    at.button(key="tiny_build").click().run()
    assert not at.exception, at.exception
    names = [b.name for b in backbones.list_backbones(home)]
    assert any(name.startswith("tiny-electra-") for name in names)
    assert any("tiny-electra-" in shown(s) for s in at.success), [s.value for s in at.success]
    assert any(name.startswith("tiny-electra-") for name in table_with(at, "what it is")["backbone"])


def test_submit_a_tapt_job_from_the_form(backbone_app):
    at, home, built, _tapt_dir, _job = backbone_app
    at.session_state["tapt_model"] = built.path
    at.run()
    at.text_input(key="tapt_job_name").set_value("tapt from form")
    at.number_input(key="tapt_max_steps").set_value(7)
    at.button(key="tapt_submit").click().run()
    assert not at.exception, at.exception
    job = jobs.JobStore(home).list_jobs()[-1]
    assert job.kind == "tapt" and job.name == "tapt from form" and job.status == "queued"
    assert job.config["model"] == built.path and job.config["max_steps"] == 7
    assert job.command[3] == "tapt"
    table = table_with(at, "ETA")
    row = table[table["id"] == job.id].iloc[0]
    assert row["model"] == built.name and row["format"].startswith("TAPT")


def test_a_bad_tapt_option_is_refused_before_a_job_exists(backbone_app):
    at, home, *_ = backbone_app
    before = len(jobs.JobStore(home).list_jobs())
    at.number_input(key="tapt_mlm_probability").set_value(0.0)
    at.button(key="tapt_submit").click().run()
    assert any("mlm_probability must be between 0 and 1" in shown(e) for e in at.error), [e.value for e in at.error]
    assert len(jobs.JobStore(home).list_jobs()) == before


def test_fine_tune_from_a_finished_tapt_job_and_rerun_it(backbone_app):
    at, _home, _built, tapt_dir, job = backbone_app
    at.session_state["train_notice"] = job.id  # as after submitting it in this session
    at.selectbox(key="train_detail").set_value(job.id).run()
    assert any(f"backbone {tapt_dir.name} is in the model list" in shown(s) for s in at.success)
    at.button(key=f"finetune_{job.id}").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="cfg_model").value == str(tapt_dir)
    assert at.selectbox(key="cfg_input_format").value == "entity_marker"  # the markers it has seen

    at.selectbox(key="train_detail").set_value(job.id).run()
    at.button(key=f"rerun_{job.id}").click().run()
    assert not at.exception, at.exception
    assert at.number_input(key="tapt_max_steps").value == 5
    assert at.selectbox(key="tapt_input_format").value == "entity_marker"
