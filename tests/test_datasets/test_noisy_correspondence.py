# Copyright (c) tpr_mm contributors. All rights reserved.
"""Noisy correspondence: RDE's generator, its index-file format, the dataset option."""

import os.path as osp

import numpy as np
import pytest
from mmengine.registry import init_default_scope

from tpr_mm.datasets import CUHKPEDES
from tpr_mm.datasets.noisy_correspondence import (
    load_noisy_permutation,
    noisy_permutation,
    resolve_noisy_permutation,
)
from tpr_mm.registry import DATASETS, TRANSFORMS

ROOT = osp.join(osp.dirname(__file__), '..', 'data', 'CUHK-PEDES')


def _rde_inject(nums, noisy_rate, seed):
    """QinYang79/RDE datasets/bases.py inject_noisy_correspondence after set_seed(seed)."""
    np.random.seed(seed)  # RDE seeds the global generator once at start-up
    noisy_inx = np.arange(nums)
    inx = np.arange(nums)
    np.random.shuffle(inx)
    c_noisy_inx = inx[0 : int(noisy_rate * nums)]
    shuffle_noisy_inx = np.array(c_noisy_inx)
    np.random.shuffle(shuffle_noisy_inx)
    noisy_inx[c_noisy_inx] = shuffle_noisy_inx
    real = [1 if noisy_inx[i] == i else 0 for i in range(nums)]
    return noisy_inx, np.array(real)


@pytest.mark.parametrize(
    'n,rate,seed', [(1000, 0.2, 1), (777, 0.5, 1), (500, 0.8, 3), (10, 0.0, 1)]
)
def test_generator_equals_rde_and_is_deterministic(n, rate, seed):
    state = np.random.get_state()
    want, _ = _rde_inject(n, rate, seed)
    np.random.set_state(state)
    got = noisy_permutation(n, rate, seed)
    assert got.dtype == np.int64 and np.array_equal(got, want)
    assert np.array_equal(noisy_permutation(n, rate, seed), got)  # same seed, same corruption
    assert np.array_equal(np.sort(got), np.arange(n))
    moved = (got != np.arange(n)).sum()
    assert moved <= int(rate * n) and (rate == 0 or moved >= 0.9 * int(rate * n))
    if rate > 0:
        assert not np.array_equal(noisy_permutation(n, rate, seed + 1), got)


def _dataset(**kwargs):
    return CUHKPEDES(data_root=ROOT, split='train', modality='pair', **kwargs)


def test_dataset_reads_an_rde_index_file(tmp_path):
    clean = _dataset()
    perm = np.array([0, 2, 1, 3, 8, 5, 6, 7, 4], dtype=np.int64)  # 4 pairs swapped
    path = str(tmp_path / 'CUHK-PEDES_0.5.npy')
    np.save(path, perm)  # RDE's format: np.save of the index array
    ds = DATASETS.build(
        dict(
            type='CUHKPEDES',
            data_root=ROOT,
            split='train',
            modality='pair',
            noisy_rate=0.5,
            noisy_file=path,
            noisy_seed=99,
        )
    )
    assert len(ds) == len(clean) == 9
    for i in range(9):
        item, ref, src = ds.get_data_info(i), clean.get_data_info(i), clean.get_data_info(perm[i])
        assert item['caption'] == src['caption'] and item['caption_id'] == src['caption_id']
        assert (item['img_path'], item['pid'], item['image_id']) == (
            ref['img_path'],
            ref['pid'],
            ref['image_id'],
        )
        assert item['is_clean'] == (perm[i] == i)
    assert np.array_equal(ds.pids, clean.pids)  # identities stay with the image


def test_missing_file_falls_back_to_the_seeded_generator(tmp_path):
    ds = _dataset(noisy_rate=0.5, noisy_file=str(tmp_path / 'absent.npy'), noisy_seed=4)
    perm = noisy_permutation(9, 0.5, 4)
    clean = _dataset()
    assert [ds.get_data_info(i)['caption'] for i in range(9)] == [
        clean.get_data_info(int(j))['caption'] for j in perm
    ]
    assert [ds.get_data_info(i)['is_clean'] for i in range(9)] == (perm == np.arange(9)).tolist()
    assert all(_dataset(noisy_rate=0.0).get_data_info(i)['is_clean'] for i in range(9))
    assert 'is_clean' not in clean.get_data_info(0)


def test_is_clean_reaches_the_data_sample(tmp_path):
    perm = np.array([1, 0, 2, 3, 4, 5, 6, 7, 8])
    path = str(tmp_path / 'p.npy')
    np.save(path, perm)
    init_default_scope('tpr_mm')  # the pipeline's transforms live in the tpr_mm scope
    ds = DATASETS.build(
        dict(
            type='CUHKPEDES',
            data_root=ROOT,
            split='train',
            modality='pair',
            noisy_rate=0.2,
            noisy_file=path,
            pipeline=[
                dict(type='TokenizeCaption', context_length=16),
                dict(type='PackTextReIDInputs'),
            ],
        )
    )
    assert TRANSFORMS.get('PackTextReIDInputs') is not None
    assert [ds[i]['data_samples'].is_clean for i in range(3)] == [False, False, True]


@pytest.mark.parametrize(
    'array,match',
    [
        (np.arange(8), 'has 8 entries but the training split has 9'),
        (np.arange(9).reshape(3, 3), '1-D integer'),
        (np.arange(9) * 1.0, '1-D integer'),
        (np.array([0, 1, 2, 3, 4, 5, 6, 7, 7]), 'values repeat'),
        (np.array([0, 1, 2, 3, 4, 5, 6, 7, 9]), 'out of range'),
    ],
)
def test_bad_index_files_raise_naming_the_file(tmp_path, array, match):
    path = str(tmp_path / 'bad.npy')
    np.save(path, array)
    with pytest.raises(ValueError, match=match) as err:
        load_noisy_permutation(path, 9)
    assert 'bad.npy' in str(err.value)
    with pytest.raises(ValueError, match=match):
        _dataset(noisy_rate=0.2, noisy_file=path)


def test_noise_only_on_training_pairs():
    with pytest.raises(ValueError, match='split="train"'):
        CUHKPEDES(data_root=ROOT, split='test', modality='text', noisy_rate=0.2)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        _dataset(noisy_rate=1.5)


def test_a_file_of_another_rate_is_refused(tmp_path):
    """rde_cuhk_noise50.py with noisy_rate=0.8 must not train at 50 % labelled as 80 %."""
    n = 1000
    path = str(tmp_path / 'CUHK-PEDES_0.5.npy')
    np.save(path, noisy_permutation(n, 0.5, 1))
    moved = int((noisy_permutation(n, 0.5, 1) != np.arange(n)).sum())
    resolve_noisy_permutation(n, 0.5, path, seed=0, owner='test')  # the file's own rate
    with pytest.raises(ValueError, match=rf"CUHK-PEDES_0.5.npy': {moved} of 1000 pairs .* 0.8"):
        resolve_noisy_permutation(n, 0.8, path, seed=0, owner='test')


def test_an_npz_archive_is_named(tmp_path):
    path = str(tmp_path / 'perm.npz')
    np.savez(path, perm=np.arange(9))
    with pytest.raises(ValueError, match=r"an .npz archive \(arrays \['perm'\]\)"):
        load_noisy_permutation(path, 9)
