"""Data view: distributions, flags, corrections with an audit log, cleaned export."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import streamlit as st

from core.analysis import datamap, datamap_finder, label_issue_finder, label_issues
from core.common.schema import MAX_DATASET_NAME, SCHEMAS
from core.data import fixes
from core.data.augment import entity_swap
from core.data.export import export_frame
from core.data.finders import Finder, FinderInput, finders
from core.data.importing import MAX_UPLOAD_MB, import_uploaded
from core.data.splits import create_split
from core.serve import display
from core.store.workspace import DatasetInfo, RowChange
from core.train import crossval
from views import common

PAGE_SIZE = 8
# Filters, sections and thresholds keep their value while not drawn (another section, another page):
# by default Streamlit forgets the state of every widget a run does not draw.
SESSION = "session"
SECTIONS = ["Overview", "Flags", "Edit row", "Audit log", "Import & export"]
FORMAT_LABELS = {"csv": "competition CSV", "klue-json": "KLUE JSON", "tacred-json": "TACRED JSON"}

ws = common.workspace()
root = str(ws.root)
# Who acts: the signed-in account with OIDC, else the name typed in the sidebar. Read again in every
# callback (a callback runs before this script, with the previous run's globals).
author = common.identity()
#: Whether this session may change anything (edits, undo, imports, splits, retraining); viewers browse
#: and download. Write buttons are disabled for viewers and every write callback checks again.
editor = common.can_edit()


# -- actions (run as button callbacks, before the page redraws) -------------------------------
def apply(
    dataset_id: int, changes: list[RowChange], reason: str, part: str = "train", confirm_key: str | None = None
) -> None:
    if not common.require_editor("Changing rows"):
        return
    if confirm_key is not None:
        confirmed = bool(st.session_state.get(confirm_key))
        # One confirmation, one action: the box is cleared whatever happens next.
        st.session_state[confirm_key] = False
        if not confirmed:
            common.flash("error", f"Not saved: tick the confirmation for these {len(changes):,} rows first.")
            return
    if not changes:
        common.flash("info", "Nothing to change.")
        return
    who = common.identity()
    if not who:
        common.flash("error", "Set your name in the sidebar first: every edit is logged with its author.")
        return
    with common.user_errors() as failed:
        change_id = ws.apply_changes(dataset_id, part, changes, author=who, reason=reason)
    if failed:
        return
    if change_id:
        common.flash(
            "success",
            f"Saved change #{change_id} ({len(changes):,} row(s)): {display.plain(reason)}. "
            "Undo it from the audit log.",
        )
    else:
        common.flash("info", "Nothing changed: the row(s) already had those values.")


def undo(dataset_id: int, change_id: int, redoes: int | None = None) -> None:
    if not common.require_editor("Undoing a change"):
        return
    who = common.identity()
    if not who:
        common.flash("error", "Set your name in the sidebar first: every edit is logged with its author.")
        return
    with common.user_errors("Not undone: ") as failed:
        new_id = ws.undo(dataset_id, change_id, author=who)
    if failed:
        return
    if redoes is None:
        common.flash("success", f"Undid change #{change_id} (logged as #{new_id}).")
    else:
        common.flash("success", f"Undid undo #{change_id}: change #{redoes} is back (logged as #{new_id}).")


def when(iso: object) -> str:
    """A stored UTC time in the viewer's zone (the browser's, when Streamlit knows it)."""
    return display.format_time(iso, st.context.timezone)


def undoes_of(log: pd.DataFrame, change_id: int) -> int | None:
    """The change set that ``change_id`` undid, when it is an undo (undoing it is a redo)."""
    value = log.loc[log["change_id"] == change_id, "undoes"]
    return None if value.empty or pd.isna(value.iloc[0]) else int(value.iloc[0])


#: A bulk action over more rows than this asks for an explicit confirmation first.
CONFIRM_OVER = 20


def bulk_button(
    label: str,
    *,
    key: str,
    dataset_id: int,
    changes: list[RowChange],
    reason: str,
    part: str = "train",
    primary: bool = False,
    disabled: bool = False,
) -> None:
    """A button that applies ``changes``. Over :data:`CONFIRM_OVER` rows it stays disabled until
    a checkbox naming the row count is ticked; the count is in the checkbox's key, so a filter
    that changes the rows shown asks again."""
    confirm_key = None
    disabled = disabled or not editor
    button = st.empty()  # the button above its checkbox, so a row of bulk buttons stays aligned
    if len(changes) > CONFIRM_OVER and not disabled:
        confirm_key = f"{key}_confirm_{len(changes)}"
        disabled = not st.checkbox(f"I confirm changing {len(changes):,} rows", key=confirm_key)
    button.button(
        label,
        key=key,
        type="primary" if primary else "secondary",
        disabled=disabled,
        on_click=apply,
        args=(dataset_id, changes, reason, part, confirm_key),
    )


def legend() -> None:
    """Which colour is the subject and which the object, above a list of sentence cards."""
    st.html(display.legend_html())


def sentence_card(row: pd.Series, meta: str) -> None:
    html = display.highlight_html(
        str(row["sentence"]),
        (int(row["subj_start"]), int(row["subj_end"])),
        (int(row["obj_start"]), int(row["obj_end"])),
    )
    st.html(f'<div class="re-card">{html}<div class="re-meta">{meta}</div></div>')


def pill(text: object, kind: str = "") -> str:
    import html as _html

    return f'<span class="re-pill {kind}">{_html.escape(str(text))}</span>'


def group_filter(frame: pd.DataFrame, id_groups: list[list[str]], key: str) -> list[list[str]]:
    """Label and text filters over groups of row ids; says how many groups are shown."""
    c1, c2 = st.columns([2, 3])
    labels = c1.multiselect(
        "Labels",
        sorted(frame["label"].dropna().unique()),
        key=f"{key}_labels",
        persist_state=SESSION,
        placeholder="all",
    )
    text = c2.text_input("Search", key=f"{key}_text", persist_state=SESSION, placeholder="id, sentence or entity word")
    shown = display.filter_groups(frame, id_groups, labels=labels, text=text)
    if len(shown) != len(id_groups):
        st.caption(f"{len(shown):,} of {len(id_groups):,} groups match.")
    return shown


def page_of(items: list, key: str) -> tuple[list, int]:
    """A page of items with a page picker when there are more than PAGE_SIZE."""
    pages = max(1, -(-len(items) // PAGE_SIZE))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key=key))
    start = (page - 1) * PAGE_SIZE
    return items[start : start + PAGE_SIZE], start


# -- import form (also the whole page on an empty workspace) ----------------------------------
IMPORT_SUMMARY = "_import_summary"


def _import_key(name: str) -> str:
    # A successful import moves the form to fresh widget keys: the uploaders empty themselves
    # (their values cannot be set from code), so a second click cannot import the same files again.
    generation = int(st.session_state.get("_import_generation", 0))
    return name if generation == 0 else f"{name}_{generation}"


def run_import() -> None:
    """The Import button's callback. It runs before app.py draws the sidebar, which is the only
    moment the sidebar's ``dataset`` selectbox may be switched to the new dataset."""
    state = st.session_state
    if not common.require_editor("Importing a dataset"):
        return
    train = state.get(_import_key("import_train"))
    if train is None:
        state[IMPORT_SUMMARY] = ("error", "Choose a train file to import.")
        return
    files = {"train": (train.name, train.getvalue())}
    for part in ("test", "gold"):
        upload = state.get(_import_key(f"import_{part}"))
        if upload is not None:
            files[part] = (upload.name, upload.getvalue())
    encoding = state.get(_import_key("import_encoding"), "utf-8")
    # The message quotes file and column names from the upload: shown as text.
    with common.user_errors("Not imported: ", show="none") as failed:
        report = import_uploaded(
            ws,
            (state.get(_import_key("import_name")) or "").strip() or train.name,
            files,
            schema_name=state.get(_import_key("import_schema"), "klue"),
            encoding=None if encoding == "utf-8" else encoding,
            author=common.identity() or "unknown",
        )
    if failed:  # shown in the import summary, which stays until the next import
        state[IMPORT_SUMMARY] = ("error", failed.message)
        return
    name = report.dataset.name
    state["dataset"] = name
    st.query_params["dataset"] = name
    state["_import_generation"] = int(state.get("_import_generation", 0)) + 1
    parts = []
    for part, result in report.results.items():
        bad = result.invalid_frame()
        n_bad = int(bad["row"].nunique()) if len(bad) else 0
        parts.append(
            (
                part,
                f"{part}: {result.n_records:,} rows read, {len(result.frame):,} loaded, {n_bad:,} invalid.",
                bad,
            )
        )
    state[IMPORT_SUMMARY] = ("ok", name, parts, report.notes)


def show_import_summary() -> None:
    """What the last import read (or why it failed), once, on the run after the Import click."""
    summary = st.session_state.pop(IMPORT_SUMMARY, None)
    if summary is None:
        return
    if summary[0] == "error":
        st.error(summary[1], icon=":material/error:")
        return
    _, name, parts, notes = summary
    st.success(f"Imported **{display.plain(name)}**; it is now the selected dataset.", icon=":material/check_circle:")
    for note in notes:
        st.info(display.plain(note))
    for part, message, bad in parts:
        if len(bad):
            st.warning(message)
            with st.expander(f"Invalid {part} rows ({len(bad):,} problems)"):
                st.dataframe(bad, hide_index=True, width="stretch", key=f"import_invalid_{part}")
        else:
            st.success(message)


def import_form() -> None:
    show_import_summary()
    if not editor:
        common.require_editor("Importing a dataset")
        return
    with st.form("import_form", clear_on_submit=False):
        st.markdown("**Import a dataset** — competition CSV, official KLUE JSON or TACRED JSON.")
        st.text_input(
            "Name",
            key=_import_key("import_name"),
            placeholder="e.g. klue-re v1 (team copy)",
            max_chars=MAX_DATASET_NAME,
        )
        c1, c2, c3 = st.columns(3)
        c1.file_uploader("Train file", type=["csv", "json", "jsonl"], key=_import_key("import_train"))
        c2.file_uploader("Test file (optional)", type=["csv", "json", "jsonl"], key=_import_key("import_test"))
        c3.file_uploader("Test gold labels (optional, id,label CSV)", type=["csv"], key=_import_key("import_gold"))
        c4, c5 = st.columns(2)
        c4.selectbox("Label set", sorted(SCHEMAS), key=_import_key("import_schema"))
        c5.selectbox("Encoding", ["utf-8", "cp949", "euc-kr"], key=_import_key("import_encoding"))
        st.caption(f"Up to {MAX_UPLOAD_MB} MB per file. The files are stored read-only in the workspace.")
        st.form_submit_button("Import", type="primary", on_click=run_import)


# -- sections ---------------------------------------------------------------------------------
def overview(info: DatasetInfo, report, test_frame: pd.DataFrame | None) -> None:
    dist = report.distributions
    st.plotly_chart(
        common.distribution_figure(dist["label"], "Relation labels (share of rows)", horizontal=True),
        key="chart_label",
    )
    if test_frame is not None and not info.parts["test"].labeled:
        st.caption("The test file is unlabeled: its label distribution appears once gold labels are imported with it.")
    c1, c2 = st.columns(2)
    c1.plotly_chart(common.distribution_figure(dist["source"], "Source"), key="chart_source")
    c2.plotly_chart(
        common.distribution_figure(dist["sentence_length"], "Sentence length (characters)"), key="chart_len"
    )
    c1.plotly_chart(common.distribution_figure(dist["subj_type"], "Subject type"), key="chart_subj")
    c2.plotly_chart(common.distribution_figure(dist["obj_type"], "Object type"), key="chart_obj")
    st.plotly_chart(
        common.distribution_figure(dist["type_pair"], "Entity-type pair (subject-object)"), key="chart_pair"
    )
    st.plotly_chart(common.heatmap_figure(dist["label_type_pair"]), key="chart_heatmap")
    if report.divergence:
        div = pd.DataFrame(
            {
                "distribution": list(report.divergence),
                "JS divergence (train vs test)": list(report.divergence.values()),
            }
        )
        st.markdown("**Train vs test** — Jensen–Shannon divergence (0 = same mix, 1 = disjoint)")
        # A static table: st.dataframe's grid code (1.2 MB of script) held back the whole Overview, metrics
        # included, for about 3 s in a new browser session, for six rows.
        st.table(div.style.format({"JS divergence (train vs test)": "{:.3f}"}).hide(axis="index"))


def finder_input(info: DatasetInfo, report, train: pd.DataFrame) -> FinderInput:
    return FinderInput(
        report=report, train=train, invalid_rows=ws.invalid_rows(info.id, "train"), root=root, dataset_id=info.id
    )


def flag_counts(source: FinderInput) -> dict[str, int | None]:
    """Each registered finder's count by its title, in display order (None: no count shown)."""
    return {finder.title: finder.counted(source) for finder in finders()}


def type_flags_section(info: DatasetInfo, report, train: pd.DataFrame, versions: Mapping[str, int]) -> None:
    flags = report.type_flags
    if flags.empty:
        st.success("No suspicious entity types at this threshold.")
        return
    c1, c2, c3 = st.columns([3, 1, 1])
    labels = c1.multiselect(
        "Labels", sorted(flags["label"].unique()), key="tf_labels", persist_state=SESSION, placeholder="all labels"
    )
    role = c2.selectbox("Role", ["both", "subj", "obj"], key="tf_role", persist_state=SESSION)
    rule = c3.selectbox("Rule", ["any", "prefix", "minority"], key="tf_rule", persist_state=SESSION)
    shown = flags
    if labels:
        shown = shown[shown["label"].isin(labels)]
    if role != "both":
        shown = shown[shown["role"] == role]
    if rule != "any":
        shown = shown[shown["rule"].str.contains(rule)]
    rows = train.set_index("id").loc[shown["id"].astype(str)]
    table = shown.assign(sentence=display.bracketed_column(rows.reset_index()).to_numpy())
    if len(shown) != len(flags):
        st.caption(f"{len(shown):,} of {len(flags):,} flags match.")
    # Fixed widths for the short columns and a capped sentence column (its full text is in the
    # cell's tooltip and the review queue), so share and reason stay in view at 1400 px.
    event = st.dataframe(
        table[["id", "label", "role", "type", "suggested_type", "sentence", "share", "reason"]],
        hide_index=True,
        width="stretch",
        height=300,
        key="tf_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={
            # About 900 px in all: the main column's width at 1400 px with the sidebar open.
            "id": st.column_config.TextColumn("id", width=55),
            "label": st.column_config.TextColumn("label", width=150),
            "role": st.column_config.TextColumn("role", width=45),
            "type": st.column_config.TextColumn("type", width=50),
            "suggested_type": st.column_config.TextColumn("suggested", width=75),
            "sentence": st.column_config.TextColumn("sentence", width=230),
            "share": st.column_config.NumberColumn("share", format="percent", width=60),
            "reason": st.column_config.TextColumn("reason", width="medium"),
        },
    )
    selected = shown.iloc[event.selection.rows] if event and event.selection.rows else shown.iloc[0:0]
    b1, b2 = st.columns(2)
    with b1:
        bulk_button(
            f"Accept suggestion for {len(selected):,} selected",
            key="tf_accept_selected",
            dataset_id=info.id,
            changes=fixes.accept_type_suggestions(selected, versions),
            reason="type flag: accepted suggested type",
            disabled=selected.empty,
        )
    with b2:
        n_rows = shown["id"].nunique()
        bulk_button(
            f"Accept all {len(shown):,} shown" + (f" ({n_rows:,} rows)" if n_rows != len(shown) else ""),
            key="tf_accept_shown",
            dataset_id=info.id,
            changes=fixes.accept_type_suggestions(shown, versions),
            reason="type flag: accepted suggested type (bulk)",
        )
    groups = shown.groupby(["label", "role", "type", "suggested_type"]).size().reset_index(name="rows")
    groups = groups.sort_values("rows", ascending=False).reset_index(drop=True)
    with st.expander(f"Apply to a whole flag group ({len(groups):,} groups)"):
        options = [f"{g.label} · {g.role} {g.type} → {g.suggested_type} ({g.rows:,} rows)" for g in groups.itertuples()]
        pick = st.selectbox("Group", range(len(options)), format_func=options.__getitem__, key="tf_group")
        if pick is not None:
            g = groups.iloc[int(pick)]
            members = shown[
                (shown["label"] == g["label"]) & (shown["role"] == g["role"]) & (shown["type"] == g["type"])
            ]
            bulk_button(
                f"Set {g['role']} type to {g['suggested_type']} on {len(members):,} rows",
                key="tf_apply_group",
                dataset_id=info.id,
                changes=fixes.accept_type_suggestions(members, versions),
                reason=f"type flag group: {options[int(pick)]}",
            )
    st.markdown("**Review queue**, rarest first")
    legend()
    items, _ = page_of(list(shown.itertuples(index=False)), "tf_page")
    for flag in items:
        row = rows.loc[str(flag.id)]
        row = row.iloc[0] if isinstance(row, pd.DataFrame) else row
        row = pd.concat([pd.Series({"id": flag.id}), row])
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        with c1:
            sentence_card(
                row,
                f"id {pill(flag.id)} {pill(flag.label)} {flag.role} type {pill(flag.type, 'bad')} → "
                f"{pill(flag.suggested_type, 'good')} · {pill(flag.reason)}",
            )
        c2.button(
            "Accept",
            key=f"accept_type_{flag.id}_{flag.role}",
            type="primary",
            disabled=not editor,
            on_click=apply,
            args=(
                info.id,
                fixes.accept_type_suggestions(pd.DataFrame([flag._asdict()]), versions),
                f"type flag: {flag.role} type {flag.type} → {flag.suggested_type}",
            ),
        )


def duplicates_section(info: DatasetInfo, report, train: pd.DataFrame, versions: Mapping[str, int]) -> None:
    dup = report.duplicates
    if not dup.groups:
        st.success("No exact duplicate rows.")
        return
    st.markdown(f"**{dup.groups:,} groups** of identical rows; **{dup.extra_rows:,} extra copies**.")
    bulk_button(
        f"Drop all {dup.extra_rows:,} extra copies (keep the first of each group)",
        key="dup_drop_all",
        dataset_id=info.id,
        changes=fixes.drop_duplicate_copies(dup.id_groups, versions),
        reason="duplicate: dropped extra copies",
        primary=True,
    )
    by_id = train.set_index("id")
    groups = group_filter(train, dup.id_groups, "dup")
    st.dataframe(
        pd.DataFrame(
            {
                "ids": [", ".join(g) for g in groups],
                "copies": [len(g) for g in groups],
                "label": [by_id.at[str(g[0]), "label"] for g in groups],
                "sentence": display.bracketed_column(train.set_index("id").loc[[str(g[0]) for g in groups]]).to_numpy()
                if groups
                else [],
            }
        ),
        hide_index=True,
        width="stretch",
        height=220,
        key="dup_table",
    )
    items, start = page_of(groups, "dup_page")
    if items:
        legend()
    for i, group in enumerate(items, start):
        row = by_id.loc[str(group[0])]
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        with c1:
            sentence_card(
                pd.concat([pd.Series({"id": group[0]}), row]),
                f"{pill(row['label'])} ids {' '.join(pill(g) for g in group)}",
            )
        c2.button(
            f"Drop {len(group) - 1} copies",
            key=f"dup_drop_{i}",
            disabled=not editor,
            on_click=apply,
            args=(info.id, fixes.drop_duplicate_copies([group], versions), "duplicate: dropped extra copies"),
        )


def conflicts_section(info: DatasetInfo, report, train: pd.DataFrame, versions: Mapping[str, int]) -> None:
    conflicts = report.label_conflicts
    if not conflicts.groups:
        st.success("No label conflicts.")
        return
    st.markdown(
        f"**{conflicts.groups:,} groups** ({conflicts.rows:,} rows): same sentence, subject and object, different "
        "labels. "
        "Choose the label to keep; the other rows are dropped (logged, and undoable)."
    )
    by_id = train.set_index("id")
    groups = group_filter(train, conflicts.id_groups, "conf")
    wanted = {tuple(g) for g in groups}
    shown = [i for i, g in enumerate(conflicts.id_groups) if tuple(g) in wanted]
    table = conflicts.table[conflicts.table["group"].isin(shown)]
    st.dataframe(table, hide_index=True, width="stretch", height=220, key="conf_table")
    items, start = page_of(groups, "conf_page")
    if items:
        legend()
    for i, group in enumerate(items, start):
        rows = by_id.loc[[str(g) for g in group]].reset_index()
        labels = list(dict.fromkeys(rows["label"].tolist()))
        c1, c2 = st.columns([4, 2], vertical_alignment="center")
        with c1:
            sentence_card(rows.iloc[0], " ".join(f"id {pill(r.id)} {pill(r.label)}" for r in rows.itertuples()))
        keep = c2.selectbox("Label to keep", labels, key=f"conf_keep_{i}")
        c2.button(
            "Keep this label",
            key=f"conf_resolve_{i}",
            disabled=not editor,
            on_click=apply,
            args=(info.id, fixes.resolve_conflict(rows, keep, versions), f"label conflict: kept {keep}"),
        )


def _offset_filters(train: pd.DataFrame) -> dict:
    c1, c2 = st.columns([2, 3])
    labels = c1.multiselect(
        "Labels", sorted(train["label"].dropna().unique()), key="off_labels", persist_state=SESSION, placeholder="all"
    )
    return {
        "labels": labels,
        "text": c2.text_input("Search", key="off_text", persist_state=SESSION, placeholder="id, sentence or word"),
    }


def offsets_section(info: DatasetInfo, report, train: pd.DataFrame, versions: Mapping[str, int]) -> None:
    mism = report.offset_mismatches
    if mism.empty:
        st.success("Every entity word matches its offsets.")
        return
    ids = display.filter_groups(train, [[str(i)] for i in mism["id"].unique()], **_offset_filters(train))
    mism = mism[mism["id"].astype(str).isin({g[0] for g in ids})]
    st.dataframe(mism, hide_index=True, width="stretch", height=240, key="off_table")
    bulk_button(
        f"Accept all {int(mism['suggested_start'].notna().sum()):,} suggested spans",
        key="off_accept_all",
        dataset_id=info.id,
        changes=fixes.accept_offset_suggestions(mism, versions),
        reason="offset: moved span to the word",
        primary=True,
    )
    by_id = train.set_index("id")
    items, _ = page_of(list(mism.itertuples(index=False)), "off_page")
    if items:
        legend()
    for m in items:
        row = pd.concat([pd.Series({"id": m.id}), by_id.loc[str(m.id)]])
        c1, c2 = st.columns([5, 1], vertical_alignment="center")
        with c1:
            has = not pd.isna(m.suggested_start)
            hint = f"→ {pill(f'{int(m.suggested_start)}-{int(m.suggested_end)}', 'good')}" if has else ""
            sentence_card(
                row,
                f"id {pill(m.id)} {m.role} word {pill(m.word)} at {m.start}-{m.end} reads "
                f"{pill(m.found, 'bad')} {hint} · {pill(m.reason)}",
            )
        c2.button(
            "Use suggested span",
            key=f"off_accept_{m.id}_{m.role}",
            disabled=pd.isna(m.suggested_start) or not editor,
            on_click=apply,
            args=(
                info.id,
                fixes.accept_offset_suggestions(pd.DataFrame([m._asdict()]), versions),
                "offset: moved span",
            ),
        )


def overlap_section(report) -> None:
    ov = report.overlap
    if ov is None:
        st.info("This dataset has no test part to compare with.")
        return
    st.markdown(
        f"**{ov.shared_triples:,}** (sentence, subject, object) triples and **{ov.shared_sentences:,}** sentences "
        "appear in both train and test. Shared triples leak test answers into training; shared sentences under "
        "other entity pairs are normal in KLUE-RE but worth knowing."
    )
    if len(ov.table):
        st.dataframe(ov.table, hide_index=True, width="stretch", height=280, key="ov_table")


def retrain(info: DatasetInfo, oof_meta: label_issues.OofInfo) -> None:
    if not common.require_editor("Retraining"):
        return
    with common.user_errors() as failed:
        job = crossval.retrain_cleaned(root, info.id, oof_meta=oof_meta, owner=common.identity())
    if failed:
        return
    parent = f"; the Train view overlays it with job #{job.parent_id}" if job.parent_id else ""
    common.flash(
        "success",
        f"Queued job #{job.id} {display.plain(repr(job.name))} on revision {ws.revision(info.id)}{parent}.",
    )


def label_issues_section(info: DatasetInfo, versions: Mapping[str, int], revision: int) -> None:
    found = crossval.latest_oof(root, info.id)
    if found is None:
        st.info(
            "No out-of-fold probabilities for this dataset yet. Start a k-fold cross-validation in the Train view "
            "(New job → Cross-validation folds), or run `python -m core crossval`; its label issues appear here."
        )
        return
    path, meta = found
    c1, c2 = st.columns([3, 2])
    view = (
        c1.segmented_control(
            "Label issue view",
            ["Confident learning", "no_relation view"],
            key="li_view",
            persist_state=SESSION,
            default="Confident learning",
            label_visibility="collapsed",
        )
        or "Confident learning"
    )
    threshold = c2.slider(
        "no_relation view confidence", 0.5, 0.99, 0.8, 0.01, key="li_threshold", persist_state=SESSION
    )
    issues, nr_view, meta = common.label_issues(root, info.id, revision, str(path), threshold)
    if meta.stale:
        st.caption(
            f"Probabilities from revision {display.plain(meta.revision)} (k={display.plain(meta.k)}); "
            "the data changed since, "
            "so relabelled rows keep their old scores until the next cross-validation."
        )
    table = issues if view == "Confident learning" else nr_view
    c1, c2 = st.columns([3, 2])
    labels = c1.multiselect(
        "Given label",
        sorted(table["label"].unique()) if len(table) else [],
        key="li_labels",
        persist_state=SESSION,
        placeholder="all labels",
    )
    text = c2.text_input("Search", key="li_text", persist_state=SESSION, placeholder="id or sentence")
    if labels:
        table = table[table["label"].isin(labels)]
    if text:
        table = table[
            table["id"].astype(str).str.contains(text, regex=False)
            | table.get("sentence", table["id"]).astype(str).str.contains(text, regex=False)
        ]
    st.caption(f"{len(table):,} rows, likeliest errors first. Suggested label = the models' argmax.")
    flagged_rows_table(
        table,
        key="li",
        dataset_id=info.id,
        versions=versions,
        reason="label issue",
        number_columns=("suggested_prob", "given_prob", "quality", "confidence"),
        extra=lambda column: column.button(
            "Retrain from the cleaned revision",
            key="li_retrain",
            icon=":material/replay:",
            disabled=not editor,
            on_click=retrain,
            args=(info, meta),
            help="Trains the cross-validation's config on the current (corrected) rows, as a new job.",
        ),
    )


def flagged_rows_table(
    table: pd.DataFrame,
    *,
    key: str,
    dataset_id: int,
    versions: Mapping[str, int],
    reason: str,
    number_columns: tuple[str, ...] = (),
    drop: bool = False,
    extra: Callable[[Any], object] | None = None,
) -> pd.DataFrame:
    """The row table of a flag kind whose rows carry a ``suggested_label``, with multi-row selection and the
    bulk actions under it: relabel the selected rows (or all shown) to their suggestion and, with ``drop``,
    drop the selected rows, each through :func:`bulk_button` (the corrections store and its audit log, with
    ``reason`` as the log's reason). ``extra(column)`` draws one more control in the last column of the
    buttons' row. Widget keys start with ``key`` (``{key}_table``, ``{key}_relabel_selected``, ...).
    Returns the selected rows."""
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=320,
        key=f"{key}_table",
        on_select="rerun",
        selection_mode="multi-row",
        column_config={c: st.column_config.NumberColumn(format="%.3f") for c in number_columns if c in table},
    )
    selected = table.iloc[event.selection.rows] if event and event.selection.rows else table.iloc[0:0]
    buttons = st.columns(3 + int(drop))
    with buttons[0]:
        bulk_button(
            f"Relabel {len(selected):,} selected to the suggestion",
            key=f"{key}_relabel_selected",
            dataset_id=dataset_id,
            changes=label_issues.relabel_changes(selected, versions),
            reason=f"{reason}: relabelled to suggestion",
            disabled=selected.empty,
        )
    with buttons[1]:
        bulk_button(
            f"Relabel all {len(table):,} shown",
            key=f"{key}_relabel_shown",
            dataset_id=dataset_id,
            changes=label_issues.relabel_changes(table, versions),
            reason=f"{reason}: relabelled (bulk)",
            primary=True,
            disabled=table.empty,
        )
    if drop:
        with buttons[2]:
            bulk_button(
                f"Drop {len(selected):,} selected",
                key=f"{key}_drop_selected",
                dataset_id=dataset_id,
                changes=datamap.drop_changes(selected, versions),
                reason=f"{reason}: dropped",
                disabled=selected.empty,
            )
    if extra is not None:
        extra(buttons[-1])
    return selected


def datamap_section(info: DatasetInfo, versions: Mapping[str, int], revision: int) -> None:
    """Data map: a run's training dynamics as confidence against variability, its regions, a box or lasso
    selection on the map, and the selected (or region's) rows in the flags' row table with its bulk actions."""
    st.caption(datamap_finder.FINDER.help)
    runs = datamap.dataset_runs(root, info.id)
    if not runs:
        st.info(
            "No run of this dataset has recorded training dynamics yet, so there is no map to draw. Train a model "
            "in the Train view (the record_dynamics option is on by default) or with `python -m core train`; its "
            "data map appears here."
        )
        return
    pick = st.selectbox(
        "Run",
        range(len(runs)),
        format_func=lambda i: f"{runs[i].name} · {runs[i].status} · {runs[i].evaluations} evaluation(s)",
        key="dm_run",
    )
    run = runs[int(pick or 0)]
    with common.user_errors(show="inline") as failed:
        found = common.data_map(root, info.id, revision, run.run_dir, run.mtime)
        if found.recorded > 2:
            # Starts at the run's best dev evaluation; later ones show the model memorising its train rows. Two at
            # least: one evaluation has no spread, and its "ambiguous" region would be an arbitrary pick of ties.
            through = st.slider(
                "Evaluations",
                2,
                found.recorded,
                value=found.evaluations,
                key=f"dm_through_{zlib.crc32(run.run_dir.encode()):08x}",
                help="The map covers evaluations 1 to this one. It starts at the run's best dev micro-F1: after it the "
                "model memorises its train rows, mislabelled ones included, and they leave the hard-to-learn region.",
            )
            if through != found.evaluations:
                found = common.data_map(root, info.id, revision, run.run_dir, run.mtime, int(through))
    if failed:
        return
    table = found.table
    added = ~table["in_dataset"].astype(bool)
    if added.any():  # copies the run's augmentation made: not rows of the dataset, nothing to correct
        table = table[~added].reset_index(drop=True)
    oof = crossval.latest_oof(root, info.id)
    if oof is not None:  # confident learning's flags, marked on the map and in the table
        threshold = float(st.session_state.get("li_threshold", 0.8))
        issues = common.label_issues(root, info.id, revision, str(oof[0]), threshold)[0]
        table = datamap.mark_flagged(table, issues["id"])
    counts = found.regions
    cols = st.columns(len(counts))
    for column, (name, count) in zip(cols, counts.items(), strict=True):
        column.metric(datamap.REGION_TITLES[name], f"{count:,}")
    st.caption(
        f"{len(table):,} train rows, evaluations 1–{found.evaluations} of {found.recorded}"
        + (f" (best dev micro-F1 at {found.best_evaluation})" if found.best_evaluation else "")
        + "; each region holds the "
        f"{found.fraction:.0%} of rows with the lowest confidence (hard to learn), the highest variability "
        "(ambiguous) or the highest confidence (easy to learn). Colour: the share of evaluations predicted right."
        + (" Outlined: rows confident learning also flags." if "flagged" in table else "")
        + (f" {int(added.sum()):,} augmented copies the run also trained on are left out." if added.any() else "")
    )
    if found.stale:
        st.caption(
            f":material/history: The run trained on revision {found.run_revision}; {found.n_changed:,} of its rows "
            "changed since (crosses on the map, `changed` in the table): their figures are for the rows as they were."
        )
    event = st.plotly_chart(
        display.data_map_figure(table),
        key="dm_chart",
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        width="stretch",
    )
    picked = datamap.selected_ids(event.selection if event else None)
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    region = c1.selectbox(
        "Region",
        datamap.REGIONS,
        format_func=datamap.REGION_TITLES.get,
        key="dm_region",
        persist_state=SESSION,
        disabled=bool(picked),
    )
    flagged_first = c2.toggle(
        "Confident learning's flags first",
        value=True,
        key="dm_flagged_first",
        disabled="flagged" not in table,
        help="Rows that confident learning (a cross-validation's label issues) also flags lead the table."
        if "flagged" in table
        else "Run a cross-validation to mark the rows confident learning flags.",
    )
    if picked:
        rows = datamap.ranked(table[table["id"].astype(str).isin(set(picked))], flagged_first=flagged_first)
        st.caption(f"{len(rows):,} rows selected on the map. Double-click the map to clear it and list a region.")
    else:
        rows = datamap.ranked(table, region, flagged_first=flagged_first)
    if "dropped" in rows:
        gone = rows["dropped"].astype(bool)
        if gone.any():
            st.caption(f"{int(gone.sum()):,} of these rows were dropped since the run; they are not listed.")
        rows = rows[~gone]
    columns = ["id", "region", "label", "model_label", "confidence", "variability", "correctness", "forgetfulness"]
    columns += [c for c in ("changed", "flagged", "sentence") if c in rows]
    view = rows[[c for c in columns if c in rows]].rename(columns={"model_label": "suggested_label"})
    if "sentence" in view:
        view = view.assign(sentence=display.bracketed_column(rows.reset_index(drop=True)).to_numpy())
    view = view.assign(region=view["region"].map(datamap.REGION_TITLES)).reset_index(drop=True)
    st.caption(f"{len(view):,} rows. Suggested label = the model's argmax at the row's last evaluation.")
    flagged_rows_table(
        view,
        key="dm",
        dataset_id=info.id,
        versions=versions,
        reason="data map",
        number_columns=("confidence", "variability", "correctness"),
        drop=True,
    )


def invalid_section(info: DatasetInfo) -> None:
    for part in info.parts:
        bad = ws.invalid_rows(info.id, part)
        st.markdown(
            f"**{part}** ({display.plain(info.parts[part].original_name)}): "
            f"{bad['row'].nunique() if len(bad) else 0:,} invalid rows"
        )
        if len(bad):
            st.dataframe(bad, hide_index=True, width="stretch", height=240, key=f"invalid_{part}")
            st.download_button(
                f"Download {part} invalid rows (CSV)",
                bad.to_csv(index=False),
                file_name=f"{info.name}-{part}-invalid.csv",
                mime="text/csv",
                key=f"invalid_dl_{part}",
                on_click="ignore",
            )


def flags(info: DatasetInfo, report, train: pd.DataFrame, versions: Mapping[str, int]) -> None:
    source = finder_input(info, report, train)
    by_title = {finder.title: finder for finder in finders()}
    counts = flag_counts(source)
    kinds = list(counts)
    kind = (
        st.segmented_control(
            "Flag kind",
            kinds,
            format_func=lambda k: k if counts[k] is None else f"{k} ({counts[k]:,})",
            key="flag_kind",
            persist_state=SESSION,
            default=kinds[0],
            label_visibility="collapsed",
        )
        or kinds[0]
    )
    finder = by_title[kind]
    # Finders with fix buttons draw their own section from the detailed report; any other finder gets
    # its findings table, so a new finder shows up here without a change to this view.
    sections = {
        "type_flags": lambda: type_flags_section(info, report, train, versions),
        "duplicates": lambda: duplicates_section(info, report, train, versions),
        "conflicts": lambda: conflicts_section(info, report, train, versions),
        "offsets": lambda: offsets_section(info, report, train, versions),
        "overlap": lambda: overlap_section(report),
        "invalid_rows": lambda: invalid_section(info),
        label_issue_finder.KIND: lambda: label_issues_section(info, versions, ws.revision(info.id)),
        datamap_finder.KIND: lambda: datamap_section(info, versions, ws.revision(info.id)),
    }
    sections.get(finder.kind, lambda: findings_section(finder, source))()


def findings_section(finder: Finder, source: FinderInput) -> None:
    st.caption(finder.help)
    table = finder.run(source)
    if table.empty:
        st.success(f"No {finder.title.lower()}.")
        return
    st.dataframe(table, hide_index=True, width="stretch", height=280, key=f"findings_{finder.kind}")


def edit_row(info: DatasetInfo, frames: dict[str, pd.DataFrame]) -> None:
    c1, c2 = st.columns([1, 3])
    part = c1.selectbox("Part", list(info.parts), key="edit_part", persist_state=SESSION)
    row_id = c2.text_input("Row id", key="edit_id", persist_state=SESSION, placeholder="id of the row to edit").strip()
    if not row_id:
        st.caption("Type a row id (from any table) to edit its label, entity types and spans, or to drop it.")
        return
    frame = frames[part]
    match = frame[frame["id"] == row_id]
    if match.empty:
        st.error(f"No row with id {display.plain(repr(row_id))} in {part}.")
        return
    row = match.iloc[0]
    # Remember the version this person loaded: saving against it refuses a concurrent edit.
    loaded_key = f"edit_loaded::{info.id}::{part}::{row_id}"
    loaded = int(st.session_state.setdefault(loaded_key, int(row["_version"])))
    if loaded != int(row["_version"]):
        st.warning(
            f"This row changed since you loaded it (version {loaded} → {int(row['_version'])}). "
            "Reload to see the current values before editing."
        )
        st.button("Reload row", key="edit_reload", on_click=st.session_state.pop, args=(loaded_key,))
    dropped = bool(row.get("_dropped", False))
    legend()
    sentence_card(row, f"id {pill(row_id)} {pill(row['label'])} version {loaded}" + (" · dropped" if dropped else ""))
    schema = info.schema
    key = f"{info.id}_{part}_{row_id}_{loaded}"
    labels = list(schema.labels)
    saved = False
    if not editor:
        common.require_editor("Editing a row")
    else:
        with st.form(f"edit_form_{key}"):
            label = st.selectbox(
                "Label",
                labels,
                index=labels.index(row["label"]) if row["label"] in labels else 0,
                key=f"edit_label_{key}",
            )
            spans = {}
            for role, name in (("subj", "Subject"), ("obj", "Object")):
                types = list(schema.subject_types if role == "subj" else schema.object_types)
                types += [t for t in schema.entity_types if t not in types]
                c1, c2, c3 = st.columns(3)
                start = c1.number_input(
                    f"{name} start",
                    0,
                    len(row["sentence"]) - 1,
                    int(row[f"{role}_start"]),
                    key=f"edit_{role}_start_{key}",
                )
                end = c2.number_input(
                    f"{name} end (inclusive)",
                    0,
                    len(row["sentence"]) - 1,
                    int(row[f"{role}_end"]),
                    key=f"edit_{role}_end_{key}",
                )
                etype = c3.selectbox(
                    f"{name} type",
                    types,
                    index=types.index(row[f"{role}_type"]) if row[f"{role}_type"] in types else 0,
                    key=f"edit_{role}_type_{key}",
                )
                spans[role] = (int(start), int(end), str(etype))
            reason = st.text_input("Reason", key=f"edit_reason_{key}", placeholder="why (goes to the audit log)")
            saved = st.form_submit_button("Save", type="primary")
    if saved:
        with common.user_errors(show="inline") as failed:
            change = fixes.edit_row(row, loaded, label=label, subj=spans["subj"], obj=spans["obj"])
        if not failed:
            apply(info.id, [change], reason.strip() or "manual edit", part)
            if st.session_state.get("_flash", ("",))[0] == "success":
                st.session_state.pop(loaded_key, None)
            st.rerun()
    c1, c2 = st.columns(2)
    c1.button(
        "Restore row" if dropped else "Drop row",
        key=f"edit_drop_{key}",
        disabled=not editor,
        on_click=apply,
        args=(
            info.id,
            [RowChange(row_id, loaded, drop=not dropped)],
            "restored row" if dropped else "dropped row",
            part,
        ),
    )
    history = ws.corrections(info.id, part)
    history = history[history["row_id"] == row_id]
    if len(history):
        st.markdown("**History of this row**")
        # What a reviewer needs, not the store's bookkeeping (ids, versions, the undo link).
        newest_first = history.iloc[::-1]
        table = newest_first.assign(
            change=newest_first["change_id"],
            time=[when(t) for t in newest_first["created_at"]],
            before=newest_first["before"].astype(str),
            after=newest_first["after"].astype(str),
            # Typed by people: a bidi override or zero-width character is shown as its code.
            author=newest_first["author"].map(display.visible),
            reason=newest_first["reason"].map(display.visible),
        )
        st.dataframe(
            table[["change", "time", "author", "field", "before", "after", "reason"]],
            hide_index=True,
            width="stretch",
            key="edit_history",
            column_config={
                "change": st.column_config.NumberColumn("change", format="#%d", width="small"),
                "time": st.column_config.TextColumn("time", width=125),
            },
        )
        last = int(history["change_id"].max())
        redoes = undoes_of(history, last)
        c2.button(
            f"Undo change #{last}" + (f" (redo #{redoes})" if redoes is not None else ""),
            key="edit_undo_last",
            disabled=not editor,
            on_click=undo,
            args=(info.id, last, redoes),
        )


def audit_log(info: DatasetInfo) -> None:
    log = ws.corrections(info.id)
    if log.empty:
        st.info("No corrections yet. Every accepted suggestion and edit appears here with its author and time.")
        return
    undone = ws.undone_by(info.id)
    st.markdown("**Latest changes**")
    for entry in log.iloc[::-1].head(5).itertuples():
        # Names, reasons, row ids and values come from people and files: escaped, so they show as typed.
        # No code spans around them: a backslash does not escape a backtick inside one, so an id holding
        # a backtick would end the span and the rest would be read as markdown.
        who, why, rid = display.plain(entry.author), display.plain(entry.reason), display.plain(entry.row_id)
        before, after = display.plain(entry.before), display.plain(entry.after)
        st.markdown(
            f"`#{entry.change_id}` **{who}** · {when(entry.created_at)} · row **{rid}** · "
            f"{display.plain(entry.field)}: {before} → {after} · _{why}_",
            help=None,
        )
    c1, c2, c3 = st.columns(3)
    who = c1.multiselect(
        "Author",
        sorted(log["author"].unique()),
        format_func=display.visible,
        key="log_author",
        persist_state=SESSION,
        placeholder="everyone",
    )
    fields = c2.multiselect(
        "Field", sorted(log["field"].unique()), key="log_field", persist_state=SESSION, placeholder="all fields"
    )
    rid = c3.text_input("Row id", key="log_row", persist_state=SESSION).strip()
    shown = log
    if who:
        shown = shown[shown["author"].isin(who)]
    if fields:
        shown = shown[shown["field"].isin(fields)]
    if rid:
        shown = shown[shown["row_id"] == rid]
    view = shown.iloc[::-1].rename(columns={"row_id": "row id", "change_id": "change"})
    view = view.assign(
        time=[when(t) for t in view["created_at"]],
        before=view["before"].astype(str),
        after=view["after"].astype(str),
        author=view["author"].map(display.visible),
        reason=view["reason"].map(display.visible),
        **{"undone by": [f"#{undone[c]}" if c in undone else "" for c in view["change"]]},
    )
    st.dataframe(
        view[["change", "time", "author", "part", "row id", "field", "before", "after", "reason", "undone by"]],
        hide_index=True,
        width="stretch",
        height=360,
        key="log_table",
        column_config={
            "change": st.column_config.NumberColumn("change", format="#%d", width="small"),
            "time": st.column_config.TextColumn("time", width=125),
            "undone by": st.column_config.TextColumn("undone by", width="small"),
        },
    )
    # One line per change set; a change already undone is marked and cannot be undone again.
    sets = log.groupby("change_id").agg(
        author=("author", "first"), time=("created_at", "first"), reason=("reason", "first"), rows=("row_id", "nunique")
    )
    change_ids = sorted(sets.index.tolist(), reverse=True)

    def describe(cid: int) -> str:
        entry = sets.loc[cid]
        # The undone mark goes first: long reasons are cut off at the end of the line.
        mark = f" (undone by #{undone[cid]})" if cid in undone else ""
        # Select-box options are drawn as plain text: no markdown escaping, but hidden characters shown.
        reason, who = display.visible(entry["reason"]), display.visible(entry["author"])
        return f"#{cid}{mark} · {reason} · {who}, {when(entry['time'])} · {entry['rows']:,} row(s)"

    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    live = [c for c in change_ids if c not in undone]
    pick = c1.selectbox(
        "Change to undo",
        change_ids,
        index=change_ids.index(live[0]) if live else 0,
        format_func=describe,
        key="log_undo_pick",
    )
    pick = int(pick)
    if pick in undone:
        c2.button(f"Undo change #{pick}", key="log_undo", disabled=True)
        st.caption(
            f":material/undo: Change #{pick} was already undone by #{undone[pick]}. "
            f"To bring it back, undo #{undone[pick]} (a redo)."
        )
    else:
        redoes = undoes_of(log, pick)
        c2.button(
            f"Undo change #{pick}" + (f" (redo #{redoes})" if redoes is not None else ""),
            key="log_undo",
            disabled=not editor,
            on_click=undo,
            args=(info.id, pick, redoes),
        )
    st.download_button(
        "Download audit log (CSV)",
        log.to_csv(index=False),
        file_name=f"{info.name}-audit-log.csv",
        mime="text/csv",
        key="log_download",
        on_click="ignore",
    )


def import_export(info: DatasetInfo, frames: dict[str, pd.DataFrame], revision: int) -> None:
    st.markdown("#### Export")
    c1, c2 = st.columns(2)
    part = c1.selectbox("Part", list(info.parts), key="export_part")
    fmts = list(FORMAT_LABELS)
    original = info.parts[part].fmt
    fmt = c2.selectbox(
        "Format",
        fmts,
        index=fmts.index(original) if original in fmts else 0,
        format_func=lambda f: FORMAT_LABELS[f] + (" (as imported)" if f == original else ""),
        key="export_format",
    )
    frame = frames[part].drop(columns="_version")
    ext = "csv" if fmt == "csv" else "json"
    st.caption(f"{len(frame):,} rows at revision {revision}: corrections applied, dropped rows left out.")

    def cleaned() -> bytes:
        return export_frame(frame, fmt=fmt, schema=info.schema)

    st.download_button(
        f"Download cleaned {part} ({FORMAT_LABELS[fmt]})",
        cleaned,
        file_name=f"{info.name}-{part}-clean-r{revision}.{ext}",
        mime="text/csv" if ext == "csv" else "application/json",
        type="primary",
        key="export_download",
        on_click="ignore",
    )
    swap = entity_swap(frames["train"].drop(columns="_version"), schema=info.schema)
    st.download_button(
        f"Download entity-swap augmentation ({len(swap.frame):,} new train rows)",
        lambda: export_frame(swap.frame, fmt=fmt, schema=info.schema),
        file_name=f"{info.name}-train-swap-r{revision}.{ext}",
        key="export_swap",
        on_click="ignore",
        help="Subject and object swapped for inverse (parents↔children, members↔member_of) and symmetric "
        f"relations; {swap.skipped_type:,} rows skipped because the swapped subject type does not fit the new label.",
    )
    st.divider()
    st.markdown("#### Dev split")
    split = ws.split(info.id)
    if split:
        st.markdown(
            f"**{display.plain(split.name)}**: **{len(split.train_ids):,}** train / "
            f"**{len(split.dev_ids):,}** dev ids, "
            f"stratified by label, seed {split.seed}, made at revision {split.revision} on {when(split.created_at)} "
            f"by {display.plain(split.created_by)}. "
            "Every training run and ensemble uses these ids."
        )
        ids = pd.DataFrame(
            {
                "id": split.train_ids + split.dev_ids,
                "split": ["train"] * len(split.train_ids) + ["dev"] * len(split.dev_ids),
            }
        )
        st.download_button(
            "Download split ids (CSV)",
            ids.to_csv(index=False),
            file_name=f"{info.name}-split.csv",
            key="split_download",
            on_click="ignore",
        )
    if editor:
        with st.form("split_form"):
            c1, c2 = st.columns(2)
            fraction = c1.slider(
                "Dev share", 0.05, 0.3, split.dev_fraction if split else 0.1, 0.01, key="split_fraction"
            )
            seed = c2.number_input("Seed", 0, 2**31 - 1, split.seed if split else 42, key="split_seed")
            remake = st.form_submit_button("Remake the split from the current rows")
        # Checked again at the click: the session may have lost its editor right since the form was drawn.
        if remake and common.require_editor("Making a dev split"):
            with common.user_errors(show="inline") as failed:
                made = create_split(
                    ws, info.id, dev_fraction=fraction, seed=int(seed), author=common.identity() or "unknown"
                )
            if not failed:
                st.success(f"New split: {len(made.train_ids):,} train / {len(made.dev_ids):,} dev.")
    else:
        common.require_editor("Making a dev split")
    st.divider()
    st.markdown("#### Import another dataset")
    import_form()


# -- page -------------------------------------------------------------------------------------
st.title("Data")
common.show_flash()
# The import summary goes next to the import form; on a page without the form, up here.
top = st.container()
info = common.selected_dataset(ws)
if info is None:
    st.info("The workspace is empty. Import a dataset (or run `python -m core seed` for the demo data).")
    import_form()
    st.stop()
revision = ws.revision(info.id)
frames = {part: common.current_frame(root, info.id, part, revision) for part in info.parts}
train = frames["train"]
versions = common.row_versions(root, info.id, "train", revision)

with st.sidebar:
    threshold = st.slider(
        "Minority-type threshold",
        0.01,
        0.20,
        common.MINORITY_THRESHOLD,
        0.01,
        key=common.MINORITY_THRESHOLD_KEY,
        persist_state=SESSION,
        help="A type whose share among a label's rows is below this is flagged, with the majority type as the fix.",
    )
report = common.audit_report(root, info.id, revision, threshold)
counts = flag_counts(finder_input(info, report, train))

cols = st.columns(6)
cols[0].metric("Train rows", f"{len(train):,}")
cols[1].metric("Test rows", f"{len(frames['test']):,}" if "test" in frames else "—")
cols[2].metric("Invalid rows", f"{counts['Invalid rows']:,}")
cols[3].metric("Type flags", f"{counts['Type flags']:,}")
cols[4].metric("Duplicates · conflicts", f"{counts['Duplicates']:,} · {counts['Conflicts']:,}")
cols[5].metric("Revision", revision, help="Grows with every saved change set.")
if not editor:
    st.caption(":material/lock: Read-only session: browse and download; changes, imports and splits are for editors.")
elif not author:
    st.caption(":material/info: Set your name in the sidebar to make corrections.")

# A link from another page (Evaluate's "edit in Data": ?edit=<row id>&part=train) opens the row editor on it.
if st.query_params.get("edit"):
    st.session_state["data_section"] = "Edit row"
    st.session_state["edit_id"] = st.query_params["edit"]
    if st.query_params.get("part") in info.parts:
        st.session_state["edit_part"] = st.query_params["part"]
    for param in ("edit", "part"):
        st.query_params.pop(param, None)
section = (
    st.segmented_control(
        "Section",
        SECTIONS,
        key="data_section",
        persist_state=SESSION,
        default=SECTIONS[0],
        label_visibility="collapsed",
    )
    or SECTIONS[0]
)
if section != "Import & export":
    with top:
        show_import_summary()
if section == "Overview":
    overview(info, report, frames.get("test"))
elif section == "Flags":
    flags(info, report, train, versions)
elif section == "Edit row":
    edit_frames = {p: common.current_frame(root, info.id, p, revision, include_dropped=True) for p in info.parts}
    edit_row(info, edit_frames)
elif section == "Audit log":
    audit_log(info)
else:
    import_export(info, frames, revision)
