"""RoboActConfig: every size, loss weight and paper ablation of RoboAct-CLIP (paper Sec. III-B).

One dataclass beside ``modeling_roboact.py`` (the LeRobot pattern). Every ablation of the paper is a
switch here rather than a fork of the model:

- A1 ``use_diff_transformer=False``: no Spatiotemporal Diff-Transformer; only F_1 and F_n (cf. Eq. 8).
- A2 ``use_disentanglement=False``: no MHA, branches, orthogonality, banks or recombination; the
  visual feature of Eq. 8 is projected and aligned with the projected text feature directly.
- A3 ``use_recombination=False``: no recombination MLP and no Eq. 20 term.
- A4 ``use_aux=False``: no auxiliary classifiers and no Eq. 23 term.
- A5 ``n_frames=2``: a single difference token.
- A6 ("only original CLIP frame features") is a policy-side choice: the policy consumes the frozen
  encoder's frame features instead of ``RoboActCLIP.encode_video``; there is no model switch for it.

Named presets live in ``model_configs/*.json``; ``load_model_config("roboact_base", n_frames=8)``.
The dataclass only uses OmegaConf-friendly field types, so run configs can nest it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

_POS_ENCODINGS = ("sinusoidal", "learned")
_ATTN_TOKENS = ("set", "single")
_ORTHO_PENALTIES = ("squared", "abs", "signed")  # losses.ORTHO_PENALTIES (no import: losses imports us)
_RECOMB_SOURCES = ("banks", "batch")


@dataclass
class RoboActConfig:
    """RoboAct-CLIP model (paper Sec. III-B); every paper ablation is a switch here."""

    # --- sizes -------------------------------------------------------------------------------
    visual_dim: int = 1280
    """input per-frame feature dim D_v (frozen visual encoder output, Eq. 5)"""
    text_dim: int = 384
    """input text feature dim D_t (frozen text encoder output, Eq. 1)"""
    embed_dim: int = 256
    """per-branch embedding dim E; video/text embeddings are 3E (Eq. 24-25)"""
    hidden_dim: int = 512
    """width of the Diff-Transformer, F_v (Eq. 8), the attention (Eq. 9) and all hidden MLP layers"""
    n_frames: int = 16
    """frames per clip n (paper: 16; Sec. IV-A also 8 and 32; A5 is 2)"""
    transformer_layers: int = 2
    """layers of the Diff-Transformer encoder (Eq. 7)"""
    transformer_heads: int = 4
    """attention heads of the Diff-Transformer encoder (Eq. 7); must divide hidden_dim"""
    attn_heads: int = 4
    """heads of the self-attention of Eq. 9; must divide hidden_dim"""
    dropout: float = 0.1
    """dropout in the transformer and the MLPs"""
    pos_encoding: str = "sinusoidal"
    """positional encoding of the difference tokens (Eq. 7): 'sinusoidal' or 'learned'"""
    attn_tokens: str = "set"
    """Eq. 9 input: 'set' = F_v attends over {F_v, Tem_vn, dF_v, F_v1, F_vn}; 'single' = length-1 (literal)"""
    # --- label spaces (set from data) ----------------------------------------------------------
    num_subjects: int = 0
    """K_s, number of subject classes (Eq. 15); must be > 0 to build the model"""
    num_actions: int = 0
    """K_a, number of action classes (Eq. 16); must be > 0 to build the model"""
    num_objects: int = 0
    """K_o, number of object classes (Eq. 17); must be > 0 to build the model"""
    # --- contrastive temperature ---------------------------------------------------------------
    temperature: float = 0.07
    """initial tau of Eq. 20 and Eq. 26"""
    learn_temperature: bool = True
    """learn tau as open_clip's logit_scale = log(1/tau) (clamped to 1/tau <= 100)"""
    clip_symmetric: bool = True
    """Eq. 26 averaged over video->text and text->video (open_clip); False = video->text only, as written"""
    # --- loss weights ----------------------------------------------------------------------------
    lambda_ortho: float = 1.0
    """weight of L_sim + L_L2 inside L_disent (Eq. 21)"""
    lambda_recomb: float = 1.0
    """weight of L_recomb inside L_disent (Eq. 21)"""
    lambda_disent: float = 1.0
    """weight of L_disent in the total loss (Eq. 27)"""
    lambda_aux: float = 1.0
    """weight of L_aux in the total loss (Eq. 27)"""
    alpha_s: float = 1.0
    """subject cross-entropy weight (Eq. 23)"""
    alpha_a: float = 1.0
    """action cross-entropy weight (Eq. 23)"""
    alpha_o: float = 1.0
    """object cross-entropy weight (Eq. 23)"""
    l2_weight: float = 0.01
    """coefficient of the squared-norm regulariser (Eq. 14; the paper uses 0.01)"""
    ortho_penalty: str = "squared"
    """Eq. 13 per pair: 'squared' = cos^2 (default), 'abs' = |cos|, 'signed' = cos as written (its
    minimum is three coplanar branches at 120 degrees; see losses.py and docs/models.md)"""
    # --- feature banks and recombination ---------------------------------------------------------
    bank_interval: int = 10
    """optimizer steps between feature-bank updates (Eq. 15-17); updated when step % interval == 0"""
    bank_momentum: float = 0.0
    """0 = replace a class entry by the latest batch class mean (paper); >0 = EMA with this momentum"""
    recomb_batch: int = 0
    """triplets sampled per step for Eq. 20 (without replacement); 0 = the batch size"""
    recomb_source: str = "batch"
    """Eq. 18 input: 'batch' (default) = per-class means of the current batch's branch features, the
    banks filling classes absent from the batch, so L_recomb's gradient reaches the branches;
    'banks' = the detached banks as the paper writes it (L_recomb then trains only the recombination
    MLP, the text side and tau). Measured in docs/models.md"""
    # --- provenance --------------------------------------------------------------------------
    encoder: str = "embedded"
    """spec of the frozen encoder whose features this model consumes (see models/encoders.py)"""
    # --- ablation switches (paper Sec. IV-C) -----------------------------------------------------
    use_diff_transformer: bool = True
    """A1: False = no Diff-Transformer, F_v = MLP(Concat[F_vn - F_v1; F_v1; F_vn]) (cf. Eq. 8)"""
    use_disentanglement: bool = True
    """A2: False = no MHA/branches/ortho/banks/recomb; projected F_v is aligned with projected F_t"""
    use_recombination: bool = True
    """A3: False = no recombination MLP and no L_recomb (Eq. 18-20)"""
    use_aux: bool = True
    """A4: False = no auxiliary classifiers and no L_aux (Eq. 22-23)"""

    def __post_init__(self) -> None:
        positive = ("visual_dim", "text_dim", "embed_dim", "hidden_dim", "transformer_layers")
        positive += ("transformer_heads", "attn_heads", "bank_interval")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"RoboActConfig.{name} must be a positive int, got {value!r}")
        if not isinstance(self.n_frames, int) or self.n_frames < 2:
            raise ValueError(
                f"RoboActConfig.n_frames must be >= 2 (start-end delta, Eq. 6), got {self.n_frames!r}"
            )
        for name in ("num_subjects", "num_actions", "num_objects", "recomb_batch"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"RoboActConfig.{name} must be an int >= 0, got {value!r}")
        if self.hidden_dim % self.transformer_heads:
            raise ValueError(
                f"RoboActConfig.transformer_heads={self.transformer_heads} must divide "
                f"hidden_dim={self.hidden_dim}"
            )
        if self.hidden_dim % self.attn_heads:
            raise ValueError(
                f"RoboActConfig.attn_heads={self.attn_heads} must divide hidden_dim={self.hidden_dim}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"RoboActConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if not self.temperature > 0.0:
            raise ValueError(f"RoboActConfig.temperature must be > 0, got {self.temperature!r}")
        if not 0.0 <= self.bank_momentum < 1.0:
            raise ValueError(f"RoboActConfig.bank_momentum must be in [0, 1), got {self.bank_momentum!r}")
        weights = ("lambda_ortho", "lambda_recomb", "lambda_disent", "lambda_aux", "alpha_s", "alpha_a")
        for name in (*weights, "alpha_o", "l2_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"RoboActConfig.{name} must be >= 0, got {getattr(self, name)!r}")
        if self.pos_encoding not in _POS_ENCODINGS:
            raise ValueError(
                f"RoboActConfig.pos_encoding must be one of {_POS_ENCODINGS}, got {self.pos_encoding!r}"
            )
        if self.attn_tokens not in _ATTN_TOKENS:
            raise ValueError(
                f"RoboActConfig.attn_tokens must be one of {_ATTN_TOKENS}, got {self.attn_tokens!r}"
            )
        if self.ortho_penalty not in _ORTHO_PENALTIES:
            raise ValueError(
                f"RoboActConfig.ortho_penalty must be one of {_ORTHO_PENALTIES}, got {self.ortho_penalty!r}"
            )
        if self.recomb_source not in _RECOMB_SOURCES:
            raise ValueError(
                f"RoboActConfig.recomb_source must be one of {_RECOMB_SOURCES}, got {self.recomb_source!r}"
            )
        if not isinstance(self.encoder, str) or not self.encoder:
            raise ValueError(f"RoboActConfig.encoder must be a non-empty encoder spec, got {self.encoder!r}")

    # ------------------------------------------------------------------------------------------
    @property
    def video_embed_dim(self) -> int:
        """Size of ``encode_video`` output: 3E (Eq. 24)."""
        return 3 * self.embed_dim

    def check_buildable(self) -> None:
        """Raise if the label spaces are not set yet (they come from the data)."""
        missing = [n for n in ("num_subjects", "num_actions", "num_objects") if getattr(self, n) <= 0]
        if missing:
            raise ValueError(
                f"RoboActConfig: {', '.join(missing)} must be > 0 to build the model "
                "(set them from the data's label vocabularies)"
            )

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoboActConfig:
        """Inverse of ``to_dict``; unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"RoboActConfig: unknown field(s) {unknown}")
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write ``config.json``-style JSON."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> RoboActConfig:
        """Read a JSON file written by ``save`` (or a preset)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a JSON object of RoboActConfig fields")
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: {err}") from err


def list_model_configs() -> list[str]:
    """Names of the shipped presets in ``model_configs/`` (e.g. ``roboact_base``)."""
    folder = resources.files("roboact.models").joinpath("model_configs")
    return sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json"))


def load_model_config(name_or_path: str | Path, **overrides: Any) -> RoboActConfig:
    """Load a preset by name (``roboact_base``, ``roboact_tiny``) or a JSON path, then apply overrides.

    Raises:
        FileNotFoundError: neither a file nor a shipped preset; the message lists the presets.
        ValueError: a bad field or value, naming it.
    """
    candidate = Path(name_or_path)
    if candidate.is_file():
        path = candidate
    else:
        stem = candidate.name[: -len(".json")] if candidate.name.endswith(".json") else candidate.name
        shipped = resources.files("roboact.models").joinpath("model_configs", f"{stem}.json")
        if not shipped.is_file():
            raise FileNotFoundError(
                f"model config not found: {name_or_path} (presets: {', '.join(list_model_configs())})"
            )
        path = Path(str(shipped))
    cfg = RoboActConfig.load(path)
    if overrides:
        data = cfg.to_dict()
        unknown = sorted(set(overrides) - set(data))
        if unknown:
            raise ValueError(f"{path}: unknown override field(s) {unknown}")
        data.update(overrides)
        cfg = RoboActConfig.from_dict(data)
    return cfg
