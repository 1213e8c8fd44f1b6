"""Canonical atomic-action verbs: the one lexicon every source labels its clips with.

Algorithm 1 (Sec. III-A) reduces an instruction to (action, object); Table I counts *distinct atomic
actions*, so surface forms must map to one name each or "pick up", "picks up" and "grab" would count
as three actions. This module owns that mapping; the rule parser, the LLM parser (to normalise the
model's verbs) and the simulated source (for its labels) all call ``canonical_action``.

Decisions (documented in docs/datasets.md):

- Phrasal verbs are matched before single verbs ("pick up" before "pick").
- "pick up", "grab", "grasp", "take up" -> ``pick``; "put", "set", "place", "put down", "lay" ->
  ``place`` (carrying an object to a target and releasing it is one atomic action, whatever verb
  the annotator chose).
- "turn on"/"switch on" -> ``turn on`` and "turn off"/"switch off" -> ``turn off`` stay apart from
  ``turn`` (rotating a knob or faucet): they are opposite state changes with the same motion family.
- "take out", "take", "remove" -> ``take``; "drag" -> ``pull``; "shove" -> ``push``; "raise" ->
  ``lift``; "clean", "wipe off" -> ``wipe``; "knock over", "topple" -> ``knock over``.
- ``rotate`` and ``twist`` stay distinct from ``turn`` (the lexicon of the issue lists them apart).
"""

from __future__ import annotations

import re

# canonical name -> surface forms (base form; inflections are generated below).
CANONICAL_FORMS: dict[str, tuple[str, ...]] = {
    "pick": ("pick up", "pick", "grab", "grasp", "take up", "pick out"),
    "place": ("put down", "put back", "put", "place", "set down", "set", "lay", "lay down"),
    "push": ("push", "shove", "nudge", "push down"),
    "pull": ("pull out", "pull", "drag", "pull open"),
    "open": ("open up", "open"),
    "close": ("close up", "close", "shut"),
    "turn on": ("turn on", "switch on", "power on"),
    "turn off": ("turn off", "switch off", "power off"),
    "turn": ("turn", "turn around", "spin"),
    "rotate": ("rotate",),
    "twist": ("twist",),
    "lift": ("lift up", "lift", "raise", "hold up"),
    "pour": ("pour out", "pour"),
    "wipe": ("wipe off", "wipe", "clean", "scrub", "mop"),
    "fold": ("fold up", "fold"),
    "unfold": ("unfold", "spread out", "spread"),
    "slide": ("slide",),
    "flip": ("flip over", "flip", "turn over"),
    "press": ("press down", "press", "push button", "hit"),
    "insert": ("insert", "put in", "stick in"),
    "plug": ("plug in", "plug"),
    "unplug": ("unplug",),
    "stack": ("stack up", "stack", "pile up", "pile"),
    "unstack": ("unstack",),
    "sweep": ("sweep",),
    "take": ("take out", "take off", "take", "remove", "get"),
    "move": ("move", "shift", "bring", "carry", "relocate", "transfer"),
    "drop": ("drop", "release", "let go of"),
    "throw": ("throw", "toss"),
    "hang": ("hang up", "hang"),
    "stir": ("stir",),
    "scoop": ("scoop up", "scoop"),
    "cut": ("cut", "slice"),
    "screw": ("screw in", "screw", "tighten"),
    "unscrew": ("unscrew", "loosen"),
    "knock over": ("knock over", "knock down", "topple"),
    "squeeze": ("squeeze",),
    "shake": ("shake",),
    "tilt": ("tilt",),
    "stand up": ("stand up", "set upright", "put upright"),
    "uncover": ("uncover", "unwrap"),
    "cover": ("cover",),
    "write": ("write", "draw"),
    "erase": ("erase",),
    "water": ("water",),
    "touch": ("touch", "tap", "poke"),
    "zip": ("zip", "zip up"),
    "unzip": ("unzip",),
    "roll": ("roll",),
    "pack": ("pack",),
    "unpack": ("unpack",),
    "assemble": ("assemble",),
}

# Irregular inflections of lexicon verbs (the regular ones are generated).
_IRREGULAR = {
    "put": ("puts", "putting"),
    "set": ("sets", "setting"),
    "lay": ("lays", "laid", "laying"),
    "shut": ("shuts", "shutting"),
    "take": ("took", "taken", "takes", "taking"),
    "hold": ("held", "holds", "holding"),
    "get": ("got", "gets", "getting"),
    "bring": ("brought", "brings", "bringing"),
    "throw": ("threw", "thrown", "throws", "throwing"),
    "hang": ("hung", "hangs", "hanging"),
    "cut": ("cuts", "cutting"),
    "spin": ("spun", "spins", "spinning"),
    "let": ("lets", "letting"),
    "hit": ("hits", "hitting"),
    "shake": ("shook", "shaken", "shakes", "shaking"),
    "write": ("wrote", "written", "writes", "writing"),
    "draw": ("drew", "drawn", "draws", "drawing"),
    "stand": ("stood", "stands", "standing"),
    "spread": ("spreads", "spreading"),
}

_VOWELS = set("aeiou")


def _inflections(verb: str) -> set[str]:
    """Regular English inflections of a single base verb (``pick`` -> picks, picked, picking)."""
    forms = {verb}
    if verb in _IRREGULAR:
        forms.update(_IRREGULAR[verb])
        return forms
    if verb.endswith("e"):
        forms.update({verb + "s", verb + "d", verb[:-1] + "ing"})
    elif verb.endswith(("s", "sh", "ch", "x", "z")):
        forms.update({verb + "es", verb + "ed", verb + "ing"})
    elif verb.endswith("y") and len(verb) > 1 and verb[-2] not in _VOWELS:
        forms.update({verb[:-1] + "ies", verb[:-1] + "ied", verb + "ing"})
    else:
        forms.update({verb + "s", verb + "ed", verb + "ing"})
        # consonant-vowel-consonant monosyllables double the last letter: drop -> dropped
        if len(verb) >= 3 and verb[-1] not in _VOWELS | {"w", "x", "y"} and verb[-2] in _VOWELS:
            if verb[-3] not in _VOWELS and sum(c in _VOWELS for c in verb) == 1:
                forms.update({verb + verb[-1] + "ed", verb + verb[-1] + "ing"})
    return forms


def _build_surface_table() -> dict[tuple[str, ...], str]:
    """Every inflected surface form (as a token tuple) -> canonical name."""
    table: dict[tuple[str, ...], str] = {}
    for canonical, forms in CANONICAL_FORMS.items():
        for form in forms:
            head, *rest = form.split()
            for inflected in _inflections(head):
                table.setdefault((inflected, *rest), canonical)
    return table


SURFACE_FORMS: dict[tuple[str, ...], str] = _build_surface_table()
MAX_PHRASE_LEN = max(len(k) for k in SURFACE_FORMS)
ACTIONS: tuple[str, ...] = tuple(CANONICAL_FORMS)


def _tokens(verb: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z]+", verb.lower()))


def canonical_action(verb: str, strict: bool = True) -> str:
    """The canonical atomic-action name of a verb or phrasal verb, in any inflection.

    ``canonical_action("Picks up") == "pick"``, ``canonical_action("switch on") == "turn on"``.

    Args:
        verb: a verb as written by an annotator, the LLM, or a simulated task.
        strict: raise on a verb outside the lexicon; with ``False`` return it lower-cased and
            whitespace-normalised (the LLM parser keeps verbs the lexicon does not know).

    Raises:
        ValueError: naming the verb, when ``strict`` and the verb is not in the lexicon.
    """
    tokens = _tokens(verb)
    if tokens in SURFACE_FORMS:
        return SURFACE_FORMS[tokens]
    # "put ... down" written as "put down" is handled above; a bare head with an unknown particle
    # ("push over") falls back to the head verb.
    if tokens and (tokens[0],) in SURFACE_FORMS and len(tokens) == 2:
        return SURFACE_FORMS[(tokens[0],)]
    if strict:
        raise ValueError(
            f"unknown action verb {verb!r}: not in the lexicon (roboact.datasets.lexicon.CANONICAL_FORMS)"
        )
    return " ".join(tokens) if tokens else verb.strip().lower()


def match_verb(tokens: list[str], start: int) -> tuple[str, int] | None:
    """Longest lexicon verb phrase at ``tokens[start:]``: ``(canonical, n_tokens)`` or None."""
    for length in range(min(MAX_PHRASE_LEN, len(tokens) - start), 0, -1):
        key = tuple(tokens[start : start + length])
        if key in SURFACE_FORMS:
            return SURFACE_FORMS[key], length
    return None
