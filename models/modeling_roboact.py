"""RoboAct-CLIP (paper Sec. III-B, Eq. 1-27): Diff-Transformer, disentanglement, banks, recombination.

The frozen encoders (Eq. 1 and 5) live in ``encoders.py``; this module starts from their outputs::

    text F_t (B, Dt) --MLP_text_{sub,act,obj}--> t_sub, t_act, t_obj (B, E)        Eq. 2-4
                      text_embed = Concat(t_sub, t_obj, t_act) (B, 3E)             Eq. 25

    frames F_v1..F_vn (B, n, Dv) --LayerNorm--> dF_i = F_vi - F_v(i-1)  (B, n-1, Dv)  Eq. 6
      --Linear + positional encoding + TransformerEncoder--> Tem_v2..Tem_vn           Eq. 7
      F_v = MLP(Concat[Tem_vn; F_vn - F_v1; F_v1; F_vn])  (B, H)                     Eq. 8
      F_v_attn = LayerNorm(F_v + MHA(Q=F_v, K=V=tokens))  (B, H)                    Eq. 9
      v_sub, v_obj, v_act = MLP_visual_{sub,obj,act}(F_v_attn)  (B, E)              Eq. 10-12
      video_embed = Concat(v_sub, v_obj, v_act)  (B, 3E)                             Eq. 24
      logits_{subject,action,object} = MLP_classify_*(F_v_attn)                      Eq. 22

    banks B_sub (K_s, E), B_act (K_a, E), B_obj (K_o, E): per-class means          Eq. 15-17
    F_recomb = MLP(Concat(B_sub[s], B_act[a], B_obj[o]))  (R, 3E)                   Eq. 18
      (recomb_source="batch": B_*[c] is the batch's class-c mean when c is in the batch)
    T_recomb = text branches of TextEnc("s a the o, action is a")  (R, 3E)          Eq. 19

Choices the paper leaves open (all documented in docs/models.md):

- Eq. 9 on one vector. F_v is one vector per clip, so attention over a length-1 sequence is just a
  linear map (softmax over one key is 1). With ``attn_tokens="set"`` (default) the query is F_v and
  the keys/values are the clip's token set {F_v, Tem_vn, F_vn - F_v1, F_v1, F_vn} (each projected
  to H, plus a learned type embedding), so the attention really "augments context" by weighing the
  temporal, start-end and appearance cues per clip. ``attn_tokens="single"`` is the literal
  length-1 form. Both add a residual and LayerNorm, as in every Transformer block.
- Input LayerNorm on each frame feature before Eq. 6: frozen encoders differ widely in scale
  (EfficientNet pooled features vs CLIP embeddings); differences are taken after it.
- Eq. 18 with ``recomb_source="batch"``: the banks are detached buffers, so with them Eq. 20 trains
  the recombination MLP, the text side and tau but never the branches it is meant to disentangle.
  "batch" (default) recombines the current batch's per-class branch means (in the graph) and uses
  the banks only for classes the batch lacks; "banks" is the paper's form.
- A2 (no disentanglement): F_v is projected to 3E by ``visual_proj`` and F_t by ``text_proj``, so
  ``video_embed`` keeps its size for policies; the auxiliary heads (if on) sit on F_v.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .configuration_roboact import RoboActConfig
from .losses import RoboActLoss

logger = logging.getLogger(__name__)

FACTORS = ("subject", "action", "object")
_SHORT = {"subject": "sub", "action": "act", "object": "obj"}
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
_MAX_LOGIT_SCALE = 100.0  # open_clip clamps 1/tau at 100


def recomb_caption(subject: str, action: str, obj: str) -> str:
    """The text of Eq. 19 for one (subject, action, object) triplet: ``"s a the o, action is a"``."""
    return f"{subject} {action} the {obj}, action is {action}"


class MLP(nn.Sequential):
    """Linear -> GELU -> Dropout -> Linear: the paper's unspecified ``MLP``."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int, dropout: float = 0.0) -> None:
        super().__init__(
            nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out)
        )


def sinusoidal_table(length: int, dim: int) -> Tensor:
    """The fixed positional encoding of Vaswani et al. [23]: (length, dim)."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * div)
    table[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return table


class DiffTransformer(nn.Module):
    """Spatiotemporal Diff-Transformer (Eq. 6-7): a Transformer encoder over frame differences."""

    def __init__(self, config: RoboActConfig) -> None:
        super().__init__()
        H, L = config.hidden_dim, config.n_frames - 1
        self.proj = nn.Linear(config.visual_dim, H)
        if config.pos_encoding == "learned":
            self.pos = nn.Parameter(torch.randn(L, H) * 0.02)
        else:
            self.register_buffer("pos", sinusoidal_table(L, H), persistent=False)
        layer = nn.TransformerEncoderLayer(
            H,
            config.transformer_heads,
            dim_feedforward=2 * H,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, config.transformer_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(H)

    def forward(self, frames: Tensor) -> Tensor:
        """frames: (B, n, Dv) normalised frame features -> Tem_vn (B, H)."""
        diffs = frames[:, 1:] - frames[:, :-1]  # Eq. (6): (B, n-1, Dv)
        x = self.proj(diffs) + self.pos[: diffs.shape[1]]  # positional encoding [23]
        tem = self.norm(self.encoder(x))  # Eq. (7): (B, n-1, H)
        return tem[:, -1]  # Tem_vn


class RoboActCLIP(nn.Module):
    """RoboAct-CLIP heads on frozen frame and text features; see the module docstring for the layout.

    ``forward`` returns a dict of named tensors; ``compute_loss`` adds the Eq. 27 loss and the bank
    update; ``encode_video`` is the frozen representation policies consume; ``predict`` recognises
    subject/action/object by auxiliary classifier and by text matching.
    """

    def __init__(self, config: RoboActConfig) -> None:
        super().__init__()
        config.check_buildable()
        self.config = config
        cfg = config
        H, E, Dv, Dt = cfg.hidden_dim, cfg.embed_dim, cfg.visual_dim, cfg.text_dim
        self.num_classes = {"subject": cfg.num_subjects, "action": cfg.num_actions, "object": cfg.num_objects}

        self.frame_norm = nn.LayerNorm(Dv)
        self.diff_transformer = DiffTransformer(cfg) if cfg.use_diff_transformer else None
        fuse_in = 3 * Dv + (H if cfg.use_diff_transformer else 0)
        self.fuse = MLP(fuse_in, H, H, cfg.dropout)  # Eq. (8)

        if cfg.use_disentanglement:
            self.attn = nn.MultiheadAttention(
                H, cfg.attn_heads, dropout=cfg.dropout, batch_first=True
            )  # Eq. (9)
            self.attn_norm = nn.LayerNorm(H)
            if cfg.attn_tokens == "set":
                self.token_proj = nn.Linear(Dv, H)
                self.token_type = nn.Parameter(torch.randn(5, H) * 0.02)
            self.text_mlps = nn.ModuleDict({f: MLP(Dt, H, E, cfg.dropout) for f in FACTORS})  # Eq. (2-4)
            self.visual_mlps = nn.ModuleDict({f: MLP(H, H, E, cfg.dropout) for f in FACTORS})  # Eq. (10-12)
            for f in FACTORS:  # Eq. (15-17): one representative feature per class
                self.register_buffer(f"bank_{f}", torch.zeros(self.num_classes[f], E))
                self.register_buffer(f"bank_{f}_filled", torch.zeros(self.num_classes[f], dtype=torch.bool))
            if cfg.use_recombination:
                self.recomb_mlp = MLP(3 * E, H, 3 * E, cfg.dropout)  # Eq. (18)
                self.register_buffer("recomb_triplets", torch.zeros(0, 3, dtype=torch.long))
                self.register_buffer("recomb_text", torch.zeros(0, Dt))
        else:  # A2: the visual feature is aligned with the text feature directly
            self.visual_proj = MLP(H, H, 3 * E, cfg.dropout)
            self.text_proj = MLP(Dt, H, 3 * E, cfg.dropout)
        if cfg.use_aux:
            self.classifiers = nn.ModuleDict(
                {f: MLP(H, H, self.num_classes[f], cfg.dropout) for f in FACTORS}
            )  # Eq. (22)
        for f in FACTORS:  # class-name text features for recognition by text matching
            self.register_buffer(f"class_text_{f}", torch.zeros(0, Dt))

        init = torch.tensor(math.log(1.0 / cfg.temperature))
        if cfg.learn_temperature:
            self.logit_scale = nn.Parameter(init)
        else:
            self.register_buffer("logit_scale", init)
        self.loss_fn = RoboActLoss(cfg)
        self._warned_no_labels = False

    # ---------------------------------------------------------------------------------------------
    # shapes and buffers
    _RESIZABLE = (
        "recomb_triplets",
        "recomb_text",
        "class_text_subject",
        "class_text_action",
        "class_text_object",
    )

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):
        """Resize the variable-length buffers (recombination targets, class texts) to the checkpoint's."""
        for name in self._RESIZABLE:
            key = prefix + name
            current = getattr(self, name, None)
            if key in state_dict and isinstance(current, Tensor) and current.shape != state_dict[key].shape:
                setattr(
                    self, name, torch.empty_like(state_dict[key], dtype=current.dtype, device=current.device)
                )
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def _check_frames(self, frame_feats: Tensor) -> None:
        cfg = self.config
        if not isinstance(frame_feats, Tensor) or not frame_feats.is_floating_point():
            raise ValueError(
                f"frame_feats must be a float tensor (B, n, {cfg.visual_dim}), got {_desc(frame_feats)}"
            )
        if frame_feats.ndim != 3 or frame_feats.shape[0] == 0 or frame_feats.shape[2] != cfg.visual_dim:
            raise ValueError(
                f"frame_feats must have shape (B>0, n={cfg.n_frames}, visual_dim={cfg.visual_dim}), "
                f"got {tuple(frame_feats.shape)}"
            )
        if frame_feats.shape[1] != cfg.n_frames:
            raise ValueError(
                f"frame_feats has n={frame_feats.shape[1]} frames but the model was built for "
                f"n_frames={cfg.n_frames}"
            )

    def _check_text(self, text_feats: Tensor, batch: int | None = None) -> None:
        cfg = self.config
        if not isinstance(text_feats, Tensor) or not text_feats.is_floating_point() or text_feats.ndim != 2:
            raise ValueError(
                f"text_feats must be a float tensor (B, {cfg.text_dim}), got {_desc(text_feats)}"
            )
        if text_feats.shape[1] != cfg.text_dim or (batch is not None and text_feats.shape[0] != batch):
            want = f"({batch if batch is not None else 'N'}, text_dim={cfg.text_dim})"
            raise ValueError(f"text_feats must have shape {want}, got {tuple(text_feats.shape)}")

    @property
    def temperature_scale(self) -> Tensor:
        """1/tau, clamped at 100 as in open_clip (Eq. 20 and 26)."""
        return self.logit_scale.exp().clamp(max=_MAX_LOGIT_SCALE)

    # ---------------------------------------------------------------------------------------------
    # the two towers
    def _video_features(self, frame_feats: Tensor) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        """Eq. 5-9 -> (F_v, F_v_attn, tokens), F_v and F_v_attn (B, H)."""
        cfg = self.config
        frames = self.frame_norm(frame_feats)  # (B, n, Dv)
        first, last = frames[:, 0], frames[:, -1]
        delta = last - first  # start-end change dF_v
        parts = {"delta": delta, "first": first, "last": last}
        if self.diff_transformer is not None:
            parts = {"tem": self.diff_transformer(frames), **parts}  # Eq. (6-7)
        f_v = self.fuse(torch.cat(list(parts.values()), dim=-1))  # Eq. (8); A1 drops Tem_vn
        if not cfg.use_disentanglement:
            return f_v, f_v, parts
        if cfg.attn_tokens == "set":
            toks = [f_v] + [p if k == "tem" else self.token_proj(p) for k, p in parts.items()]
            types = [0] + [{"tem": 1, "delta": 2, "first": 3, "last": 4}[k] for k in parts]
            kv = torch.stack(toks, dim=1) + self.token_type[types]  # (B, T, H)
        else:
            kv = f_v[:, None]  # (B, 1, H): literal Eq. 9
        q = f_v[:, None]
        attended, _ = self.attn(q, kv, kv, need_weights=False)  # Eq. (9)
        f_attn = self.attn_norm(f_v + attended[:, 0])
        return f_v, f_attn, parts

    def _text_branches(self, text_feats: Tensor) -> dict[str, Tensor]:
        """Eq. 2-4 and 25 (or the A2 single projection) -> t_* (N, E) and text_embed (N, 3E)."""
        if not self.config.use_disentanglement:
            return {"text_embed": self.text_proj(text_feats)}
        t = {f"t_{_SHORT[f]}": self.text_mlps[f](text_feats) for f in FACTORS}
        t["text_embed"] = torch.cat([t["t_sub"], t["t_obj"], t["t_act"]], dim=-1)  # Eq. (25)
        return t

    def forward(
        self,
        frame_feats: Tensor,
        text_feats: Tensor | None = None,
        recombine: bool | None = None,
        labels: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Run both towers.

        Args:
            frame_feats: (B, n, Dv) frozen per-frame features (Eq. 5), n == config.n_frames.
            text_feats: (B, Dt) frozen text features of the clips' captions (Eq. 1), or None.
            recombine: add the recombination pair ``recomb_v``/``recomb_t`` (Eq. 18-19); default:
                in training mode with text (kept inside ``forward`` so DDP sees every parameter).
            labels: subject/action/object class ids (B,) of the clips; with
                ``recomb_source="batch"`` the batch's branch features are grouped by them (without
                them Eq. 18 falls back to the banks, with a warning once).

        Returns:
            ``v_sub, v_act, v_obj`` (B, E), ``video_embed`` (B, 3E) (Eq. 24), ``v_attn`` (B, H),
            ``logits_{subject,action,object}`` (B, K_*) when use_aux, ``logit_scale`` (1/tau);
            with text also ``t_sub, t_act, t_obj`` (B, E) and ``text_embed`` (B, 3E) (Eq. 25);
            with recombination ``recomb_v``, ``recomb_t`` (R, 3E). Under A2 the ``v_*``/``t_*``
            keys are absent (one projected feature per tower).
        """
        self._check_frames(frame_feats)
        cfg = self.config
        _, f_attn, _ = self._video_features(frame_feats)
        out: dict[str, Tensor] = {"v_attn": f_attn}
        if cfg.use_disentanglement:
            for f in FACTORS:
                out[f"v_{_SHORT[f]}"] = self.visual_mlps[f](f_attn)  # Eq. (10-12)
            out["video_embed"] = torch.cat([out["v_sub"], out["v_obj"], out["v_act"]], dim=-1)  # Eq. (24)
        else:
            out["video_embed"] = self.visual_proj(f_attn)
        if cfg.use_aux:
            for f in FACTORS:
                out[f"logits_{f}"] = self.classifiers[f](f_attn)  # Eq. (22), pre-softmax
        out["logit_scale"] = self.temperature_scale
        if text_feats is not None:
            self._check_text(text_feats, frame_feats.shape[0])
            out.update(self._text_branches(text_feats))
            if recombine is None:
                recombine = self.training
            if recombine and cfg.use_disentanglement and cfg.use_recombination:
                live = None
                if cfg.recomb_source == "batch":
                    if labels is not None and all(f in labels for f in FACTORS):
                        live = {f: (out[f"v_{_SHORT[f]}"], labels[f]) for f in FACTORS}
                    elif not self._warned_no_labels:  # the batch's classes are unknown: banks only
                        logger.warning(
                            "recomb_source='batch' needs labels %s in forward (compute_loss passes "
                            "them); without them Eq. 18 uses the detached banks",
                            FACTORS,
                        )
                        self._warned_no_labels = True
                out["recomb_v"], out["recomb_t"] = self._recombine(frame_feats.shape[0], live)
        return out

    # ---------------------------------------------------------------------------------------------
    # recombination (Eq. 18-20)
    def set_recombination_targets(self, triplets: Tensor, text_feats: Tensor) -> None:
        """Store the valid triplets M (M, 3) = (subject, action, object) ids and their Eq. 19 text features.

        ``text_feats[i]`` is the frozen text feature of ``recomb_caption(*names of triplets[i])``.
        Both are buffers, so they are saved with the model.
        """
        if not (self.config.use_disentanglement and self.config.use_recombination):
            raise ValueError("set_recombination_targets: the model has no recombination (A2 or A3 ablation)")
        if not isinstance(triplets, Tensor) or triplets.ndim != 2 or triplets.shape[1] != 3:
            raise ValueError(f"triplets must be a long tensor (M, 3), got {_desc(triplets)}")
        if triplets.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"triplets must be integer class ids, got dtype {triplets.dtype}")
        self._check_text(text_feats, triplets.shape[0])
        for col, f in enumerate(FACTORS):
            ids = triplets[:, col]
            if ids.numel() and (ids.min() < 0 or ids.max() >= self.num_classes[f]):
                raise ValueError(
                    f"triplets[:, {col}] ({f}) must lie in [0, {self.num_classes[f]}), "
                    f"got range [{int(ids.min())}, {int(ids.max())}]"
                )
        device = self.recomb_text.device
        self.recomb_triplets = triplets.detach().to(device=device, dtype=torch.long).clone()
        self.recomb_text = text_feats.detach().to(device=device, dtype=self.recomb_text.dtype).clone()

    def eligible_triplets(self, available: dict[str, Tensor] | None = None) -> Tensor:
        """Indices into M of the triplets whose three classes have a feature (default: a filled bank)."""
        if available is None:
            available = {f: getattr(self, f"bank_{f}_filled") for f in FACTORS}
        trip = self.recomb_triplets
        ok = available["subject"][trip[:, 0]] & available["action"][trip[:, 1]]
        ok &= available["object"][trip[:, 2]]
        return ok.nonzero().flatten()

    def _class_features(
        self, live: dict[str, tuple[Tensor, Tensor]] | None
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Per factor, one feature per class (K_f, E) and which classes have one (K_f,) bool.

        ``live=None``: the banks (detached buffers, Eq. 15-17). Otherwise ``live[f] = (v_f (B, E),
        labels (B,))`` of the current batch: a class present in the batch gets the mean of its clips'
        branch features (the same mean a bank update stores, but inside the graph, so Eq. 20's
        gradient reaches the visual branches); an absent class falls back to its bank entry.
        """
        feats: dict[str, Tensor] = {}
        have: dict[str, Tensor] = {}
        for f in FACTORS:
            bank: Tensor = getattr(self, f"bank_{f}")
            filled: Tensor = getattr(self, f"bank_{f}_filled")
            if live is None:
                feats[f], have[f] = bank, filled
                continue
            v, y = live[f]
            y = y.to(v.device)
            sums = torch.zeros(bank.shape[0], v.shape[1], dtype=v.dtype, device=v.device).index_add(0, y, v)
            counts = torch.zeros(bank.shape[0], dtype=v.dtype, device=v.device).index_add(
                0, y, torch.ones_like(y, dtype=v.dtype)
            )
            present = counts > 0
            means = sums / counts.clamp(min=1.0)[:, None]
            feats[f] = torch.where(present[:, None], means, bank.to(device=v.device, dtype=v.dtype))
            have[f] = present | filled.to(v.device)
        return feats, have

    def _recombine(
        self, batch_size: int, live: dict[str, tuple[Tensor, Tensor]] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Sample R triplets (without replacement) with class features -> (F_recomb, T_recomb), each (R, 3E).

        Without replacement, so no caption is both the positive and a (duplicate) negative of Eq. 20.
        With nothing eligible yet (before the first bank update, banks mode) R = 0 and the loss is an
        exact zero that still touches the recombination parameters (DDP needs every parameter used).
        ``live``: see ``_class_features`` (``recomb_source="batch"``).
        """
        cfg = self.config
        want = cfg.recomb_batch or batch_size
        feats, have = self._class_features(live)
        idx = self.eligible_triplets(have)
        if idx.numel():
            idx = idx[torch.randperm(idx.numel(), device=idx.device)[:want]]
        trip = self.recomb_triplets[idx]  # (R, 3)
        parts = [feats["subject"][trip[:, 0]], feats["action"][trip[:, 1]], feats["object"][trip[:, 2]]]
        f_recomb = self.recomb_mlp(torch.cat(parts, dim=-1))  # Eq. (18)
        t_recomb = self._text_branches(self.recomb_text[idx])["text_embed"]  # Eq. (19) through Eq. 2-4, 25
        return f_recomb, t_recomb

    # ---------------------------------------------------------------------------------------------
    # feature banks (Eq. 15-17)
    @torch.no_grad()
    def update_banks(self, outputs: dict[str, Tensor], labels: dict[str, Tensor], step: int) -> bool:
        """Set each class's bank entry to the batch mean of its branch features (every bank_interval).

        With ``torch.distributed`` initialised, per-class sums and counts are all-reduced before the
        division, so every rank ends with identical banks (the update equals the one on the
        concatenated global batch). Every rank must call this at the same steps (it is collective).

        Returns:
            True when the banks were updated at this step.
        """
        cfg = self.config
        if not cfg.use_disentanglement or step % cfg.bank_interval != 0:
            return False
        for f in FACTORS:
            feats = outputs[f"v_{_SHORT[f]}"].detach()
            y = labels[f]
            bank: Tensor = getattr(self, f"bank_{f}")
            filled: Tensor = getattr(self, f"bank_{f}_filled")
            K = bank.shape[0]
            if y.ndim != 1 or y.shape[0] != feats.shape[0]:
                raise ValueError(f"labels[{f!r}] must be (B={feats.shape[0]},), got {tuple(y.shape)}")
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= K):
                raise ValueError(
                    f"labels[{f!r}] must lie in [0, {K}), got range [{int(y.min())}, {int(y.max())}]"
                )
            y = y.to(bank.device)
            stats = torch.zeros(K, bank.shape[1] + 1, dtype=torch.float64, device=bank.device)
            stats[:, :-1].index_add_(
                0, y, feats.to(device=bank.device, dtype=torch.float64)
            )  # per-class sums
            stats[:, -1].index_add_(0, y, torch.ones_like(y, dtype=torch.float64))  # per-class counts
            if dist.is_available() and dist.is_initialized():
                dist.all_reduce(stats, op=dist.ReduceOp.SUM)
            counts = stats[:, -1]
            present = counts > 0
            mean = (stats[present, :-1] / counts[present, None]).to(bank.dtype)
            if cfg.bank_momentum > 0:
                m = cfg.bank_momentum
                old = bank[present]
                mean = torch.where(filled[present, None], m * old + (1 - m) * mean, mean)
            bank[present] = mean
            filled[present] = True
        return True

    # ---------------------------------------------------------------------------------------------
    # training convenience
    def compute_loss(
        self, batch: dict[str, Tensor], step: int, forward_fn: Callable[..., dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor]:
        """Forward, Eq. 27 loss dict (see ``losses.RoboActLoss``) and, in training mode, the bank update.

        Args:
            batch: ``frame_feats`` (B, n, Dv), ``text_feats`` (B, Dt), ``subject``/``action``/``object`` (B,).
            step: the optimizer step (banks update when ``step % bank_interval == 0``).
            forward_fn: the DDP wrapper of this model, if any (so gradients are synchronised);
                default: ``self``.
        """
        missing = [k for k in ("frame_feats", "text_feats", *FACTORS) if k not in batch]
        if missing:
            raise ValueError(f"compute_loss: batch lacks key(s) {missing}")
        labels = {f: batch[f] for f in FACTORS}
        outputs = (forward_fn or self)(batch["frame_feats"], batch["text_feats"], labels=labels)
        losses = self.loss_fn(outputs, labels)
        if self.training:
            self.update_banks(outputs, labels, step)
        return losses

    # ---------------------------------------------------------------------------------------------
    # inference
    @torch.no_grad()
    def encode_video(self, frame_feats: Tensor) -> Tensor:
        """The frozen visual representation for policies: (B, n, Dv) -> (B, 3E).

        Equals ``forward(frame_feats)["video_embed"]`` in eval mode; runs in eval mode (restoring the
        previous mode after) and without gradients, so callers need no ``torch.no_grad``.
        """
        was = self.training
        self.eval()
        try:
            self._check_frames(frame_feats)
            _, f_attn, _ = self._video_features(frame_feats)
            if self.config.use_disentanglement:
                sub, obj, act = (self.visual_mlps[f](f_attn) for f in ("subject", "object", "action"))
                return torch.cat([sub, obj, act], dim=-1)  # Eq. (24)
            return self.visual_proj(f_attn)
        finally:
            self.train(was)

    def set_class_text_features(self, feats: dict[str, Tensor]) -> None:
        """Store frozen text features of the class names: ``feats[f]`` (K_f, Dt) for each factor f."""
        for f in FACTORS:
            if f not in feats:
                raise ValueError(f"set_class_text_features: missing key {f!r} (need {FACTORS})")
            x = feats[f]
            self._check_text(x, self.num_classes[f])
            buf = getattr(self, f"class_text_{f}")
            setattr(self, f"class_text_{f}", x.detach().to(device=buf.device, dtype=buf.dtype).clone())

    @property
    def has_class_text(self) -> bool:
        """True when ``set_class_text_features`` was called (or loaded)."""
        return all(getattr(self, f"class_text_{f}").shape[0] > 0 for f in FACTORS)

    @torch.no_grad()
    def predict(self, frame_feats: Tensor) -> dict[str, dict[str, Tensor]]:
        """Recognise subject, action and object: ``{factor: {"aux": (B,), "text": (B,)}}``.

        ``aux`` is the argmax of the auxiliary classifier (absent under A4); ``text`` is the argmax
        cosine similarity between the visual branch feature and the class-name text features through
        the matching text branch (the single projected feature under A2; absent until
        ``set_class_text_features``). Runs in eval mode and restores the previous mode.
        """
        was = self.training
        self.eval()
        try:
            out = self.forward(frame_feats)
            result: dict[str, dict[str, Tensor]] = {f: {} for f in FACTORS}
            for f in FACTORS:
                if self.config.use_aux:
                    result[f]["aux"] = out[f"logits_{f}"].argmax(dim=-1)
                if self.has_class_text:
                    classes = getattr(self, f"class_text_{f}")
                    if self.config.use_disentanglement:
                        vis, txt = out[f"v_{_SHORT[f]}"], self.text_mlps[f](classes)
                    else:
                        vis, txt = out["video_embed"], self.text_proj(classes)
                    sim = nn.functional.normalize(vis, dim=-1) @ nn.functional.normalize(txt, dim=-1).t()
                    result[f]["text"] = sim.argmax(dim=-1)
            return result
        finally:
            self.train(was)

    # ---------------------------------------------------------------------------------------------
    # checkpoints
    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (all parameters and buffers) into ``directory``."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.config.save(directory / CONFIG_NAME)
        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        save_file(
            state, str(directory / WEIGHTS_NAME), metadata={"format": "pt", "encoder": self.config.encoder}
        )
        logger.info("saved RoboAct-CLIP to %s", directory)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu") -> RoboActCLIP:
        """Load a model written by ``save_pretrained`` (strict: every tensor must match)."""
        from safetensors.torch import load_file

        directory = Path(directory)
        for name in (CONFIG_NAME, WEIGHTS_NAME):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"{directory}: no {name} (not a RoboAct-CLIP checkpoint directory)")
        model = cls(RoboActConfig.load(directory / CONFIG_NAME))
        state = load_file(str(directory / WEIGHTS_NAME))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise ValueError(f"{directory / WEIGHTS_NAME}: does not match its config.json: {err}") from err
        return model.to(device)


def _desc(x: object) -> str:
    if isinstance(x, Tensor):
        return f"tensor of shape {tuple(x.shape)} dtype {x.dtype}"
    return type(x).__name__
