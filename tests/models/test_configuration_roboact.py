"""RoboActConfig validation, presets and their loader."""

from __future__ import annotations

import json

import pytest
from roboact.models import RoboActConfig, list_model_configs, load_model_config

from roboact.config import load_config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("n_frames", 1, "n_frames must be >= 2"),
        ("embed_dim", 0, "embed_dim must be a positive int"),
        ("attn_heads", 3, "attn_heads=3 must divide hidden_dim=512"),
        ("transformer_heads", 5, "transformer_heads=5 must divide hidden_dim=512"),
        ("dropout", 1.0, "dropout must be in"),
        ("temperature", 0.0, "temperature must be > 0"),
        ("bank_momentum", 1.0, "bank_momentum must be in"),
        ("lambda_aux", -1.0, "lambda_aux must be >= 0"),
        ("num_actions", -2, "num_actions must be an int >= 0"),
        ("pos_encoding", "rope", "pos_encoding must be one of"),
        ("attn_tokens", "all", "attn_tokens must be one of"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        RoboActConfig(**{field: value})


def test_presets_load_by_name_with_overrides_and_round_trip(tmp_path):
    assert {"roboact_base", "roboact_tiny"} <= set(list_model_configs())
    base = load_model_config("roboact_base")
    assert base == RoboActConfig()  # the base preset is the paper's defaults
    tiny = load_model_config("roboact_tiny", n_frames=2, num_actions=5)
    assert (tiny.n_frames, tiny.num_actions) == (2, 5) and tiny.hidden_dim < base.hidden_dim
    tiny.save(tmp_path / "c.json")
    assert load_model_config(tmp_path / "c.json") == tiny


def test_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="roboact_huge.*presets: .*roboact_base"):
        load_model_config("roboact_huge")
    with pytest.raises(ValueError, match="unknown override field"):
        load_model_config("roboact_base", n_frame=8)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"n_frames": 16, "colour": "red"}))
    with pytest.raises(ValueError, match=r"bad.json: RoboActConfig: unknown field\(s\) \['colour'\]"):
        load_model_config(bad)


def test_the_config_nests_in_omegaconf_run_configs():
    cfg = load_config(RoboActConfig, None, ["n_frames=8", "use_aux=false"])
    assert cfg.n_frames == 8 and cfg.use_aux is False
