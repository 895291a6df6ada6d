# Copyright (c) tpr_mm contributors. All rights reserved.
"""MLM loss against IRRA's compute_mlm written out as a loop."""

import math

import pytest
import torch

from tpr_mm.registry import MODELS


def reference_mlm(scores, labels):
    """CrossEntropyLoss(ignore_index=0) (anosorae/IRRA:model/objectives.py), as a loop."""
    total, count = 0.0, 0
    for row, label in zip(scores.tolist(), labels.tolist()):
        if label == 0:
            continue
        log_z = math.log(sum(math.exp(s) for s in row))
        total += log_z - row[label]
        count += 1
    return total / count


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_equals_reference(seed):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(40, 30, generator=g) * 3
    labels = torch.randint(1, 30, (40,), generator=g)
    labels[torch.rand(40, generator=g) < 0.7] = 0
    labels[0] = 5
    loss = MODELS.build(dict(type='MLMLoss', loss_weight=2.0))
    assert loss.loss_name == 'loss_mlm'
    got = loss(scores, labels)
    assert got.item() == pytest.approx(2.0 * reference_mlm(scores, labels), rel=1e-5)


def test_no_labelled_position_gives_zero_with_graph():
    scores = torch.randn(4, 10, requires_grad=True)
    out = MODELS.build(dict(type='MLMLoss'))(scores, torch.zeros(4, dtype=torch.long))
    assert out.item() == 0.0
    out.backward()
    assert torch.equal(scores.grad, torch.zeros_like(scores))


def test_shape_errors():
    with pytest.raises(ValueError, match=r'\(N, V\) logits'):
        MODELS.build(dict(type='MLMLoss'))(torch.randn(2, 3, 4), torch.ones(2, 3).long())
