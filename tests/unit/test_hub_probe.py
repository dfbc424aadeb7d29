"""A hub id that is not in the local cache: the config check asks the hub once, briefly, and an offline
machine gets one line that says so and how to make the model available (instead of a job that retries for a
minute and dies with the hub library's message)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request

import pytest

from core.train import config as train_config
from core.train.config import ConfigError
from core.train.training import validate

MODEL = "klue-studio-test/never-cached-model"


@pytest.fixture
def home(tmp_path):
    from core.data.importing import seed_demo
    from core.store.workspace import Workspace

    seed_demo(Workspace(tmp_path))
    return str(tmp_path)


@pytest.fixture
def blocked_network(monkeypatch) -> list[str]:
    """Every name lookup and connection fails at once, and is recorded."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(str(args[:1]))
        raise OSError("network blocked by the test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return attempts


def test_an_uncached_hub_id_with_the_network_blocked_is_refused_in_one_line(home, blocked_network) -> None:
    with pytest.raises(ConfigError) as caught:
        validate({"workspace": home, "model": MODEL})
    message = str(caught.value)
    assert "is not in the local Hugging Face cache and the hub cannot be reached" in message
    assert f"huggingface-cli download {MODEL}" in message and "local folder" in message
    assert "\n" not in message
    assert len(blocked_network) == 1  # one try, no retries


def test_hf_hub_offline_is_respected_without_touching_the_network(home, blocked_network, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="HF_HUB_OFFLINE=1"):
        validate({"workspace": home, "model": MODEL})
    assert blocked_network == []


def test_a_hub_that_does_not_answer_is_given_up_on_after_the_probe_timeout(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(train_config, "HUB_PROBE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: time.sleep(5))  # a name lookup that hangs
    assert "did not answer within 0.2 s" in train_config.hub_unavailable(MODEL)


def test_what_the_hub_answers(monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    seen = []

    class Answer:
        def close(self) -> None:
            pass

    def found(request, timeout):
        seen.append((request.get_method(), request.full_url, timeout))
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", found)
    assert train_config.hub_unavailable(MODEL) is None
    method, url, timeout = seen[0]
    assert method == "HEAD" and url.endswith(f"{MODEL}/resolve/main/config.json") and timeout <= 5

    def missing(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 404, "Not Found", {}, None)

    monkeypatch.setattr(urllib.request, "urlopen", missing)
    assert "is not on the hub, or it is private or gated (HTTP 404)" in train_config.hub_unavailable(MODEL)
