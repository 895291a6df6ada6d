# Copyright (c) tpr_mm contributors. All rights reserved.
import numpy as np
import pytest
import torch

from tpr_mm.models.memories import PrototypeMemory, cluster_means, momentum_update
from tpr_mm.registry import MODELS


def _naive_update(bank, feats, labels, mu):
    bank = bank.clone()
    for f, y in zip(feats, labels.tolist()):
        if y < 0:
            continue
        v = mu * bank[y] + (1 - mu) * f
        bank[y] = v / v.norm()
    return bank


def _unit(x):
    return x / x.norm(dim=1, keepdim=True)


@pytest.mark.parametrize('mu', [0.0, 0.2, 0.9])
def test_momentum_update_matches_sequential_loop(mu):
    g = torch.Generator().manual_seed(3)
    bank = _unit(torch.randn(5, 7, generator=g))
    feats = _unit(torch.randn(13, 7, generator=g))
    labels = torch.tensor([0, 3, 3, -1, 0, 3, 4, -1, 1, 3, 0, 4, 2])
    got = momentum_update(bank, feats, labels, mu)
    ref = _naive_update(bank, feats, labels, mu)
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-6)
    # the input bank is untouched (a loss may still hold it for backward)
    assert not torch.equal(got, bank)


def test_momentum_update_all_outliers_is_identity():
    bank = _unit(torch.randn(3, 4))
    got = momentum_update(bank, torch.randn(5, 4), torch.full((5,), -1), 0.2)
    torch.testing.assert_close(got, bank)


def test_cluster_means_ignore_outliers():
    feats = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0], [0.0, -1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 0, -1, 1])
    means = cluster_means(feats, labels, 2)
    ref0 = torch.tensor([1.0, 0.0])  # mean of unit rows [1,0] and [1,0]
    ref1 = _unit((torch.tensor([[0.0, 1.0]]) + _unit(torch.tensor([[1.0, 1.0]]))) / 2)[0]
    torch.testing.assert_close(means[0], ref0)
    torch.testing.assert_close(means[1], ref1)


def test_memory_reset_update_and_backward_through_old_bank():
    mem = MODELS.build({'type': 'PrototypeMemory', 'momentum': 0.2})
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(11, 6)).astype(np.float32)
    labels = np.array([0, 0, 1, 1, 1, 2, -1, 2, 0, -1, 1])
    mem.reset(feats, labels)
    assert mem.num_prototypes == 3 and mem.bank.shape == (3, 6)
    torch.testing.assert_close(mem.bank.norm(dim=1), torch.ones(3))
    # a loss uses the bank, then the memory updates, then backward still works
    x = torch.randn(4, 6, requires_grad=True)
    y = torch.tensor([0, 2, -1, 1])
    logits = x @ mem.prototypes.t()
    before = mem.bank.clone()
    mem.update(x, y)
    logits.sum().backward()
    assert x.grad is not None
    ref = _naive_update(before, _unit(x.detach()), y, 0.2)
    torch.testing.assert_close(mem.bank, ref, rtol=1e-6, atol=1e-6)


def test_memory_state_dict_resizes_on_load():
    a, b = PrototypeMemory(), PrototypeMemory()
    a.reset(torch.randn(9, 5), torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, -1]))
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.bank, a.bank)
    assert 'bank' in a.state_dict()  # checkpointed


def test_memory_rejects_bad_input():
    with pytest.raises(ValueError, match='momentum'):
        PrototypeMemory(momentum=1.0)
    mem = PrototypeMemory()
    with pytest.raises(ValueError, match='labels'):
        mem.reset(torch.randn(4, 3), torch.zeros(5, dtype=torch.long))
    mem.reset(torch.randn(4, 3), torch.tensor([0, 0, 1, 1]))
    with pytest.raises(IndexError, match='out of range'):
        mem.update(torch.randn(2, 3), torch.tensor([0, 5]))
