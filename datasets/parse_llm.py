"""LLM action parser: Algorithm 1 line 4, the paper's DeepSeek R1 query, on any OpenAI-compatible API.

Why the ``openai`` client: it speaks every OpenAI-compatible endpoint (DeepSeek, vLLM, Ollama, ...)
and already retries connection errors, timeouts, 429 and 5xx with exponential backoff
(``max_retries``). On top of that this module adds what a dataset build needs:

- the paper's prompt ("Identify the number of actions, with verbs and objects, in: T") with a
  system message asking for JSON, validated against ``PARSE_SCHEMA`` (and ``num_actions`` must equal
  the number of listed actions);
- a malformed or off-schema reply is asked again (``max_attempts``), then returned as *unparsed*
  with the reply text, never raised;
- an on-disk cache keyed by sha256(model, prompt version, text): a rerun makes no calls. Final
  answers are cached (unparsed ones included, with their reply); endpoint failures are not, so a
  rerun retries them;
- the API key comes from the environment only and is scrubbed from every message this module
  logs or returns, and from everything the model sends back (the reply, the actions parsed from
  it, the reason) before it is cached, returned or written to ``rejected.jsonl``: a model can
  echo the key (a prompt injection in an instruction, a proxy that repeats the request).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from roboact.datasets.lexicon import canonical_action
from roboact.datasets.parsing import PARSE_SCHEMA, Action, ParseResult

SCRUBBED = "***"

logger = logging.getLogger(__name__)

PROMPT_VERSION = "alg1-v1"
KEY_ENV_VARS = ("ROBOACT_LLM_API_KEY", "DEEPSEEK_API_KEY", "OPENAI_API_KEY")
SYSTEM_PROMPT = (
    "You annotate robot manipulation instructions. Answer with one JSON object only, no prose: "
    '{"num_actions": <integer>, "actions": [{"verb": "<verb>", "object": "<object noun phrase>"}]}. '
    "List every atomic action in execution order; verbs in base form (phrasal verbs such as "
    '"pick up" or "turn on" kept whole); objects without articles.'
)


def user_prompt(text: str) -> str:
    """The paper's query (Algorithm 1, line 4)."""
    return f"Identify the number of actions, with verbs and objects, in: {text}"


class LLMConfigError(ValueError):
    """The LLM parser cannot start (no API key, bad setting); the message never holds the key."""


@dataclass
class LLMConfig:
    """Endpoint and retry settings of the LLM parser; the key is read from the environment only."""

    base_url: str = field(
        default_factory=lambda: os.environ.get("ROBOACT_LLM_BASE_URL", "https://api.deepseek.com")
    )
    """OpenAI-compatible base URL (env ``ROBOACT_LLM_BASE_URL``); DeepSeek by default."""
    model: str = field(default_factory=lambda: os.environ.get("ROBOACT_LLM_MODEL", "deepseek-reasoner"))
    """Model name (env ``ROBOACT_LLM_MODEL``); the paper uses DeepSeek R1 = ``deepseek-reasoner``."""
    timeout: float = 120.0
    """Seconds per HTTP request before it counts as a timeout (R1 reasons for a while)."""
    max_retries: int = 4
    """Transport retries (timeouts, connection errors, 429, 5xx) with exponential backoff."""
    max_attempts: int = 3
    """Requests per text while replies are malformed or off-schema; then the text is unparsed."""
    retry_wait: float = 1.0
    """Seconds before asking again after a malformed reply (doubles each attempt)."""
    json_mode: bool = True
    """Send ``response_format={"type": "json_object"}`` (DeepSeek's JSON output mode)."""
    cache_dir: str = field(
        default_factory=lambda: os.environ.get("ROBOACT_LLM_CACHE", str(Path.home() / ".cache/roboact/llm"))
    )
    """Directory of cached answers (env ``ROBOACT_LLM_CACHE``)."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise LLMConfigError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.timeout <= 0:
            raise LLMConfigError(f"timeout must be > 0, got {self.timeout}")


def api_key_from_env() -> str:
    """The first non-empty key among ``KEY_ENV_VARS``."""
    for name in KEY_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    raise LLMConfigError(f"the llm parser needs an API key: set one of {', '.join(KEY_ENV_VARS)}")


def cache_key(model: str, text: str) -> str:
    """sha256 of (model, prompt version, text): the answer's identity."""
    return hashlib.sha256(json.dumps([model, PROMPT_VERSION, text]).encode()).hexdigest()


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_THINK = re.compile(r"<think>.*?</think>", re.S)


def parse_reply(reply: str) -> ParseResult:
    """Validate one model reply; raises ``ValueError`` describing what is wrong with it."""
    body = _THINK.sub("", reply or "").strip()
    fenced = _FENCE.search(body)
    if fenced:
        body = fenced.group(1).strip()
    if not body.startswith("{"):
        start, end = body.find("{"), body.rfind("}")
        if start < 0 or end <= start:
            raise ValueError("reply holds no JSON object")
        body = body[start : end + 1]
    try:
        data = json.loads(body)
    except json.JSONDecodeError as err:
        raise ValueError(f"reply is not valid JSON ({err.msg} at char {err.pos})") from err
    try:
        jsonschema.validate(data, PARSE_SCHEMA)
    except jsonschema.ValidationError as err:
        raise ValueError(f"reply is off-schema: {err.message}") from err
    if data["num_actions"] != len(data["actions"]):
        raise ValueError(
            f"reply says num_actions={data['num_actions']} but lists {len(data['actions'])} actions"
        )
    actions = [
        Action(verb=canonical_action(a["verb"], strict=False), object=_clean_object(a["object"]))
        for a in data["actions"]
    ]
    return ParseResult(num_actions=data["num_actions"], actions=actions)


def _clean_object(text: str) -> str:
    words = [w for w in re.findall(r"[\w'-]+", text.lower()) if w not in ("the", "a", "an")]
    return " ".join(words)


class LLMParser:
    """Algorithm 1's DeepSeek R1 query with retries, schema validation and an answer cache."""

    name = "llm"

    def __init__(self, config: LLMConfig | None = None, api_key: str | None = None) -> None:
        self.config = config or LLMConfig()
        self._key = api_key or api_key_from_env()
        self.cache_dir = Path(self.config.cache_dir).expanduser()
        self.calls = 0
        """HTTP requests made by this parser (0 on a rerun served from the cache)."""
        self._client: Any = None

    def _scrub(self, message: str) -> str:
        """``message`` without the key, in any letter case (parsed objects are lower-cased)."""
        if not self._key or not message:
            return message
        return re.sub(re.escape(self._key), SCRUBBED, message, flags=re.IGNORECASE)

    def _scrub_result(self, result: ParseResult) -> ParseResult:
        """Every string of a result scrubbed: a key JSON-escaped in the reply survives decoding."""
        result.actions = [
            Action(verb=self._scrub(a.verb), object=self._scrub(a.object)) for a in result.actions
        ]
        result.reason = self._scrub(result.reason)
        result.reply = self._scrub(result.reply) if result.reply is not None else None
        return result

    @property
    def client(self) -> Any:
        if self._client is None:
            import openai

            self._client = openai.OpenAI(
                api_key=self._key,
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=self.config.max_retries,
            )
        return self._client

    # -- cache ---------------------------------------------------------------------------------------
    def _cache_path(self, text: str) -> Path:
        digest = cache_key(self.config.model, text)
        return self.cache_dir / digest[:2] / f"{digest}.json"

    def _cached(self, text: str) -> ParseResult | None:
        path = self._cache_path(text)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            result = ParseResult(
                num_actions=int(entry["num_actions"]),
                actions=[Action(**a) for a in entry["actions"]],
                ok=bool(entry["ok"]),
                reason=entry.get("reason", ""),
                reply=entry.get("reply"),
                cached=True,
            )
        except (ValueError, KeyError, TypeError) as err:
            logger.warning("ignoring unreadable LLM cache entry %s (%s)", path, err)
            return None
        return self._scrub_result(result)  # an entry written before replies were scrubbed

    def _store(self, text: str, result: ParseResult) -> None:
        result = self._scrub_result(result)
        path = self._cache_path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        entry = {
            "model": self.config.model,
            "prompt_version": PROMPT_VERSION,
            "text": text,
            "num_actions": result.num_actions,
            "actions": [{"verb": a.verb, "object": a.object} for a in result.actions],
            "ok": result.ok,
            "reason": result.reason,
            "reply": result.reply,
        }
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash never leaves half an entry

    # -- query ---------------------------------------------------------------------------------------
    def _ask(self, text: str) -> str:
        kwargs: dict[str, Any] = {
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(text)},
            ],
        }
        if self.config.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        self.calls += 1
        response = self.client.chat.completions.create(**kwargs)
        return self._scrub(response.choices[0].message.content or "")  # before anything reads it

    def parse(self, text: str) -> ParseResult:
        """Parse one instruction; endpoint failures and bad replies come back as unparsed results."""
        import openai

        cached = self._cached(text)
        if cached is not None:
            return cached
        last_reply, problem = "", ""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                last_reply = self._ask(text)
            except openai.OpenAIError as err:  # already retried with backoff by the client
                problem = self._scrub(f"{type(err).__name__}: {err}")
                logger.warning("LLM endpoint %s failed for %r: %s", self.config.base_url, text[:80], problem)
                return ParseResult(num_actions=0, ok=False, reason=f"llm_error: {problem}", reply=None)
            try:
                result = parse_reply(last_reply)
            except ValueError as err:
                problem = self._scrub(str(err))  # a schema error quotes the offending value
                logger.warning(
                    "LLM reply %d/%d for %r rejected: %s",
                    attempt,
                    self.config.max_attempts,
                    text[:80],
                    problem,
                )
                if attempt < self.config.max_attempts:
                    time.sleep(self.config.retry_wait * 2 ** (attempt - 1))
                continue
            result.reply = last_reply
            self._store(text, result)
            return result
        result = ParseResult(num_actions=0, ok=False, reason=f"bad_reply: {problem}", reply=last_reply)
        self._store(text, result)
        return result
