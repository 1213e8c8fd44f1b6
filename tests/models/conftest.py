"""Fixtures for the model tests: tiny configs and a synthetic, separable subject/action/object data set."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from roboact.models import RoboActConfig

FACTORS = ("subject", "action", "object")


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscribing the two shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(**overrides) -> RoboActConfig:
    """A model small enough to train in seconds on one core."""
    base = dict(
        visual_dim=24, text_dim=24, embed_dim=16, hidden_dim=32, n_frames=4, transformer_layers=1,
        transformer_heads=2, attn_heads=2, dropout=0.0, num_subjects=2, num_actions=3, num_objects=3,
        bank_interval=5,
    )  # fmt: skip
    base.update(overrides)
    return RoboActConfig(**base)


class SyntheticFactors:
    """Clips whose frames carry subject and object appearance plus an action-specific motion.

    Frame i of a clip (s, a, o) is ``P_s + Q_o + (i / (n - 1)) * D_a + noise``: subject and object are
    static, the action is only visible in the change over time (what Eq. 6-8 are for). A caption's
    text feature is ``e_s + e_a + e_o + noise``; a class name's text feature is its own ``e``.
    """

    def __init__(self, config: RoboActConfig, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.config = config
        self.k = {"subject": config.num_subjects, "action": config.num_actions, "object": config.num_objects}
        self.subject_proto = torch.randn(self.k["subject"], config.visual_dim, generator=g)
        self.object_proto = torch.randn(self.k["object"], config.visual_dim, generator=g)
        self.action_dir = torch.randn(self.k["action"], config.visual_dim, generator=g)
        # Each factor's words live in their own block of the text dims, as a sentence encoder keeps
        # separate words apart; a class name's feature is then its word alone (zeros elsewhere).
        block = config.text_dim // 3
        self.word = {}
        for i, f in enumerate(FACTORS):
            w = torch.zeros(self.k[f], config.text_dim)
            words = torch.randn(self.k[f], block, generator=g)
            # centred: a caption's other blocks average to zero, so a lone class name is in distribution
            w[:, i * block : (i + 1) * block] = words - words.mean(dim=0)
            self.word[f] = w

    def caption_features(self, s: torch.Tensor, a: torch.Tensor, o: torch.Tensor) -> torch.Tensor:
        return self.word["subject"][s] + self.word["action"][a] + self.word["object"][o]

    def batch(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        cfg = self.config
        labels = {f: torch.randint(0, self.k[f], (n,), generator=gen) for f in FACTORS}
        s, a, o = labels["subject"], labels["action"], labels["object"]
        t = torch.linspace(0, 1, cfg.n_frames)[None, :, None]
        frames = (
            self.subject_proto[s][:, None] + self.object_proto[o][:, None] + t * self.action_dir[a][:, None]
        )
        frames = frames + 0.1 * torch.randn(n, cfg.n_frames, cfg.visual_dim, generator=gen)
        text = self.caption_features(s, a, o) + 0.05 * torch.randn(n, cfg.text_dim, generator=gen)
        return {"frame_feats": frames, "text_feats": text, **labels}

    def all_triplets(self) -> torch.Tensor:
        return torch.cartesian_prod(
            torch.arange(self.k["subject"]), torch.arange(self.k["action"]), torch.arange(self.k["object"])
        )


@pytest.fixture
def make_config() -> Callable[..., RoboActConfig]:
    return tiny_config


@pytest.fixture
def synthetic() -> SyntheticFactors:
    return SyntheticFactors(tiny_config())
