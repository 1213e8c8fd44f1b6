"""Equation checks for models/losses.py against hand computations (Eq. 13, 14, 20, 21, 23, 26, 27)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from roboact.models.losses import (
    AuxiliaryLoss,
    ClipLoss,
    DisentangleLoss,
    OrthogonalityLoss,
    RecombinationLoss,
    RoboActLoss,
)

from tests.models.conftest import tiny_config


def test_sim_loss_is_zero_for_orthogonal_and_one_for_identical_branches():
    eye = torch.eye(3).repeat(4, 1, 1)  # 4 clips, branches along x, y, z
    ortho = OrthogonalityLoss()(eye[:, 0] * 2.0, eye[:, 1], eye[:, 2] * 0.5)
    assert ortho["sim_loss"].item() == pytest.approx(0.0, abs=1e-7)
    same = torch.randn(5, 8)
    ident = OrthogonalityLoss()(same, same.clone(), same * 3.0)
    assert ident["sim_loss"].item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("penalty", "score"),
    [("signed", lambda c: c), ("squared", lambda c: c * c), ("abs", abs)],
)
def test_sim_loss_matches_equation_13_by_hand(penalty, score):
    sub, act, obj = torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, -1.0]])
    c = 1 / math.sqrt(2)
    cosines = (c, 0.0, -c)  # cos(sub, act), cos(sub, obj), cos(act, obj), one clip
    expected = sum(score(x) for x in cosines) / 3
    got = OrthogonalityLoss(penalty=penalty)(sub, act, obj)["sim_loss"].item()
    assert got == pytest.approx(expected, abs=1e-6)


def _coplanar_at_120_degrees(n: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    angles = torch.tensor([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
    vecs = torch.zeros(3, 5)
    vecs[:, 0], vecs[:, 1] = torch.cos(angles), torch.sin(angles)  # one plane of a 5-d space
    return tuple(vecs[i].repeat(n, 1) for i in range(3))  # type: ignore[return-value]


@pytest.mark.parametrize("penalty", ["squared", "abs"])
def test_orthogonal_branches_cost_less_than_three_coplanar_ones_at_120_degrees(penalty):
    """Issue #15: the signed Eq. 13 is lowest (-0.5) for linearly dependent branches; ours is not."""
    eye = torch.eye(5)[:3]
    orthogonal = OrthogonalityLoss(penalty=penalty)(*(eye[i].repeat(4, 1) for i in range(3)))["sim_loss"]
    coplanar = OrthogonalityLoss(penalty=penalty)(*_coplanar_at_120_degrees())["sim_loss"]
    assert orthogonal.item() == pytest.approx(0.0, abs=1e-7)
    assert coplanar.item() == pytest.approx(0.25 if penalty == "squared" else 0.5, abs=1e-6)
    assert orthogonal < coplanar


def test_the_literal_signed_form_stays_available_and_prefers_coplanar_branches():
    signed = OrthogonalityLoss(penalty="signed")(*_coplanar_at_120_degrees())["sim_loss"]
    assert signed.item() == pytest.approx(-0.5, abs=1e-6)  # its minimum: why it is not the default
    with pytest.raises(ValueError, match="penalty must be one of"):
        OrthogonalityLoss(penalty="cosine")


def test_the_model_config_switch_reaches_the_loss_and_defaults_to_the_squared_cosine():
    assert OrthogonalityLoss().penalty == tiny_config().ortho_penalty == "squared"
    sub, act, obj = _coplanar_at_120_degrees()
    outputs = {"v_sub": sub, "v_act": act, "v_obj": obj}
    outputs |= {"video_embed": torch.randn(4, 48), "text_embed": torch.randn(4, 48), "logit_scale": 1.0}
    for penalty, expected in (("signed", -0.5), ("squared", 0.25)):
        loss = RoboActLoss(tiny_config(ortho_penalty=penalty, use_aux=False))
        assert loss(outputs)["sim_loss"].item() == pytest.approx(expected, abs=1e-6)


def test_l2_loss_matches_equation_14_by_hand():
    sub = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    act = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    obj = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    # clip 0: 1 + 4 + 9 + 0 = 14; clip 1: 0 + 2 + 4 = 6; batch mean 10; weight 0.01 -> 0.1
    assert OrthogonalityLoss(0.01)(sub, act, obj)["l2_loss"].item() == pytest.approx(0.1, abs=1e-6)
    assert OrthogonalityLoss(0.5)(sub, act, obj)["l2_loss"].item() == pytest.approx(5.0, abs=1e-5)


def test_clip_loss_matches_a_hand_computed_two_by_two_case():
    video = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    scale = 10.0
    c = 1 / math.sqrt(2)
    sim = [[1.0, c], [0.0, c]]  # cos(v_i, t_j)
    v2t = -0.5 * sum(
        math.log(math.exp(scale * sim[i][i]) / sum(math.exp(scale * s) for s in sim[i])) for i in range(2)
    )
    cols = [[sim[0][j], sim[1][j]] for j in range(2)]
    t2v = -0.5 * sum(
        math.log(math.exp(scale * cols[j][j]) / sum(math.exp(scale * s) for s in cols[j])) for j in range(2)
    )
    assert ClipLoss(symmetric=False)(video, text, scale)["clip_loss"].item() == pytest.approx(v2t, rel=1e-5)
    assert ClipLoss(symmetric=True)(video, text, scale)["clip_loss"].item() == pytest.approx(
        0.5 * (v2t + t2v), rel=1e-5
    )
    assert v2t != pytest.approx(t2v)  # the case distinguishes the two directions


def test_symmetric_clip_loss_is_symmetric_in_its_arguments():
    a, b = torch.randn(6, 5), torch.randn(6, 5)
    loss = ClipLoss(symmetric=True)
    assert loss(a, b, 7.0)["clip_loss"].item() == pytest.approx(loss(b, a, 7.0)["clip_loss"].item(), rel=1e-6)
    one_way = ClipLoss(symmetric=False)
    assert one_way(a, b, 7.0)["clip_loss"].item() != pytest.approx(one_way(b, a, 7.0)["clip_loss"].item())


def test_recombination_loss_is_infonce_over_the_sampled_triplets():
    f, t = torch.randn(4, 6), torch.randn(4, 6)
    logits = 5.0 * F.normalize(f, dim=-1) @ F.normalize(t, dim=-1).t()
    expected = -torch.log_softmax(logits, dim=1).diagonal().mean()
    assert RecombinationLoss()(f, t, 5.0)["recomb_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    empty = RecombinationLoss()(torch.zeros(0, 6, requires_grad=True), torch.zeros(0, 6), 5.0)["recomb_loss"]
    assert empty.item() == 0.0 and empty.requires_grad


def test_disentangle_loss_weights_its_terms_as_equation_21():
    sub, act, obj = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 4)
    f, t = torch.randn(3, 12), torch.randn(3, 12)
    out = DisentangleLoss(lambda_ortho=0.5, lambda_recomb=2.0)(sub, act, obj, f, t, 4.0)
    expected = 0.5 * (out["sim_loss"] + out["l2_loss"]) + 2.0 * out["recomb_loss"]
    assert out["disent_loss"].item() == pytest.approx(expected.item(), rel=1e-6)
    no_recomb = DisentangleLoss(lambda_ortho=0.5)(sub, act, obj)
    assert "recomb_loss" not in no_recomb
    assert no_recomb["disent_loss"].item() == pytest.approx(0.5 * (out["sim_loss"] + out["l2_loss"]).item())


def test_aux_loss_is_the_alpha_weighted_sum_of_positive_cross_entropies():
    logits = {f: torch.randn(5, k) for f, k in (("subject", 2), ("action", 3), ("object", 4))}
    labels = {f: torch.randint(0, x.shape[1], (5,)) for f, x in logits.items()}
    out = AuxiliaryLoss(alpha_s=1.0, alpha_a=2.0, alpha_o=0.5)(logits, labels)["aux_loss"]
    ce = {f: F.cross_entropy(logits[f], labels[f]) for f in logits}
    assert out.item() == pytest.approx(
        (ce["subject"] + 2 * ce["action"] + 0.5 * ce["object"]).item(), rel=1e-6
    )
    assert out.item() > 0


def _fake_outputs(cfg, n=4, r=3):
    e = cfg.embed_dim
    out = {k: torch.randn(n, e) for k in ("v_sub", "v_act", "v_obj")}
    out["video_embed"] = torch.cat([out["v_sub"], out["v_obj"], out["v_act"]], dim=-1)
    out["text_embed"] = torch.randn(n, 3 * e)
    out["recomb_v"], out["recomb_t"] = torch.randn(r, 3 * e), torch.randn(r, 3 * e)
    for f, k in (("subject", 2), ("action", 3), ("object", 3)):
        out[f"logits_{f}"] = torch.randn(n, k)
    out["logit_scale"] = torch.tensor(1 / 0.07)
    labels = {f: torch.randint(0, out[f"logits_{f}"].shape[1], (n,)) for f in ("subject", "action", "object")}
    return out, labels


def test_total_loss_is_equation_27_and_keys_follow_the_switches():
    cfg = tiny_config(lambda_disent=0.3, lambda_aux=2.0)
    out, labels = _fake_outputs(cfg)
    losses = RoboActLoss(cfg)(out, labels)
    assert set(losses) == {
        "clip_loss",
        "sim_loss",
        "l2_loss",
        "recomb_loss",
        "disent_loss",
        "aux_loss",
        "loss",
    }
    expected = losses["clip_loss"] + 0.3 * losses["disent_loss"] + 2.0 * losses["aux_loss"]
    assert losses["loss"].item() == pytest.approx(expected.item(), rel=1e-6)

    keys = {
        "use_recombination": {"clip_loss", "sim_loss", "l2_loss", "disent_loss", "aux_loss", "loss"},
        "use_aux": {"clip_loss", "sim_loss", "l2_loss", "recomb_loss", "disent_loss", "loss"},
        "use_disentanglement": {"clip_loss", "aux_loss", "loss"},
    }
    for switch, expected_keys in keys.items():
        assert set(RoboActLoss(tiny_config(**{switch: False}))(out, labels)) == expected_keys, switch


def test_total_loss_needs_text_features():
    cfg = tiny_config()
    out, labels = _fake_outputs(cfg)
    del out["text_embed"]
    with pytest.raises(ValueError, match="text_feats"):
        RoboActLoss(cfg)(out, labels)
