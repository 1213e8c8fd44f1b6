"""Fixtures of the datasets tests: tiny RH20T / BridgeData V2 trees, a fake LLM server, a fake encoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.datasets import fake_encoder
from tests.datasets.fake_llm import FakeLLM, serve
from tests.datasets.trees import make_bridge, make_rh20t


@pytest.fixture
def rh20t_tree(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "RH20T"
    return root, make_rh20t(root)


@pytest.fixture
def bridge_tree(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "bridge"
    return root, make_bridge(root)


@pytest.fixture
def fake_llm():
    """A running fake OpenAI-compatible server: yields (FakeLLM, base_url)."""
    fake = FakeLLM()
    server, url = serve(fake)
    yield fake, url
    server.shutdown()
    server.server_close()


@pytest.fixture
def llm_env(fake_llm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Environment of an ``llm`` parser pointed at the fake server; yields (FakeLLM, config dict)."""
    fake, url = fake_llm
    monkeypatch.setenv("ROBOACT_LLM_API_KEY", "sk-test-SECRET-4242")
    config = {
        "base_url": url,
        "model": "deepseek-reasoner",
        "cache_dir": str(tmp_path / "llm_cache"),
        "timeout": 2.0,
        "max_retries": 2,
        "retry_wait": 0.0,
    }
    yield fake, config


@pytest.fixture(scope="session")
def fake_encoder_factory():
    """The fake encoder's factory, pickled by value so Ray workers need not import ``tests``."""
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(fake_encoder)
    return fake_encoder.make_fake_encoder
