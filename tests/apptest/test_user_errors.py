"""``views.common.user_errors``: the one place the views catch a core refusal. A RestudioError (or a
ValueError / OSError) becomes a message shown as text, inline or on the next run; a bug keeps its traceback."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.serve.display import plain


def _page() -> None:
    import streamlit as st

    from core.jobs import JobError
    from core.store.workspace import ConflictError
    from views import common

    kind = st.session_state.get("kind", "conflict")
    with common.user_errors("Not saved: ", show="inline") as failed:
        if kind == "conflict":
            raise ConflictError("Row `x` **7** was changed by ann.")
        if kind == "bug":
            raise KeyError("a bug")
    st.write(f"failed={bool(failed)}")
    with common.user_errors() as queued:
        raise JobError("Queue full")
    st.write(f"queued={bool(queued)}")
    common.show_flash()


def test_a_refusal_is_shown_as_text_and_a_bug_is_not_swallowed() -> None:
    at = AppTest.from_function(_page, default_timeout=30)
    at.run()
    assert not at.exception
    assert at.error[0].value == "Not saved: " + plain("Row `x` **7** was changed by ann.")
    assert r"\`x\` \*\*7\*\*" in at.error[0].value  # markdown shown as text
    assert [m.value for m in at.markdown][:2] == ["failed=True", "queued=True"]
    at.run()  # the flashed message shows on the next run
    assert "Queue full" in [e.value for e in at.error]
    at.session_state["kind"] = "bug"
    at.run()
    assert at.exception  # redacted in the browser (showErrorDetails = "none"), in full in the server log
