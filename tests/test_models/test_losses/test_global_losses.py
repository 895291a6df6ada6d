# Copyright (c) tpr_mm contributors. All rights reserved.
import math

import pytest
import torch

from tpr_mm.models.losses import id_loss, itc_loss, sdm_loss
from tpr_mm.registry import MODELS


def _naive_sdm(img, txt, labels, tau, eps=1e-8):
    n = img.shape[0]
    img = [v / v.norm() for v in img]
    txt = [t / t.norm() for t in txt]
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(n):
            logits = [float(a[i] @ b[j]) / tau for j in range(n)]
            m = max(logits)
            z = sum(math.exp(x - m) for x in logits)
            p = [math.exp(x - m) / z for x in logits]
            pos = sum(1 for j in range(n) if labels[i] == labels[j])
            for j in range(n):
                q = (1.0 if labels[i] == labels[j] else 0.0) / pos
                total += p[j] * (math.log(p[j]) - math.log(q + eps)) / n
    return total


def _naive_itc(img, txt, tau):
    n = img.shape[0]
    img = img / img.norm(dim=1, keepdim=True)
    txt = txt / txt.norm(dim=1, keepdim=True)
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(n):
            logits = [float(a[i] @ b[j]) / tau for j in range(n)]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            total += (lse - logits[i]) / n
    return total / 2


@pytest.mark.parametrize('n,d', [(1, 3), (5, 7), (9, 4)])
def test_sdm_matches_naive(n, d):
    g = torch.Generator().manual_seed(n * 31 + d)
    img = torch.randn(n, d, generator=g, dtype=torch.float64)
    txt = torch.randn(n, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 3, (n,), generator=g)
    got = sdm_loss(img, txt, labels, temperature=0.5)
    assert got.item() == pytest.approx(_naive_sdm(img, txt, labels.tolist(), 0.5), rel=1e-9)


def test_sdm_all_same_identity_is_finite_and_small_when_uniform():
    img = torch.ones(4, 3, dtype=torch.float64)
    txt = torch.ones(4, 3, dtype=torch.float64)
    loss = sdm_loss(img, txt, torch.zeros(4, dtype=torch.long))
    # p is uniform and equals q: KL is 0 up to eps.
    assert abs(loss.item()) < 1e-6


@pytest.mark.parametrize('n', [1, 6])
def test_itc_matches_naive(n):
    g = torch.Generator().manual_seed(n)
    img = torch.randn(n, 5, generator=g, dtype=torch.float64)
    txt = torch.randn(n, 5, generator=g, dtype=torch.float64)
    assert itc_loss(img, txt, 0.3).item() == pytest.approx(_naive_itc(img, txt, 0.3), rel=1e-9)


def test_id_loss_is_mean_of_two_cross_entropies():
    g = torch.Generator().manual_seed(0)
    li = torch.randn(5, 4, generator=g)
    lt = torch.randn(5, 4, generator=g)
    y = torch.tensor([0, 3, 1, 1, 2])
    expect = 0.0
    for logits in (li, lt):
        for row, label in zip(logits, y):
            expect += (torch.logsumexp(row, 0) - row[label]).item() / 5 / 2
    assert id_loss(li, lt, y).item() == pytest.approx(expect, rel=1e-6)


def test_loss_modules_weights_and_registry():
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    sdm = MODELS.build(dict(type='SDMLoss', loss_weight=0.5))
    assert sdm(img, txt, labels=labels).item() == pytest.approx(
        0.5 * sdm_loss(img, txt, labels).item(), rel=1e-6
    )
    itc = MODELS.build(dict(type='ITCLoss', loss_weight=2.0))
    assert 'labels' not in itc.needs
    assert itc(img, txt).item() == pytest.approx(2 * itc_loss(img, txt).item(), rel=1e-6)
    idl = MODELS.build(dict(type='IDLoss', in_channels=8, num_classes=3))
    assert idl(img, txt, labels=labels).item() > 0
    with pytest.raises(ValueError, match='num_classes'):
        idl(img, txt, labels=torch.tensor([0, 1, 2, 3, 0, 0]))


def test_head_uses_configured_losses_and_label_key():
    from tpr_mm.structures import RetrievalFeatures, TextReIDDataSample

    head = MODELS.build(
        dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss'), dict(type='ITCLoss')])
    )
    g = torch.Generator().manual_seed(2)
    img, txt = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    samples = [TextReIDDataSample(metainfo=dict(pid=p)) for p in (0, 1, 0)]
    out = head.loss(RetrievalFeatures(img, txt), samples)
    assert set(out) == {'loss_sdm', 'loss_itc'}
    assert out['loss_sdm'].item() == pytest.approx(
        sdm_loss(img, txt, torch.tensor([0, 1, 0])).item(), rel=1e-6
    )
    # ITC alone needs no label field at all (weak supervision).
    itc_head = MODELS.build(dict(type='GlobalMatchingHead', losses=[dict(type='ITCLoss')]))
    no_labels = [TextReIDDataSample() for _ in range(3)]
    assert 'loss_itc' in itc_head.loss(RetrievalFeatures(img, txt), no_labels)
    with pytest.raises(KeyError, match='pseudo_label'):
        MODELS.build(
            dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss')], label_key='pseudo_label')
        ).loss(RetrievalFeatures(img, txt), samples)
