"""Benchmark: the Data view's Overview on a KLUE-size dataset, previous code path against the current one.

Dataset: :func:`core.data.demo.write_large_csv` train (32,470 rows, seed 13) and test (7,765 rows, seed 14)
imported with :func:`core.data.importing.import_dataset` (which makes the default dev split), then
``--corrections`` corrections in four change sets (relabel, subject type, object span, drop), as a
team's bulk fixes leave them.

Baseline: the previous code path, put back in its own process by :func:`install_reference`:
``Workspace.current_frame`` replaying the audit log with a ``json.loads`` per value, the audit's
distribution tables built with pandas, and ``views.common`` caching frames and the audit with
``st.cache_data`` (a pickled copy per run) while the audit rebuilt both frames, building the Overview's
figures and the row-version map on every run, and leaving the startup heap to every post-run garbage
collection. Candidate: the code as it is. Both sides import the same modules before any timing starts.

Three measurements; each interleaves baseline and candidate (A B, B A, A B ...) and reports the median
of the paired ratios (candidate / baseline, below 1 is faster), so machine load hits both alike:

``functions`` (this process)
    ``frames``: both parts' current frames in a fresh ``Workspace`` (a fresh server's first read);
    ``audit``: the full audit of those frames; ``per_run``: what every run of every session pays, once
    the caches are warm, for the Overview's data: both frames, the audit, the row-version map and the
    seven figures.
``apptest`` (a fresh process per sample, ``streamlit.testing.v1.AppTest`` running ``app.py``)
    ``cold``: the first run in the process (the page's own imports, frames, audit, charts);
    ``new_session``: a second session's first run; ``rerun``: that session's next run;
    ``post_run_gc``: then one ``gc.collect()``, what Streamlit runs after every script run.
``browser`` (``streamlit run`` and headless chromium, one fresh server per sample)
    ``cold_server``: server start to the Overview's charts drawn; ``cold_first_request``: from the first
    page request; ``new_session``: a second browser context (no shared cache), request to charts drawn;
    ``*_browser_after_server``: of those, the time after the server's last websocket message (the
    browser's own work: loading plotly.js and drawing). ``server_ready``: start to the health check;
    ``new_tab``: a third session, a new tab of the first context (its HTTP cache holds plotly.js).
    ``floor_new_session``: a new browser session on a Streamlit page holding only a title (the part
    of ``new_session`` that is Streamlit and chromium, not this app).

The targets are absolute, cold under 3 s and a new session under 1 s (candidate medians), checked on
the AppTest timing (``target_met``); the browser's figures are checked beside it
(``browser_target_met``), where the floor alone can exceed 1 s.

Timings depend heavily on machine load: ``load_avg`` (1, 5, 15 minutes, before and after) and the CPU
count are in the output.

Usage::

    .venv/bin/python bench/data_view.py
    .venv/bin/python bench/data_view.py --repeat 3 --browser-repeat 1 --corrections 0

Prints one JSON object on stdout; progress goes to stderr. Exits 1 when ``target_met`` is false.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TARGETS = {"cold_server_s": 3.0, "new_session_s": 1.0}
#: Modules both sides import before timing starts (what :func:`install_reference` needs), so the
#: baseline's set-up does not hide import time from its first run.
PREIMPORT = ("views.common", "core.store.workspace", "core.data.audit")
SIDES = ("baseline", "candidate")


def log(message: str) -> None:
    print(f"[data_view bench] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------------
# The previous code path (verbatim; tests/unit/test_frame_cache.py and test_audit_distribution.py hold
# the same references and prove the current code gives equal results)
# ----------------------------------------------------------------------------------------------------


def reference_corrections(ws: Any, dataset_id: int, part: str | None = None) -> Any:
    """``Workspace.corrections`` before the one-call JSON decode."""
    import pandas as pd

    from core.store import database

    query = (
        "SELECT c.id, c.change_id, c.part, c.row_id, c.field, c.before, c.after, c.reason, c.author,"
        " c.created_at, c.row_version, s.undoes FROM corrections c JOIN change_sets s ON s.id = c.change_id"
        " WHERE c.dataset_id = ?"
    )
    params: list[Any] = [dataset_id]
    if part is not None:
        query += " AND c.part = ?"
        params.append(part)
    with database.connect(ws.db_path) as con:
        frame = pd.read_sql_query(query + " ORDER BY c.id", con, params=params)
    for col in ("before", "after"):
        frame[col] = [None if v is None else json.loads(v) for v in frame[col]]
    return frame


def reference_current_frame(ws: Any, dataset_id: int, part: str = "train", *, include_dropped: bool = False) -> Any:
    """``Workspace.current_frame`` before the on-disk cache: the audit log replayed on every call."""
    import pandas as pd

    from core.common.schema import INT_FIELDS, DataError
    from core.store.workspace import DROPPED

    frame = ws.base_frame(dataset_id, part).copy()
    log = reference_corrections(ws, dataset_id, part)
    frame["_version"] = 0
    frame["_dropped"] = False
    if not log.empty:
        latest = log.groupby(["row_id", "field"], sort=False).tail(1)
        position = pd.Series(range(len(frame)), index=frame["id"].astype(str))
        for fld, group in latest.groupby("field"):
            rows = position.reindex(group["row_id"]).to_numpy()
            known = ~pd.isna(rows)
            if not known.all():
                missing = group["row_id"][~known].tolist()[:5]
                raise DataError(f"Audit log of dataset {dataset_id} names unknown row ids {missing}.")
            column = "_dropped" if fld == DROPPED else str(fld)
            values = pd.Series(group["after"].tolist(), dtype=frame[column].dtype if column != "label" else None)
            frame.loc[frame.index[rows.astype(int)], column] = values.to_numpy()
        versions = log.groupby("row_id")["row_version"].max()
        frame["_version"] = frame["id"].map(versions).fillna(0).astype("int64")
        for col in INT_FIELDS & set(frame.columns):
            frame[col] = frame[col].astype("int64")
    if not include_dropped:
        frame = frame[~frame["_dropped"].astype(bool)].drop(columns="_dropped")
    return frame.reset_index(drop=True)


def reference_distribution(name: str, train: Any, test: Any, schema: Any) -> Any:
    """``core.data.audit_distributions.distribution`` before it was written in plain Python."""
    import numpy as np
    import pandas as pd

    from core.data.audit_distributions import DISTRIBUTION_COLUMNS, length_label

    index = pd.Index([], dtype=object)
    for counts in (train, test):
        if counts is not None:
            index = index.union(counts.index, sort=False)
    if name == "label":
        index = index.union(pd.Index(list(schema.labels), dtype=object), sort=False)
    if name == "sentence_length" and len(index):
        index = pd.Index(range(int(index.max()) + 1))
    frame = pd.DataFrame(index=index)
    for side, counts in (("train", train), ("test", test)):
        if counts is None:
            frame[f"{side}_count"] = np.zeros(len(index), dtype=np.int64)
            frame[f"{side}_share"] = np.nan
            continue
        aligned = counts.reindex(index, fill_value=0).astype(np.int64)
        total = int(aligned.sum())
        frame[f"{side}_count"] = aligned.to_numpy()
        frame[f"{side}_share"] = aligned.to_numpy() / total if total else np.nan
    if name == "sentence_length":
        frame = frame.sort_index()
        values = [length_label(int(i)) for i in frame.index]
    else:
        frame = frame.assign(_name=frame.index.astype(str)).sort_values(
            ["train_count", "test_count", "_name"], ascending=[False, False, True], kind="stable"
        )
        frame = frame.drop(columns="_name")
        values = [str(v) for v in frame.index]
    frame.insert(0, "value", pd.Series(values, index=frame.index, dtype=object))
    return frame.reset_index(drop=True)[list(DISTRIBUTION_COLUMNS)]


def reference_view_caches() -> dict[str, Callable[..., Any]]:
    """``views.common``'s helpers as the Data view had them: frames and the audit through
    ``st.cache_data`` (pickled per hit), the audit reading both frames from the workspace again, the
    Overview's figures built on every run, the row-version map rebuilt on every run."""
    import streamlit as st

    from core.data import audit as audit_core
    from core.serve import display
    from views import common

    @st.cache_data(max_entries=16, show_spinner=False)
    def current_frame(root: str, dataset_id: int, part: str, revision: int, include_dropped: bool = False) -> Any:
        return common.workspace_at(root).current_frame(dataset_id, part, include_dropped=include_dropped)

    @st.cache_data(max_entries=8, show_spinner="Auditing…")
    def audit_report(root: str, dataset_id: int, revision: int, threshold: float) -> Any:
        ws = common.workspace_at(root)
        info = ws.dataset(dataset_id)
        train = ws.current_frame(dataset_id, "train")
        test = ws.current_frame(dataset_id, "test") if "test" in info.parts else None
        return audit_core.audit(train, test, schema=info.schema, minority_threshold=threshold)

    def row_versions(root: str, dataset_id: int, part: str, revision: int) -> dict[str, int]:
        train = current_frame(root, dataset_id, part, revision)
        return dict(zip(train["id"].astype(str), train["_version"].astype(int), strict=True))

    return {
        "current_frame": current_frame,
        "audit_report": audit_report,
        "row_versions": row_versions,
        "distribution_figure": display.distribution_figure,
        "heatmap_figure": display.heatmap_figure,
    }


def install_reference() -> None:
    """Put the previous code path back in this process (monkeypatched; nothing on disk changes)."""
    from core.data import audit as audit_core
    from core.store import workspace as workspace_core
    from views import common

    workspace_core.Workspace.current_frame = reference_current_frame  # type: ignore[method-assign]
    audit_core.distribution = reference_distribution  # audit() looks it up in core.data.audit
    for name, function in reference_view_caches().items():
        setattr(common, name, function)


@contextlib.contextmanager
def reference_installed() -> Iterator[None]:
    """:func:`install_reference` for the length of a block, in this process."""
    from core.data import audit as audit_core
    from core.store import workspace as workspace_core
    from views import common

    saved_frame, saved_distribution = workspace_core.Workspace.current_frame, audit_core.distribution
    saved = {name: getattr(common, name) for name in reference_view_caches()}
    install_reference()
    try:
        yield
    finally:
        workspace_core.Workspace.current_frame = saved_frame  # type: ignore[method-assign]
        audit_core.distribution = saved_distribution
        for name, function in saved.items():
            setattr(common, name, function)


def preimport(app_root: Path) -> None:
    sys.path.insert(0, str(app_root))
    import streamlit.logger

    streamlit.logger.set_log_level(logging.ERROR)  # bare-mode cache warnings, not results
    for module in PREIMPORT:
        __import__(module)


# ----------------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------------


def build_workspace(home: Path, rows: int, test_rows: int, corrections: int, seed: int) -> int:
    """Generate and import the dataset, then log ``corrections`` corrections in four change sets."""
    from core.data.demo import write_large_csv
    from core.data.importing import import_dataset
    from core.store.workspace import RowChange, Workspace

    source = home.parent / f"{home.name}-source"
    write_large_csv(source / "train.csv", rows, seed=seed)
    write_large_csv(source / "test.csv", test_rows, seed=seed + 1)
    ws = Workspace(home)
    report = import_dataset(ws, "klue-size", source / "train.csv", test_path=source / "test.csv", author="bench")
    dataset_id = report.dataset.id
    frame = ws.current_frame(dataset_id, "train")
    labels = list(report.dataset.labels)
    rng = random.Random(seed)
    # Relabel and type changes log one correction a row, a span change two, a drop one.
    per_kind = max(0, corrections) // 5
    picked = rng.sample(range(len(frame)), min(len(frame), 4 * per_kind))
    rows_of = [picked[i * per_kind : (i + 1) * per_kind] for i in range(4)]
    kinds: list[tuple[str, Callable[[Any], RowChange]]] = [
        ("relabel", lambda r: RowChange(r.id, 0, {"label": rng.choice([x for x in labels if x != r.label])})),
        ("type", lambda r: RowChange(r.id, 0, {"subj_type": "ORG" if r.subj_type == "PER" else "PER"})),
        ("span", lambda r: RowChange(r.id, 0, {"obj_start": r.obj_start + 1, "obj_end": r.obj_end + 1})),
        ("drop", lambda r: RowChange(r.id, 0, drop=True)),
    ]
    for (reason, make), positions in zip(kinds, rows_of, strict=True):
        if positions:
            changes = [make(r) for r in frame.iloc[positions].itertuples(index=False)]
            ws.apply_changes(dataset_id, "train", changes, author="bench", reason=reason)
    return dataset_id


# ----------------------------------------------------------------------------------------------------
# Pairing
# ----------------------------------------------------------------------------------------------------


def paired(samples: dict[str, list[float]]) -> dict[str, Any]:
    """Medians of each side and the median of the paired ratios (candidate / baseline)."""
    base, cand = samples["baseline"], samples["candidate"]
    ratios = [c / b for b, c in zip(base, cand, strict=True) if b > 0]
    return {
        "baseline_s": round(statistics.median(base), 4),
        "candidate_s": round(statistics.median(cand), 4),
        "ratio": round(statistics.median(ratios), 4) if ratios else None,
        "pairs": len(ratios),
    }


def interleave(repeat: int, run: Callable[[str], dict[str, float]], label: str) -> dict[str, dict[str, Any]]:
    """Run baseline and candidate alternately, every metric ``run`` returns paired; the order flips
    every pair (A B, B A, ...) so that whatever drifts within a pair hits both sides alike."""
    samples: dict[str, dict[str, list[float]]] = {}
    for i in range(repeat):
        for side in SIDES if i % 2 == 0 else SIDES[::-1]:
            gc.collect()
            result = run(side)
            log(f"{label} {i + 1}/{repeat} {side}: {json.dumps({k: round(v, 3) for k, v in result.items()})}")
            for metric, value in result.items():
                samples.setdefault(metric, {s: [] for s in SIDES})[side].append(value)
    return {metric: paired(values) for metric, values in samples.items()}


# ----------------------------------------------------------------------------------------------------
# 1. Functions, in this process
# ----------------------------------------------------------------------------------------------------


def bench_functions(home: Path, dataset_id: int, repeat: int) -> dict[str, Any]:
    import pandas as pd
    import streamlit as st

    from core.data import audit as audit_core
    from core.store.workspace import Workspace
    from views import common

    root = str(home)
    ws = Workspace(home)
    info = ws.dataset(dataset_id)
    revision = ws.revision(dataset_id)
    train, test = ws.current_frame(dataset_id, "train"), ws.current_frame(dataset_id, "test")
    with reference_installed():
        old_train, old_test = Workspace(home).current_frame(dataset_id, "train"), ws.current_frame(dataset_id, "test")
        old_report = audit_core.audit(old_train, old_test, schema=info.schema)
    pd.testing.assert_frame_equal(train, old_train, check_exact=True)
    pd.testing.assert_frame_equal(test, old_test, check_exact=True)
    new_report = audit_core.audit(train, test, schema=info.schema)
    assert audit_core.report_to_json(new_report) == audit_core.report_to_json(old_report), "reports differ"

    def side(name: str) -> contextlib.AbstractContextManager[None]:
        return reference_installed() if name == "baseline" else contextlib.nullcontext()

    def frames(name: str) -> dict[str, float]:
        with side(name):
            t0 = time.perf_counter()
            fresh = Workspace(home)
            fresh.current_frame(dataset_id, "train")
            fresh.current_frame(dataset_id, "test")
            return {"frames": time.perf_counter() - t0}

    def audit(name: str) -> dict[str, float]:
        with side(name):
            t0 = time.perf_counter()
            audit_core.audit(train, test, schema=info.schema)
            return {"audit": time.perf_counter() - t0}

    def overview_data() -> None:
        """What the Data view asks ``views.common`` for on every run before drawing the Overview."""
        for part in ("train", "test"):
            common.current_frame(root, dataset_id, part, revision)
        common.row_versions(root, dataset_id, "train", revision)
        dist = common.audit_report(root, dataset_id, revision, 0.05).distributions
        common.distribution_figure(dist["label"], "Relation labels (share of rows)", horizontal=True)
        for name in ("source", "sentence_length", "subj_type", "obj_type", "type_pair"):
            common.distribution_figure(dist[name], name)
        common.heatmap_figure(dist["label_type_pair"])

    def per_run(name: str) -> dict[str, float]:
        with side(name):
            st.cache_data.clear()
            st.cache_resource.clear()
            overview_data()  # builds what is cached (not timed)
            t0 = time.perf_counter()
            overview_data()
            return {"per_run": time.perf_counter() - t0}

    out: dict[str, Any] = {}
    for label, fn in (("frames", frames), ("audit", audit), ("per_run", per_run)):
        out.update(interleave(repeat, fn, f"functions/{label}"))
    st.cache_data.clear()
    st.cache_resource.clear()
    out["results_equal"] = True
    return out


# ----------------------------------------------------------------------------------------------------
# 2. AppTest, a fresh process per sample
# ----------------------------------------------------------------------------------------------------


def probe(side: str, home: Path, app_root: Path) -> dict[str, float]:
    """(Run in a child process) app.py's first run, a second session's first run and its rerun."""
    os.environ["RESTUDIO_HOME"] = str(home)
    os.environ["RESTUDIO_NO_WATCHER"] = "1"
    from streamlit.testing.v1 import AppTest

    preimport(app_root)
    if side == "baseline":
        install_reference()
    app = str(app_root / "app.py")
    t0 = time.perf_counter()
    first = AppTest.from_file(app, default_timeout=600)
    first.run()
    cold = time.perf_counter() - t0
    assert not first.exception, first.exception
    t0 = time.perf_counter()
    second = AppTest.from_file(app, default_timeout=600)
    second.run()
    new_session = time.perf_counter() - t0
    t0 = time.perf_counter()
    second.run()
    rerun = time.perf_counter() - t0
    assert not second.exception, second.exception
    # What Streamlit's collection after every run (runner.postScriptGC) costs with this heap.
    t0 = time.perf_counter()
    gc.collect(2)
    post_run_gc = time.perf_counter() - t0
    return {
        "cold": cold,
        "new_session": new_session,
        "rerun": rerun,
        "post_run_gc": post_run_gc,
        "charts": float(len(first.get("plotly_chart"))),
    }


def run_child(args: list[str], timeout: float) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_apptest(home: Path, app_root: Path, repeat: int) -> tuple[dict[str, Any], int]:
    charts: list[int] = []

    def one(side: str) -> dict[str, float]:
        result = run_child(["--probe", side, "--home", str(home), "--app-root", str(app_root)], timeout=900)
        charts.append(int(result.pop("charts")))
        return result

    return interleave(repeat, one, "apptest"), max(charts)


# ----------------------------------------------------------------------------------------------------
# 3. Browser: streamlit run + headless chromium
# ----------------------------------------------------------------------------------------------------


def serve(side: str, home: Path, app_root: Path, port: int) -> None:
    """(Run in a child process) ``streamlit run app.py`` with the side's code path installed."""
    os.environ["RESTUDIO_HOME"] = str(home)
    preimport(app_root)
    if side == "baseline":
        install_reference()
    from streamlit.web import cli

    sys.argv = [
        "streamlit",
        "run",
        str(app_root / "app.py"),
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    os.chdir(app_root)
    cli.main(prog_name="streamlit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _charts_drawn(page: Any, charts: int, timeout_s: float) -> None:
    """Wait until the run is over and ``charts`` plotly charts have drawn their SVG."""
    page.wait_for_function(
        "(n) => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".filter(c => c.querySelector('.main-svg')).length >= n",
        arg=charts,
        timeout=timeout_s * 1000,
        polling=50,
    )


def _session(context: Any, url: str, charts: int, timeout_s: float) -> tuple[float, float]:
    """A new page (a new Streamlit session) in ``context`` opens the Overview: (seconds to the charts
    drawn, seconds to the server's last websocket message before that). The difference is the browser's
    own work, mostly loading plotly.js and drawing."""
    last_message = [0.0]

    def on_socket(socket: Any) -> None:
        socket.on("framereceived", lambda _frame: last_message.__setitem__(0, time.perf_counter()))

    page = context.new_page()
    try:
        page.on("websocket", on_socket)
        t0 = time.perf_counter()
        page.goto(url)
        _charts_drawn(page, charts, timeout_s)
        done = time.perf_counter()
        return done - t0, max(0.0, min(last_message[0], done) - t0)
    finally:
        page.close()


def bench_browser(home: Path, app_root: Path, repeat: int, charts: int, timeout_s: float) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

        def one(side: str) -> dict[str, float]:
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            with tempfile.TemporaryFile("w+") as server_log:
                t0 = time.perf_counter()
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        str(Path(__file__).resolve()),
                        "--serve",
                        side,
                        "--home",
                        str(home),
                        "--app-root",
                        str(app_root),
                        "--port",
                        str(port),
                    ],
                    cwd=ROOT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    stdout=server_log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                try:
                    while True:
                        try:
                            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                                if resp.status == 200:
                                    break
                        except OSError:
                            pass
                        if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                            server_log.seek(0)
                            raise RuntimeError(f"streamlit did not start: {server_log.read()[-2000:]}")
                        time.sleep(0.05)
                    health = time.perf_counter() - t0
                    contexts = [browser.new_context(viewport={"width": 1440, "height": 1000}) for _ in range(2)]
                    first, first_served = _session(contexts[0], url, charts, timeout_s)
                    cold = time.perf_counter() - t0
                    new_session, new_served = _session(contexts[1], url, charts, timeout_s)
                    new_tab, _ = _session(contexts[0], url, charts, timeout_s)
                    for context in contexts:
                        context.close()
                finally:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            return {
                "server_ready": health,
                "cold_server": cold,
                "cold_first_request": first,
                "cold_browser_after_server": first - first_served,
                "new_session": new_session,
                "new_session_browser_after_server": new_session - new_served,
                "new_tab": new_tab,
            }

        try:
            result = interleave(repeat, one, "browser")
            result["floor_new_session"] = browser_floor(browser, repeat=max(3, repeat), timeout_s=timeout_s)
            return result
        finally:
            browser.close()


FLOOR_APP = 'import streamlit as st\n\nst.title("Hello")\n'


def browser_floor(browser: Any, *, repeat: int, timeout_s: float) -> dict[str, Any]:
    """What a new browser session costs for a Streamlit page with nothing but a title, on this machine:
    the part of ``new_session`` no app code can remove (loading Streamlit's own JavaScript, the
    websocket, one script run). Median of ``repeat`` fresh contexts against one server."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="restudio-bench-floor-") as tmp:
        app = Path(tmp) / "hello.py"
        app.write_text(FLOOR_APP)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(app),
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            t0 = time.perf_counter()
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                        if resp.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.perf_counter() - t0 > timeout_s:
                    raise RuntimeError("the floor app did not start")
                time.sleep(0.05)
            samples = []
            for _ in range(repeat + 1):  # the first context warms the server; it is not counted
                context = browser.new_context(viewport={"width": 1440, "height": 1000})
                page = context.new_page()
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_function(
                    "() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && document.querySelector('h1')",
                    timeout=timeout_s * 1000,
                    polling=50,
                )
                samples.append(time.perf_counter() - start)
                context.close()
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"median_s": round(statistics.median(samples[1:]), 4), "samples": len(samples) - 1}


# ----------------------------------------------------------------------------------------------------
# Main
# ----------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=32_470)
    parser.add_argument("--test-rows", type=int, default=7_765)
    parser.add_argument("--corrections", type=int, default=2_000, help="corrections logged before timing")
    parser.add_argument("--repeat", type=int, default=5, help="pairs for the function and AppTest measurements")
    parser.add_argument("--browser-repeat", type=int, default=2, help="pairs of fresh servers in chromium")
    parser.add_argument("--no-browser", action="store_true", help="skip the chromium measurements")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=180, help="seconds a page may take to draw")
    parser.add_argument("--app-root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--probe", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.probe:
        print(json.dumps(probe(args.probe, args.home, args.app_root)))
        return 0
    if args.serve:
        serve(args.serve, args.home, args.app_root, args.port)
        return 0
    if min(args.rows, args.test_rows, args.repeat, args.browser_repeat) < 1 or args.corrections < 0:
        parser.error("--rows, --test-rows, --repeat and --browser-repeat must be positive")
    skipped = "--no-browser" if args.no_browser else None
    if not args.no_browser and not Path(CHROMIUM).exists():
        skipped = f"{CHROMIUM} is missing (make browser)"
        log(f"skipping the browser measurements: {skipped}")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="restudio-bench-view-") as tmp:
        home = Path(tmp) / "ws"
        t0 = time.perf_counter()
        dataset_id = build_workspace(home, args.rows, args.test_rows, args.corrections, args.seed)
        log(f"workspace with {args.rows:,} + {args.test_rows:,} rows in {time.perf_counter() - t0:.1f}s")
        preimport(args.app_root)
        from core.store.workspace import Workspace

        ws = Workspace(home)
        logged = len(ws.corrections(dataset_id))
        # A server restart finds the current frames the last process stored: build them once here.
        ws.current_frame(dataset_id, "train")
        functions = bench_functions(home, dataset_id, args.repeat)
        apptest, charts = bench_apptest(home, args.app_root, args.repeat)
        browser = None if skipped else bench_browser(home, args.app_root, args.browser_repeat, charts, args.timeout)
    # A browser or an AppTest timing would do; the AppTest timing is the app's own cost. The
    # browser's is reported beside it with its floor: a new chromium session on a page holding only a
    # title already takes more than the 1 s target on a 2-core machine, so no app code can meet it there.
    met = (
        apptest["cold"]["candidate_s"] < TARGETS["cold_server_s"]
        and apptest["new_session"]["candidate_s"] < TARGETS["new_session_s"]
    )
    browser_met = None
    if browser is not None:
        browser_met = (
            browser["cold_server"]["candidate_s"] < TARGETS["cold_server_s"]
            and browser["new_session"]["candidate_s"] < TARGETS["new_session_s"]
        )
    import pandas as pd
    import plotly
    import streamlit

    result = {
        "bench": "data_view",
        "dataset": {"train_rows": args.rows, "test_rows": args.test_rows, "corrections": logged, "charts": charts},
        "baseline": "previous code path (install_reference: log replay, pandas tables, st.cache_data, figures per run)",
        "functions": functions,
        "apptest": apptest,
        "browser": browser,
        "browser_skipped": skipped,
        "targets": TARGETS,
        "target_met": met,
        "target_timing": "apptest (cold, new_session)",
        "browser_target_met": browser_met,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "streamlit": streamlit.__version__,
        "plotly": plotly.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
