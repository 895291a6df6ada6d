# Copyright (c) tpr_mm contributors. All rights reserved.
from collections import Counter

import numpy as np
import pytest

from tpr_mm.datasets.samplers import IdentitySampler
from tpr_mm.datasets.samplers import identity_sampler as sampler_mod
from tpr_mm.registry import DATA_SAMPLERS


class _ToyDataset:
    """pid p has (p % 4) + 1 images with 2 captions each: items are (pid, image)."""

    def __init__(self, num_ids=11):
        self.items = []
        image_id = 0
        for pid in range(num_ids):
            for _ in range(pid % 4 + 1):
                self.items += [{'pid': pid, 'image_id': image_id}] * 2
                image_id += 1
        self.pids = np.array([d['pid'] for d in self.items])

    def __len__(self):
        return len(self.items)

    def get_data_info(self, idx):
        return dict(self.items[idx])


def test_groups_of_k_same_identity_with_distinct_images_first():
    ds = _ToyDataset()
    sampler = DATA_SAMPLERS.build(
        {'type': 'IdentitySampler', 'num_instances': 3, 'seed': 5}, default_args={'dataset': ds}
    )
    assert isinstance(sampler, IdentitySampler)
    indices = list(sampler)
    assert len(indices) == len(sampler) == 11 * 3
    groups = [indices[i : i + 3] for i in range(0, len(indices), 3)]
    assert sorted(ds.items[g[0]]['pid'] for g in groups) == list(range(11))
    for g in groups:
        pids = {ds.items[i]['pid'] for i in g}
        assert len(pids) == 1
        n_images = pids.pop() % 4 + 1
        images = [ds.items[i]['image_id'] for i in g]
        assert len(set(images)) == min(3, n_images)
    # A batch of P*K items holds P identities with K items each.
    batch = indices[:12]
    assert sorted(Counter(ds.items[i]['pid'] for i in batch).values()) == [3, 3, 3, 3]


def test_epochs_reshuffle_deterministically():
    ds = _ToyDataset()
    a, b = IdentitySampler(ds, 4, seed=0), IdentitySampler(ds, 4, seed=0)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)


@pytest.mark.parametrize('round_up', [True, False])
def test_ranks_split_identities(monkeypatch, round_up):
    ds = _ToyDataset(num_ids=11)
    per_rank = []
    for rank in range(3):
        monkeypatch.setattr(sampler_mod, 'get_dist_info', lambda r=rank: (r, 3))
        s = IdentitySampler(ds, num_instances=2, seed=7, round_up=round_up)
        s.set_epoch(2)
        idx = list(s)
        assert len(idx) == len(s)
        groups = [idx[i : i + 2] for i in range(0, len(idx), 2)]
        per_rank.append([ds.items[g[0]]['pid'] for g in groups])
        for g in groups:
            assert ds.items[g[0]]['pid'] == ds.items[g[1]]['pid']
    seen = [p for ranks in per_rank for p in ranks]
    assert set(seen) == set(range(11))
    if round_up:
        assert [len(r) for r in per_rank] == [4, 4, 4]  # 11 ids padded to 12
        assert len(seen) - len(set(seen)) == 1
    else:
        assert sorted(seen) == list(range(11))


def test_rejects_unlabelled_items():
    ds = _ToyDataset()
    ds.pids = ds.pids.copy()
    ds.pids[4] = -1
    with pytest.raises(ValueError, match='item 4'):
        IdentitySampler(ds, 2, seed=0)
    with pytest.raises(ValueError, match='num_instances'):
        IdentitySampler(_ToyDataset(), 0, seed=0)
