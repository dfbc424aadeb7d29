"""AppTest fixtures: a seeded demo workspace, and the app pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.workspaces import demo_workspace

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory) -> Path:
    return demo_workspace(tmp_path_factory.mktemp("demo-ws"))


@pytest.fixture
def make_app(monkeypatch) -> Callable[..., AppTest]:
    def make(home: Path, *, author: str = "", section: str | None = None) -> AppTest:
        monkeypatch.setenv("RESTUDIO_HOME", str(home))
        monkeypatch.setenv("RESTUDIO_NO_WATCHER", "1")  # jobs stay queued: nothing trains behind the test
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        assert not at.exception, at.exception
        if author:
            at.text_input(key="author").set_value(author)
        if section:
            at.segmented_control(key="data_section").set_value(section)
        if author or section:
            at.run()
            assert not at.exception, at.exception
        return at

    return make
