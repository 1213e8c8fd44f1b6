"""Captions: Algorithm 1 line 9 and the recombination text of Eq. (19)."""

from __future__ import annotations

SUBJECTS = ("Robot", "Human")


def compose_caption(subject: str, action: str, obj: str) -> str:
    """Algorithm 1, line 9: "Robot (or Human) [A] [O]. Action is A, Object is O."."""
    return f"{subject} {action} {obj}. Action is {action}, Object is {obj}."


def recomb_caption(subject: str, action: str, obj: str) -> str:
    """Eq. (19)'s text for a (subject, action, object) triplet; the model's definition is the one used."""
    from roboact.models.modeling_roboact import recomb_caption as model_recomb_caption

    return model_recomb_caption(subject, action, obj)
