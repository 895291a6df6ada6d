# Copyright (c) tpr_mm contributors. All rights reserved.
"""TAL against a loop re-statement of compute_TAL_per (QinYang79/RDE model/objectives.py)."""

import math

import pytest
import torch

from tpr_mm.models.losses import TALLoss, tal_per_sample
from tpr_mm.registry import MODELS


def _naive_tal(img, txt, labels, tau, margin):
    """Per-pair TAL with plain Python loops: scores[i][j] = cos(text i, image j)."""
    n = len(labels)
    img = [v / v.norm() for v in img]
    txt = [t / t.norm() for t in txt]
    scores = [[float(txt[i] @ img[j]) for j in range(n)] for i in range(n)]
    out = [0.0] * n
    for mat in (scores, [list(r) for r in zip(*scores)]):
        for i in range(n):
            pos = [j for j in range(n) if labels[i] == labels[j]]
            neg = [j for j in range(n) if labels[i] != labels[j]]
            z = sum(math.exp(mat[i][j] / tau) for j in pos)
            pos_term = sum(math.exp(mat[i][j] / tau) / z * mat[i][j] for j in pos)
            neg_sum = min(sum(math.exp(mat[i][k] / tau) for k in neg), 1e36)
            neg_term = tau * math.log(neg_sum) if neg_sum > 0 else -math.inf
            out[i] += max(0.0, margin - pos_term + neg_term)
    return out


@pytest.mark.parametrize('n,d,tau,margin', [(1, 3, 0.5, 0.1), (6, 5, 0.3, 0.2), (9, 4, 0.015, 0.1)])
def test_tal_per_sample_matches_naive(n, d, tau, margin):
    g = torch.Generator().manual_seed(n * 13 + d)
    img = torch.randn(n, d, generator=g, dtype=torch.float64)
    txt = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    got = tal_per_sample(img, txt, labels, tau=tau, margin=margin)
    want = _naive_tal(img, txt, labels.tolist(), tau, margin)
    assert got.shape == (n,)
    assert got.tolist() == pytest.approx(want, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize('reduction', ['sum', 'mean'])
def test_registered_loss_weights_and_reduces(reduction):
    g = torch.Generator().manual_seed(3)
    img = torch.randn(8, 6, generator=g, dtype=torch.float64)
    txt = torch.randn(8, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 1, 2, 3, 3, 4])
    weights = torch.tensor([1, 0, 1, 1, 0, 1, 0, 1], dtype=torch.float64)
    loss = MODELS.build(
        dict(type='TALLoss', tau=0.2, margin=0.1, reduction=reduction, loss_weight=0.5)
    )
    assert isinstance(loss, TALLoss) and loss.loss_name == 'loss_tal'
    per = _naive_tal(img, txt, labels.tolist(), 0.2, 0.1)
    total = sum(w * p for w, p in zip(weights.tolist(), per))
    if reduction == 'mean':
        total /= weights.sum().item()
    assert loss(img, txt, labels, weights=weights).item() == pytest.approx(0.5 * total, rel=1e-9)
    unweighted = sum(per) / (8 if reduction == 'mean' else 1)
    assert loss(img, txt, labels).item() == pytest.approx(0.5 * unweighted, rel=1e-9)


def test_alpha_is_constant_in_the_gradient():
    """RDE detaches the positive weights α: the gradient is that of Σ α s with α fixed."""
    g = torch.Generator().manual_seed(5)
    img = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    txt = torch.randn(6, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 0, 0, 1, 1, 2])
    tal_per_sample(img, txt, labels, tau=0.3, margin=2.0).sum().backward()
    got = img.grad.clone()

    img2 = img.detach().clone().requires_grad_(True)
    s = torch.nn.functional.normalize(txt, dim=1) @ torch.nn.functional.normalize(img2, dim=1).t()
    pos = (labels.view(-1, 1) == labels.view(1, -1)).double()
    total = 0.0
    for mat in (s, s.t()):
        for i in range(6):
            with torch.no_grad():
                w = torch.exp(mat[i] / 0.3) * pos[i]
                alpha = w / w.sum()
            neg = (torch.exp(mat[i] / 0.3) * (1 - pos[i])).sum()
            total = total + torch.clamp(2.0 - (alpha * mat[i]).sum() + 0.3 * torch.log(neg), min=0)
    total.backward()
    assert torch.allclose(got, img2.grad, atol=1e-10)


def test_no_negatives_gives_zero_and_bad_shapes_raise():
    img = torch.randn(3, 4, requires_grad=True)
    loss = tal_per_sample(img, img.detach().clone(), torch.zeros(3, dtype=torch.long))
    assert torch.equal(loss, torch.zeros(3))  # no negatives: zero loss like RDE ...
    loss.sum().backward()
    assert torch.equal(img.grad, torch.zeros(3, 4))  # ... and a zero (not NaN) gradient
    with pytest.raises(ValueError, match='shapes'):
        tal_per_sample(torch.randn(3, 4), torch.randn(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='reduction'):
        TALLoss(reduction='none')
