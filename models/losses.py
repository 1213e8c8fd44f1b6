"""RoboAct-CLIP losses (paper Sec. III-B, Eq. 13-14, 20-21, 23, 26-27), one module per equation group.

Every module returns a dict of named ``*_loss`` tensors (the open_clip pattern). ``RoboActLoss``
assembles them into the total of Eq. 27 under ``"loss"``. The composite terms overlap on purpose:
``disent_loss`` already contains ``sim_loss``, ``l2_loss`` and ``recomb_loss`` (weighted), and
``loss`` contains everything, so log the terms but optimise only ``"loss"`` (never sum the dict).

Which keys are present (ablation switches of ``RoboActConfig``):

==========================  ==============================================================
always                      ``clip_loss``, ``loss``
use_disentanglement         ``sim_loss``, ``l2_loss``, ``disent_loss``
... and use_recombination   ``recomb_loss`` (when the forward pass recombined: training mode)
use_aux                     ``aux_loss``
==========================  ==============================================================

Deviations from the paper's notation, with reasons:

- Eq. 23 writes a minus sign in front of the cross-entropies; CE is already a positive negative
  log-likelihood, so ``aux_loss`` = sum of alpha * CE (the minus sign would maximise the error).
- Eq. 26 is written for the video->text direction only. By default (``clip_symmetric=True``) we
  average both directions as CLIP/open_clip do, which treats both encoders' sides alike;
  ``clip_symmetric=False`` gives Eq. 26 exactly.
- Eq. 13 penalises the *squared* cosine by default (``ortho_penalty="squared"``). The literal signed
  cosine is minimised (-0.5) by three branch features at 120 degrees in one plane: linearly
  dependent, the opposite of the independence the term is for, and training drove it there
  (issue #15). cos^2 (and |cos|, ``"abs"``) is 0 exactly for orthogonal branches and positive
  otherwise; cos^2 is smooth at 0, so its gradient fades as the branches become orthogonal instead
  of pushing with a constant-size subgradient that overshoots. ``"signed"`` keeps Eq. 13 as written.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .configuration_roboact import RoboActConfig

logger = logging.getLogger(__name__)


def contrastive_logits(a: Tensor, b: Tensor, logit_scale: Tensor | float) -> Tensor:
    """``logit_scale * cos(a_i, b_j)`` for all pairs: (N, D) x (M, D) -> (N, M)."""
    return logit_scale * F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).t()


ORTHO_PENALTIES = ("squared", "abs", "signed")
"""How Eq. 13 scores one pair's cosine: cos^2 (default), |cos|, or cos as written (see module doc)."""


class OrthogonalityLoss(nn.Module):
    """Eq. 13 (mean pairwise cosine penalty of the three branches) and Eq. 14 (small L2)."""

    def __init__(self, l2_weight: float = 0.01, penalty: str = "squared") -> None:
        super().__init__()
        if penalty not in ORTHO_PENALTIES:
            raise ValueError(f"OrthogonalityLoss penalty must be one of {ORTHO_PENALTIES}, got {penalty!r}")
        self.l2_weight = l2_weight
        self.penalty = penalty

    def forward(self, f_sub: Tensor, f_act: Tensor, f_obj: Tensor) -> dict[str, Tensor]:
        """f_*: (N, E) branch features of the same clips."""
        # Eq. (13): 1/(3N) sum_i [p(cos(sub, act)) + p(cos(sub, obj)) + p(cos(act, obj))]
        pairs = ((f_sub, f_act), (f_sub, f_obj), (f_act, f_obj))
        sim = torch.stack([F.cosine_similarity(a, b, dim=-1) for a, b in pairs], dim=0)  # (3, N)
        if self.penalty == "squared":
            sim = sim.pow(2)
        elif self.penalty == "abs":
            sim = sim.abs()
        sim_loss = sim.sum(dim=0).mean() / 3.0
        # Eq. (14): 0.01 * (|sub|^2 + |act|^2 + |obj|^2), averaged over the batch
        sq = f_sub.pow(2).sum(-1) + f_act.pow(2).sum(-1) + f_obj.pow(2).sum(-1)  # (N,)
        l2_loss = self.l2_weight * sq.mean()
        return {"sim_loss": sim_loss, "l2_loss": l2_loss}


class RecombinationLoss(nn.Module):
    """Eq. 20: InfoNCE between recombined bank features and their captions' text features.

    Row i of ``f_recomb`` (Eq. 18) is matched with row i of ``t_recomb`` (Eq. 19); the other sampled
    triplets' texts are the negatives (the sum over b in M of Eq. 20).
    """

    def forward(self, f_recomb: Tensor, t_recomb: Tensor, logit_scale: Tensor | float) -> dict[str, Tensor]:
        """f_recomb, t_recomb: (R, 3E). R == 0 gives a zero that keeps the graph (DDP-safe)."""
        if f_recomb.shape[0] == 0:
            return {"recomb_loss": f_recomb.sum() * 0.0 + t_recomb.sum() * 0.0}
        logits = contrastive_logits(f_recomb, t_recomb, logit_scale)  # (R, R)
        target = torch.arange(logits.shape[0], device=logits.device)
        return {"recomb_loss": F.cross_entropy(logits, target)}  # Eq. (20)


class DisentangleLoss(nn.Module):
    """Eq. 21: ``disent_loss = lambda_ortho * (L_sim + L_L2) + lambda_recomb * L_recomb``."""

    def __init__(
        self,
        lambda_ortho: float = 1.0,
        lambda_recomb: float = 1.0,
        l2_weight: float = 0.01,
        ortho_penalty: str = "squared",
    ) -> None:
        super().__init__()
        self.lambda_ortho = lambda_ortho
        self.lambda_recomb = lambda_recomb
        self.ortho = OrthogonalityLoss(l2_weight, ortho_penalty)
        self.recomb = RecombinationLoss()

    def forward(
        self,
        f_sub: Tensor,
        f_act: Tensor,
        f_obj: Tensor,
        f_recomb: Tensor | None = None,
        t_recomb: Tensor | None = None,
        logit_scale: Tensor | float = 1.0 / 0.07,
    ) -> dict[str, Tensor]:
        """Without ``f_recomb`` (ablation A3) the recombination term and its key are absent."""
        out = self.ortho(f_sub, f_act, f_obj)
        disent = self.lambda_ortho * (out["sim_loss"] + out["l2_loss"])  # Eq. (21)
        if f_recomb is not None and t_recomb is not None:
            out.update(self.recomb(f_recomb, t_recomb, logit_scale))
            disent = disent + self.lambda_recomb * out["recomb_loss"]
        out["disent_loss"] = disent
        return out


class AuxiliaryLoss(nn.Module):
    """Eq. 23: ``aux_loss = alpha_s CE_s + alpha_a CE_a + alpha_o CE_o`` (batch-mean CE; see module doc)."""

    def __init__(self, alpha_s: float = 1.0, alpha_a: float = 1.0, alpha_o: float = 1.0) -> None:
        super().__init__()
        self.alphas = {"subject": alpha_s, "action": alpha_a, "object": alpha_o}

    def forward(self, logits: dict[str, Tensor], labels: dict[str, Tensor]) -> dict[str, Tensor]:
        """logits[f]: (N, K_f) pre-softmax scores (Eq. 22); labels[f]: (N,) f = subject/action/object."""
        total = None
        for factor, alpha in self.alphas.items():
            term = alpha * F.cross_entropy(logits[factor], labels[factor])  # Eq. (23)
            total = term if total is None else total + term
        return {"aux_loss": total}


class ClipLoss(nn.Module):
    """Eq. 26: InfoNCE between video (Eq. 24) and text (Eq. 25) embeddings of the batch.

    ``symmetric=True`` averages the video->text and text->video cross-entropies (open_clip);
    ``False`` is Eq. 26 exactly (video->text only). The batch is the local batch: under data
    parallelism each rank contrasts within its own batch (no all-gather of features).
    """

    def __init__(self, symmetric: bool = True) -> None:
        super().__init__()
        self.symmetric = symmetric

    def forward(self, video: Tensor, text: Tensor, logit_scale: Tensor | float) -> dict[str, Tensor]:
        """video, text: (N, D), row i of each describes the same clip."""
        logits = contrastive_logits(video, text, logit_scale)  # (N, N) sim(F_v^i, F_t^j) / tau
        target = torch.arange(logits.shape[0], device=logits.device)
        v2t = F.cross_entropy(logits, target)  # Eq. (26)
        if not self.symmetric:
            return {"clip_loss": v2t}
        t2v = F.cross_entropy(logits.t(), target)
        return {"clip_loss": 0.5 * (v2t + t2v)}


class RoboActLoss(nn.Module):
    """Eq. 27: ``loss = clip_loss + lambda_disent * disent_loss + lambda_aux * aux_loss``.

    Consumes the output dict of ``RoboActCLIP.forward`` (with text) and the label dict; the active
    terms follow the config's ablation switches (see the module docstring).
    """

    def __init__(self, config: RoboActConfig) -> None:
        super().__init__()
        self.config = config
        self.clip = ClipLoss(config.clip_symmetric)
        self.disent = DisentangleLoss(
            config.lambda_ortho, config.lambda_recomb, config.l2_weight, config.ortho_penalty
        )
        self.aux = AuxiliaryLoss(config.alpha_s, config.alpha_a, config.alpha_o)

    def forward(
        self, outputs: dict[str, Tensor], labels: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """outputs: ``RoboActCLIP.forward(frame_feats, text_feats)``; labels: subject/action/object (N,)."""
        cfg = self.config
        if "text_embed" not in outputs:
            raise ValueError("RoboActLoss needs text features: call the model with text_feats")
        scale = outputs["logit_scale"]
        out = dict(self.clip(outputs["video_embed"], outputs["text_embed"], scale))
        total = out["clip_loss"]
        if cfg.use_disentanglement:
            # Eq. 20 only where the forward pass recombined (training mode); eval losses skip it
            recomb_v = outputs.get("recomb_v") if cfg.use_recombination else None
            recomb_t = outputs.get("recomb_t") if cfg.use_recombination else None
            out.update(
                self.disent(outputs["v_sub"], outputs["v_act"], outputs["v_obj"], recomb_v, recomb_t, scale)
            )
            total = total + cfg.lambda_disent * out["disent_loss"]  # Eq. (27)
        if cfg.use_aux:
            if labels is None:
                raise ValueError("RoboActLoss: use_aux=True needs labels subject/action/object")
            logits = {f: outputs[f"logits_{f}"] for f in ("subject", "action", "object")}
            out.update(self.aux(logits, labels))
            total = total + cfg.lambda_aux * out["aux_loss"]  # Eq. (27)
        out["loss"] = total
        return out
