"""Action parsing results and parser selection (Algorithm 1, lines 3-8).

A parser turns an instruction ``T`` into "the number of actions, with verbs and objects" (the
paper's DeepSeek R1 prompt). Two parsers share this result type: ``rules`` (offline, the lexicon of
``lexicon.py``) and ``llm`` (any OpenAI-compatible endpoint). Algorithm 1 keeps a clip only when its
instruction parses to exactly one action (lines 5-8); ``single_action`` decides that.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# JSON schema every parser answer (and every LLM reply) must satisfy.
PARSE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "num_actions": {"type": "integer", "minimum": 0},
        "actions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "verb": {"type": "string", "minLength": 1},
                    "object": {"type": "string"},
                },
                "required": ["verb", "object"],
            },
        },
    },
    "required": ["num_actions", "actions"],
}


@dataclass(frozen=True)
class Action:
    """One atomic action of an instruction: canonical verb and its object noun phrase."""

    verb: str
    object: str


@dataclass
class ParseResult:
    """What a parser says about one instruction.

    ``ok`` is False when the parser could not produce a valid answer (an LLM reply that stayed
    malformed after retries, an endpoint that kept failing); ``reason`` and ``reply`` then say why.
    """

    num_actions: int
    actions: list[Action] = field(default_factory=list)
    ok: bool = True
    reason: str = ""
    reply: str | None = None
    cached: bool = False

    def to_json(self) -> dict[str, Any]:
        """The issue's ``--json`` shape: ``{"num_actions": k, "actions": [{"verb", "object"}]}``."""
        out: dict[str, Any] = {
            "num_actions": self.num_actions,
            "actions": [{"verb": a.verb, "object": a.object} for a in self.actions],
        }
        if not self.ok:
            out["unparsed"] = {"reason": self.reason, "reply": self.reply}
        return out

    @property
    def single_action(self) -> Action | None:
        """The action when the instruction is a single atomic action with an object (Alg. 1 l. 5-8)."""
        if self.ok and self.num_actions == 1 and len(self.actions) == 1 and self.actions[0].object:
            return self.actions[0]
        return None

    @property
    def reject_reason(self) -> str | None:
        """Why Algorithm 1 would discard this instruction, or None when it keeps it."""
        if not self.ok:
            return "unparsed"
        if self.num_actions == 0 or not self.actions:
            return "no_action"
        if self.num_actions > 1 or len(self.actions) > 1:
            return "multi_action"
        if not self.actions[0].object:
            return "no_object"
        return None


class ActionParser(Protocol):
    """Anything with a name and ``parse(text) -> ParseResult``."""

    name: str

    def parse(self, text: str) -> ParseResult: ...


def make_parser(name: str, **options: Any) -> ActionParser:
    """``rules`` (offline) or ``llm`` (OpenAI-compatible endpoint; ``options`` fill ``LLMConfig``)."""
    if name == "rules":
        from roboact.datasets.parse_rules import RuleParser

        return RuleParser()
    if name == "llm":
        from roboact.datasets.parse_llm import LLMConfig, LLMParser

        return LLMParser(LLMConfig(**options))
    raise ValueError(f"unknown parser {name!r}; use 'rules' or 'llm'")
