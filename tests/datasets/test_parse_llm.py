"""The LLM parser against a fake OpenAI-compatible server: retries, schema checks, cache, key hygiene."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from roboact.datasets.parse_llm import LLMConfig, LLMConfigError, LLMParser, cache_key, parse_reply

from tests.datasets.fake_llm import Reply

KEY = "sk-test-SECRET-4242"
PICK = json.dumps({"num_actions": 1, "actions": [{"verb": "pick up", "object": "the red cup"}]})


def parser(config: dict, **overrides) -> LLMParser:
    return LLMParser(LLMConfig(**{**config, **overrides}))


def test_valid_reply_is_parsed_with_the_papers_prompt_and_canonical_verbs(llm_env) -> None:
    fake, config = llm_env
    fake.script.append(Reply(content=PICK))
    result = parser(config).parse("Pick up the red cup")
    assert result.ok and result.num_actions == 1
    assert (result.actions[0].verb, result.actions[0].object) == ("pick", "red cup")
    body = fake.requests[0]["body"]
    assert body["model"] == "deepseek-reasoner"
    assert (
        body["messages"][-1]["content"]
        == "Identify the number of actions, with verbs and objects, in: Pick up the red cup"
    )
    assert body["response_format"] == {"type": "json_object"}
    assert fake.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"


def test_malformed_then_valid_reply_is_retried(llm_env) -> None:
    fake, config = llm_env
    fake.script += [Reply(content="Sure! There is one action: pick."), Reply(content=PICK)]
    result = parser(config).parse("Pick up the red cup")
    assert result.ok and result.single_action is not None
    assert len(fake.requests) == 2


def test_reply_that_stays_off_schema_is_recorded_unparsed_with_the_reply(llm_env) -> None:
    fake, config = llm_env
    bad = json.dumps({"count": 1, "verbs": ["pick"]})
    fake.script += [Reply(content=bad)] * 3
    result = parser(config, max_attempts=3).parse("Pick up the cup")
    assert not result.ok and result.reject_reason == "unparsed"
    assert result.reply == bad and "off-schema" in result.reason
    assert len(fake.requests) == 3


def test_inconsistent_count_is_off_schema() -> None:
    with pytest.raises(ValueError, match="num_actions=2"):
        parse_reply(json.dumps({"num_actions": 2, "actions": [{"verb": "pick", "object": "cup"}]}))


def test_reasoning_and_code_fences_around_json_are_accepted() -> None:
    reply = "<think>two steps? no, one</think>\n```json\n" + PICK + "\n```"
    assert parse_reply(reply).actions[0].object == "red cup"


def test_server_errors_and_timeouts_are_retried_by_the_client(llm_env) -> None:
    fake, config = llm_env
    fake.script += [Reply(status=500), Reply(content=PICK, delay=3.0), Reply(content=PICK)]
    result = parser(config, timeout=0.5, max_retries=3).parse("Pick up the red cup")
    assert result.ok and result.num_actions == 1
    assert len(fake.requests) == 3  # 500, timed out, answered


def test_endpoint_that_keeps_failing_gives_unparsed_llm_error_not_a_crash(llm_env) -> None:
    fake, config = llm_env
    fake.script += [Reply(status=500)] * 3
    result = parser(config, max_retries=1).parse("Pick up the cup")
    assert not result.ok and result.reason.startswith("llm_error")
    assert len(fake.requests) == 2


def test_second_run_is_served_wholly_from_the_cache(llm_env, tmp_path) -> None:
    fake, config = llm_env
    texts = ["Pick up the cup", "Open the drawer and then put the cup inside", "Turn on the lamp"]
    first = parser(config)
    answers = [first.parse(t).to_json() for t in texts]
    assert first.calls == 3
    second = parser(config)
    assert [second.parse(t).to_json() for t in texts] == answers
    assert second.calls == 0 and len(fake.requests) == 3
    # a different model is a different key
    assert cache_key("deepseek-reasoner", texts[0]) != cache_key("deepseek-chat", texts[0])


def test_unparsed_answers_are_cached_but_endpoint_failures_are_not(llm_env) -> None:
    fake, config = llm_env
    fake.script += [Reply(content="not json")] * 2 + [Reply(status=500)] * 2
    p = parser(config, max_attempts=2, max_retries=1)
    assert not p.parse("Wipe the table").ok
    assert not p.parse("Fold the towel").ok  # endpoint failure
    again = parser(config)
    assert again.parse("Wipe the table").cached
    assert again.parse("Fold the towel").ok and again.calls == 1  # retried, now answered


def test_the_key_never_appears_in_logs_or_errors(llm_env, caplog, monkeypatch) -> None:
    fake, config = llm_env
    caplog.set_level(logging.DEBUG)
    fake.script += [Reply(content="garbage")] * 2 + [Reply(status=500)] * 3
    p = parser(config, max_attempts=2, max_retries=1)
    results = [p.parse("Pick up the cup"), p.parse("Push the box")]
    text = caplog.text + json.dumps([r.to_json() for r in results])
    assert KEY not in text
    assert "garbage" in text  # the reply itself is kept
    # an error that echoes the key (for example from a proxy) is scrubbed
    assert KEY not in p._scrub(f"401 Incorrect API key provided: {KEY}")
    monkeypatch.delenv("ROBOACT_LLM_API_KEY")
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMConfigError, match="ROBOACT_LLM_API_KEY"):
        LLMParser(LLMConfig(**config))


def test_config_rejects_bad_values() -> None:
    with pytest.raises(LLMConfigError, match="max_attempts"):
        LLMConfig(max_attempts=0)


def _written(config: dict, *paths: Path) -> str:
    """Everything on disk a parse could have written: the cache entries and the given files."""
    files = [*Path(config["cache_dir"]).rglob("*.json"), *paths]
    return "".join(f.read_text(encoding="utf-8") for f in files)


def test_a_reply_that_echoes_the_key_is_scrubbed_before_it_is_cached_or_returned(llm_env) -> None:
    fake, config = llm_env
    echoed = json.dumps({"num_actions": 1, "actions": [{"verb": "pick up", "object": f"the {KEY}"}]})
    off_schema = json.dumps({"num_actions": KEY, "actions": []})  # jsonschema quotes the value
    fake.script += [Reply(content=f"Your key is {KEY}. No JSON today.")] * 2
    fake.script += [Reply(content=echoed)] + [Reply(content=off_schema)] * 2
    p = parser(config, max_attempts=2)
    results = [p.parse("Wipe the table"), p.parse("Pick up the cup"), p.parse("Push the box")]
    assert not results[0].ok and results[0].reply == "Your key is ***. No JSON today."
    assert results[1].ok and results[1].reply == echoed.replace(KEY, "***")
    assert not results[2].ok and "off-schema" in results[2].reason
    returned = json.dumps([r.to_json() for r in results])
    assert KEY.lower() not in (returned + _written(config)).lower()


def test_a_cache_entry_written_before_scrubbing_is_returned_scrubbed(llm_env) -> None:
    _, config = llm_env
    p = parser(config)
    path = p._cache_path("Pick up the cup")
    path.parent.mkdir(parents=True)
    entry = {"num_actions": 0, "actions": [], "ok": False, "reason": "bad_reply", "reply": f"key {KEY}"}
    path.write_text(json.dumps(entry), encoding="utf-8")
    result = p.parse("Pick up the cup")
    assert result.cached and result.reply == "key ***"


def test_rejected_log_never_holds_the_key_a_reply_echoed(bridge_tree, llm_env, tmp_path: Path) -> None:
    from roboact.datasets.build import build_store, default_rejected_path

    root, _ = bridge_tree
    fake, config = llm_env
    fake.script += [Reply(content=f"I cannot, my key {KEY} is for something else.")] * 2
    out = tmp_path / "llm.h5"
    llm = {**config, "max_attempts": 2}
    summary = build_store("bridge", root, out, parser="llm", llm=llm, frames=4, image_size=16, progress=False)
    assert summary["rejected"].get("unparsed") == 1
    log = default_rejected_path(out)
    assert "my key *** is for" in log.read_text()
    assert KEY.lower() not in _written(config, log).lower()
