# Copyright (c) tpr_mm contributors. All rights reserved.
"""HCM losses of CPCL against naive per-row references."""

import math

import pytest
import torch

from tpr_mm.models.losses import prototype_contrast_loss, pseudo_sdm_loss
from tpr_mm.registry import MODELS


def _unit(x):
    return x / x.norm(dim=1, keepdim=True)


def _naive_proto(feats, protos, labels, tau):
    rows = []
    for f, y in zip(feats, labels.tolist()):
        if y < 0:
            continue
        f = f / f.norm()
        logits = [float(f @ p) / tau for p in protos]
        m = max(logits)
        lse = m + math.log(sum(math.exp(v - m) for v in logits))
        rows.append(lse - logits[y])
    return sum(rows) / len(rows) if rows else 0.0


def _naive_pseudo_sdm(img, txt, labels, tau, eps=1e-8):
    n = img.shape[0]
    img, txt = _unit(img), _unit(txt)
    pos = [
        [i == j or (labels[i] >= 0 and labels[i] == labels[j]) for j in range(n)] for i in range(n)
    ]
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        for i in range(n):
            logits = [float(a[i] @ b[j]) / tau for j in range(n)]
            m = max(logits)
            z = sum(math.exp(v - m) for v in logits)
            npos = sum(pos[i])
            for j in range(n):
                p = math.exp(logits[j] - m) / z
                q = (1.0 if pos[i][j] else 0.0) / npos
                total += p * (math.log(p) - math.log(q + eps)) / n
    return total


LABEL_CASES = {
    'clustered': [0, 2, 1, 0, 3, 2, 1],
    'partial_outliers': [0, -1, 1, 0, -1, 2, -1],
    'all_outliers': [-1] * 7,
}


@pytest.mark.parametrize('case', list(LABEL_CASES))
def test_prototype_contrast_matches_naive(case):
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(7, 5, generator=g, dtype=torch.float64, requires_grad=True)
    protos = _unit(torch.randn(4, 5, generator=g, dtype=torch.float64))
    labels = torch.tensor(LABEL_CASES[case])
    got = prototype_contrast_loss(feats, protos, labels, 0.05)
    assert math.isclose(
        float(got.detach()),
        _naive_proto(feats.detach(), protos, labels, 0.05),
        rel_tol=1e-9,
        abs_tol=1e-12,
    )
    got.backward()  # connected to the graph even when every row is masked
    assert feats.grad is not None
    outliers = labels < 0
    assert torch.all(feats.grad[outliers] == 0)  # masked rows get no gradient


def test_prototype_contrast_empty_bank_and_bad_label():
    feats = torch.randn(3, 4, requires_grad=True)
    empty = prototype_contrast_loss(feats, torch.zeros(0, 4), torch.tensor([-1, -1, -1]))
    assert float(empty.detach()) == 0
    with pytest.raises(IndexError, match='out of range'):
        prototype_contrast_loss(feats, _unit(torch.randn(2, 4)), torch.tensor([0, 2, -1]))


@pytest.mark.parametrize('case', list(LABEL_CASES))
def test_intra_and_cross_modules_pair_the_right_banks(case):
    g = torch.Generator().manual_seed(2)
    fv = torch.randn(7, 5, generator=g, dtype=torch.float64)
    ft = torch.randn(7, 5, generator=g, dtype=torch.float64)
    mv = _unit(torch.randn(4, 5, generator=g, dtype=torch.float64))
    mt = _unit(torch.randn(3, 5, generator=g, dtype=torch.float64))
    yv = torch.tensor(LABEL_CASES[case])
    yt = torch.tensor([2, -1, 0, 1, 2, -1, 0])
    kw = {'img_labels': yv, 'txt_labels': yt, 'img_protos': mv, 'txt_protos': mt}
    intra = MODELS.build(
        {'type': 'IntraModalPrototypeLoss', 'temperature': 0.05, 'loss_weight': 0.5}
    )
    cross = MODELS.build({'type': 'CrossModalPrototypeLoss', 'temperature': 0.1})
    ref_intra = 0.5 * (_naive_proto(fv, mv, yv, 0.05) + _naive_proto(ft, mt, yt, 0.05))
    ref_cross = _naive_proto(fv, mt, yt, 0.1) + _naive_proto(ft, mv, yv, 0.1)
    assert math.isclose(float(intra(fv, ft, **kw)), ref_intra, rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(float(cross(fv, ft, **kw)), ref_cross, rel_tol=1e-9, abs_tol=1e-12)
    assert intra.loss_name == 'loss_proto_intra' and cross.loss_name == 'loss_proto_cross'
    with pytest.raises(ValueError, match='memories'):
        intra(fv, ft, img_labels=yv, txt_labels=yt)


@pytest.mark.parametrize('case', list(LABEL_CASES))
def test_pseudo_sdm_matches_naive(case):
    g = torch.Generator().manual_seed(4)
    img = torch.randn(7, 6, generator=g, dtype=torch.float64)
    txt = torch.randn(7, 6, generator=g, dtype=torch.float64)
    labels = torch.tensor(LABEL_CASES[case])
    got = pseudo_sdm_loss(img, txt, labels, 0.1)
    assert math.isclose(float(got), _naive_pseudo_sdm(img, txt, labels.tolist(), 0.1), rel_tol=1e-9)


def test_pseudo_sdm_module_uses_the_chosen_modality():
    g = torch.Generator().manual_seed(5)
    img, txt = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    yv, yt = torch.tensor([0, 0, 1, -1, 1]), torch.tensor([1, -1, -1, 0, 0])
    by_img = MODELS.build({'type': 'PseudoLabelSDMLoss'})
    by_txt = MODELS.build(
        {'type': 'PseudoLabelSDMLoss', 'label_modality': 'txt', 'loss_weight': 2.0}
    )
    torch.testing.assert_close(
        by_img(img, txt, img_labels=yv, txt_labels=yt), pseudo_sdm_loss(img, txt, yv, 0.02)
    )
    torch.testing.assert_close(
        by_txt(img, txt, img_labels=yv, txt_labels=yt), 2 * pseudo_sdm_loss(img, txt, yt, 0.02)
    )
    with pytest.raises(ValueError, match='label_modality'):
        MODELS.build({'type': 'PseudoLabelSDMLoss', 'label_modality': 'pid'})
