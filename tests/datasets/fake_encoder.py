"""A tiny deterministic stand-in for ``FrozenEncoder``: the pipeline is tested without loading weights.

Frame features are per-image colour statistics (so a test can tell which frames were encoded); text
features are a hash of the text. Each image is encoded alone, as real frozen encoders in eval mode do.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


class FakeEncoder:
    spec = "fake:stats"
    image_dim = 4
    text_dim = 6

    def encode_images(self, images: np.ndarray) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(images), dtype=torch.float32) / 255.0  # (N, H, W, 3)
        mean = x.mean(dim=(1, 2))  # (N, 3)
        return torch.cat([mean, x.std(dim=(1, 2, 3)).unsqueeze(1)], dim=1)

    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        rows = []
        for text in texts:
            digest = hashlib.sha256(text.encode()).digest()[: self.text_dim]
            rows.append([b / 255.0 for b in digest])
        return torch.tensor(rows, dtype=torch.float32).reshape(len(texts), self.text_dim)


def make_fake_encoder() -> FakeEncoder:
    return FakeEncoder()
