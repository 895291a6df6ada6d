# Copyright (c) tpr_mm contributors. All rights reserved.
"""CFine losses against naive loop references."""

import math

import pytest
import torch

from tpr_mm.models.losses import (
    CMPCLoss,
    CMPMLoss,
    DiversityLoss,
    HardestNegativeRankingLoss,
    cmpc_loss,
    cmpm_loss,
    diversity_loss,
    hardest_negative_ranking_loss,
)


def _rand(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=g, dtype=torch.float64),
        torch.randn(n, d, generator=g, dtype=torch.float64),
        g,
    )


def _naive_cmpm(img, txt, labels, eps=1e-8):
    n = len(labels)
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(n):
            logits = [float(a[i] @ (b[j] / b[j].norm())) for j in range(n)]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            npos = sum(labels[i] == labels[j] for j in range(n))
            for j in range(n):
                p = math.exp(logits[j] - lse)
                q = (1.0 if labels[i] == labels[j] else 0.0) / math.sqrt(npos)
                total += p * ((logits[j] - lse) - math.log(q + eps)) / n
    return total


def _naive_cmpc(img, txt, labels, weight):
    w = weight / weight.norm(dim=0, keepdim=True)
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(len(labels)):
            direction = b[i] / b[i].norm()
            proj = float(a[i] @ direction) * direction
            logits = [float(proj @ w[:, c]) for c in range(w.shape[1])]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            total += (lse - logits[labels[i]]) / len(labels)
    return total


def _naive_rank(sim, labels, margin):
    n = len(labels)
    total = 0.0
    for mat in (sim, sim.t()):
        triplets = []
        for i in range(n):
            negs = [j for j in range(n) if labels[j] != labels[i]]
            if not negs:
                continue
            losses = [float(mat[i, j] - mat[i, i]) + margin for j in negs]
            best = max(range(len(negs)), key=lambda k: losses[k])
            if losses[best] > margin and losses[best] > 0:
                triplets.append((i, negs[best]))
        if not triplets:
            negs = [j for j in range(n) if labels[j] != labels[n - 1]]
            if not negs:
                continue
            triplets.append((n - 1, negs[0]))
        for i, j in triplets:
            total += max(0.0, margin - float(mat[i, i]) + float(mat[i, j]))
    return total


@pytest.mark.parametrize('n,d', [(1, 3), (5, 7), (9, 4)])
def test_cmpm_matches_naive(n, d):
    img, txt, g = _rand(n, d, n * 13 + d)
    labels = torch.randint(0, 3, (n,), generator=g)
    got = cmpm_loss(img * 3, txt, labels)
    assert got.item() == pytest.approx(_naive_cmpm(img * 3, txt, labels.tolist()), rel=1e-9)


def test_cmpm_module_level_weights():
    img, txt, g = _rand(6, 5, 1)
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    levels_v = [img, img * 2, img - 1]
    levels_t = [txt, txt + 1, txt * 3]
    module = CMPMLoss(level_weights=(1.0, 1.0, 0.1), loss_weight=2.0)
    want = sum(w * cmpm_loss(v, t, labels) for w, v, t in zip((1, 1, 0.1), levels_v, levels_t))
    assert module(levels_v, levels_t, labels).item() == pytest.approx(2 * want.item())
    # MGF off: one level uses the leading weight only.
    assert module(levels_v[:1], levels_t[:1], labels).item() == pytest.approx(
        2 * cmpm_loss(img, txt, labels).item()
    )
    with pytest.raises(ValueError):
        module(levels_v + [img], levels_t + [txt], labels)


@pytest.mark.parametrize('n,d,c', [(1, 3, 2), (7, 5, 4), (8, 6, 9)])
def test_cmpc_matches_naive(n, d, c):
    img, txt, g = _rand(n, d, n + 100 * d)
    weight = torch.randn(d, c, generator=g, dtype=torch.float64)
    labels = torch.randint(0, c, (n,), generator=g)
    got = cmpc_loss(img, txt, labels, weight)
    assert got.item() == pytest.approx(_naive_cmpc(img, txt, labels.tolist(), weight), rel=1e-9)


def test_cmpc_module_shares_one_column_normalised_classifier():
    torch.manual_seed(0)
    module = CMPCLoss(in_channels=5, num_classes=4, level_weights=(1.0, 0.5)).double()
    img, txt, _ = _rand(6, 5, 3)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    got = module([img, img * 2], [txt, txt], labels)
    w = module.classifier_weight
    want = cmpc_loss(img, txt, labels, w) + 0.5 * cmpc_loss(img * 2, txt, labels, w)
    assert got.item() == pytest.approx(want.item())
    # Scaling a column leaves the loss unchanged: columns are normalised.
    with torch.no_grad():
        w[:, 2] *= 7
    assert module([img, img * 2], [txt, txt], labels).item() == pytest.approx(got.item())
    with pytest.raises(ValueError, match='labels outside'):
        module([img], [txt], torch.tensor([0, 1, 2, 3, 4, 0]))


@pytest.mark.parametrize('n,g,d', [(1, 2, 3), (5, 2, 4), (3, 3, 6)])
def test_diversity_matches_naive(n, g, d):
    gen = torch.Generator().manual_seed(n * g * d)
    feats = torch.randn(n, g, d, generator=gen, dtype=torch.float64)
    want = 0.0
    for b in range(n):
        x = [f / f.norm() for f in feats[b]]
        sq = sum(float(x[i] @ x[j]) ** 2 for i in range(g) for j in range(g) if i != j)
        want += math.sqrt(sq) / g**2 / n
    assert diversity_loss(feats).item() == pytest.approx(want, rel=1e-9)


def test_diversity_module_sums_modalities_and_is_zero_without_groups():
    gen = torch.Generator().manual_seed(0)
    v = [torch.randn(4, 3, generator=gen) for _ in range(2)]
    t = [torch.randn(4, 3, generator=gen) for _ in range(2)]
    module = DiversityLoss(loss_weight=0.2)
    want = 0.2 * (diversity_loss(torch.stack(v, 1)) + diversity_loss(torch.stack(t, 1)))
    assert module(v, t).item() == pytest.approx(want.item())
    assert module(v[:1], t[:1]).item() == 0.0
    with pytest.raises(ValueError, match='group features'):
        module([], [])
    # Identical groups are maximally redundant: |offdiag| = sqrt(2), / 4.
    same = [v[0], v[0] * 3]
    assert diversity_loss(torch.stack(same, 1)).item() == pytest.approx(math.sqrt(2) / 4)


@pytest.mark.parametrize('n,seed', [(2, 0), (5, 1), (7, 2), (9, 3)])
def test_ranking_matches_naive(n, seed):
    gen = torch.Generator().manual_seed(seed)
    sim = torch.randn(n, n, generator=gen, dtype=torch.float64) * 3
    labels = torch.randint(0, 3, (n,), generator=gen)
    if len(set(labels.tolist())) == 1:
        labels[0] = labels[0] + 1
    got = hardest_negative_ranking_loss(sim, labels, margin=0.2)
    assert got.item() == pytest.approx(_naive_rank(sim, labels.tolist(), 0.2), rel=1e-12)


def test_ranking_no_qualifying_anchor_uses_one_fallback_triplet():
    # Positives dominate every negative: nobody qualifies, so each direction adds the
    # (last anchor, first negative) triplet, here within the margin.
    sim = torch.full((4, 4), 0.0, dtype=torch.float64)
    sim.fill_diagonal_(0.1)
    sim[3, 0] = 0.05  # image anchor 3 vs its first negative (text 0)
    sim[0, 3] = -0.3  # text anchor 3 vs image 0: beyond the margin -> 0
    labels = torch.tensor([0, 1, 2, 3])
    got = hardest_negative_ranking_loss(sim, labels, margin=0.2)
    want = (0.2 - 0.1 + 0.05) + max(0.0, 0.2 - 0.1 - 0.3)
    assert got.item() == pytest.approx(want)
    assert got.item() == pytest.approx(_naive_rank(sim, labels.tolist(), 0.2))


def test_ranking_fallback_negative_skips_same_identity():
    sim = torch.eye(3, dtype=torch.float64)
    labels = torch.tensor([1, 0, 0])  # last anchor's first negative is index 0
    got = hardest_negative_ranking_loss(sim, labels, margin=0.5)
    assert got.item() == 0.0  # fallback triplet (2, 0) is beyond the margin in both directions
    sim[2, 0] = 0.7
    got = hardest_negative_ranking_loss(sim, labels, margin=0.5)
    assert got.item() == pytest.approx(0.2)  # image direction only: 0.5 - 1 + 0.7


def test_ranking_all_same_identity_is_zero_with_gradient():
    sim = torch.randn(5, 5, requires_grad=True)
    loss = hardest_negative_ranking_loss(sim, torch.full((5,), 4))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(sim.grad, torch.zeros(5, 5))


def test_ranking_uses_only_hardest_negative_and_sums_anchors():
    sim = torch.tensor([[1.0, 2.0, 1.5], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 1, 2])
    module = HardestNegativeRankingLoss(margin=0.2, loss_weight=10.0)
    loss = module(sim, labels)
    # Image anchor 0: hardest text 1 (2.0 > 1.0) -> 1.2; text anchors: text 1 vs image 0
    # (2.0 > 1.0) -> 1.2, text 2 vs image 0 (1.5 > 1.0) -> 0.7.
    assert loss.item() == pytest.approx(10 * (1.2 + 1.2 + 0.7))
    loss.backward()
    assert sim.grad[0, 2].item() == pytest.approx(10.0)  # only as the text-anchor negative
    with pytest.raises(ValueError):
        module(torch.zeros(3, 4), labels)
