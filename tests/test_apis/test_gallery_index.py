# Copyright (c) tpr_mm contributors. All rights reserved.
import json
import os
import re

import faiss
import numpy as np
import pytest

from tpr_mm.apis import FingerprintMismatchError, GalleryIndex, ivfpq_factory
from tpr_mm.apis.gallery_index import META_FILE


@pytest.fixture(autouse=True)
def _one_faiss_thread():
    # Tiny inputs gain nothing from threads, and OpenMP spin-waiting makes
    # k-means 10-50x slower when the CPU cores are shared with other jobs.
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive_topk(q, g, k):
    sim = _unit(q) @ _unit(g).T
    order = np.argsort(-sim, axis=1, kind='stable')[:, :k]
    return np.take_along_axis(sim, order, 1), order


def _clustered(n, d, clusters, seed, noise=0.5):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d))
    x = centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d))
    return _unit(x).astype(np.float32)


def test_flat_search_matches_naive_cosine_topk():
    rng = np.random.default_rng(0)
    g, q = rng.standard_normal((37, 12)), rng.standard_normal((5, 12))
    index = GalleryIndex(12).build(g * 3.0, [f'img{i}.jpg' for i in range(37)])
    scores, ids = index.search(q, k=7)
    ref_scores, ref_ids = _naive_topk(q, g, 7)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    top = index.search_paths(q[:1], k=3)[0]
    assert [p for p, _ in top] == [f'img{i}.jpg' for i in ref_ids[0, :3]]


def test_add_in_chunks_equals_one_build_and_k_is_clipped():
    rng = np.random.default_rng(1)
    g, q = rng.standard_normal((23, 8)), rng.standard_normal((3, 8))
    whole = GalleryIndex(8).build(g)
    parts = GalleryIndex(8).add(g[:10], [str(i) for i in range(10)]).add(g[10:])
    assert parts.paths == [str(i) for i in range(23)]
    for k in (5, 50):
        s1, i1 = whole.search(q, k)
        s2, i2 = parts.search(q, k)
        assert i1.shape == (3, min(k, 23))
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2, atol=1e-6)


def test_save_load_roundtrip_and_fingerprint_refusal(tmp_path):
    rng = np.random.default_rng(2)
    g, q = rng.standard_normal((19, 6)), rng.standard_normal((4, 6))
    fp = dict(model='m1', pipeline='p', checkpoint=dict(sha256='abc', size=10), embed_dim=6)
    index = GalleryIndex(6, fingerprint=fp).build(g, [f'/g/{i}.png' for i in range(19)])
    index.save(str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 3 and names[1:] == ['index.lock', 'index_meta.json']
    assert re.fullmatch(r'index-[0-9a-f]{16}\.faiss', names[0]), names
    loaded = GalleryIndex.load(str(tmp_path), fingerprint=dict(fp))
    assert loaded.paths == index.paths and loaded.fingerprint == fp
    assert index.search_paths(q, 5) == loaded.search_paths(q, 5)
    other = dict(fp, checkpoint=dict(sha256='def', size=10))
    with pytest.raises(FingerprintMismatchError, match='checkpoint'):
        GalleryIndex.load(str(tmp_path), fingerprint=other)
    with pytest.raises(FingerprintMismatchError, match='embed_dim'):
        GalleryIndex.load(str(tmp_path), fingerprint=dict(fp, embed_dim=7))
    GalleryIndex.load(str(tmp_path))  # no fingerprint given: no check


def test_load_rejects_missing_or_inconsistent_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='index_meta.json'):
        GalleryIndex.load(str(tmp_path))
    GalleryIndex(4).build(np.eye(4)).save(str(tmp_path))
    meta_path = tmp_path / META_FILE
    meta = json.loads(meta_path.read_text())
    meta['paths'] = meta['paths'][:3]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match='3 paths'):
        GalleryIndex.load(str(tmp_path))


def test_bad_inputs_are_named():
    index = GalleryIndex(5)
    with pytest.raises(RuntimeError, match='empty'):
        index.search(np.ones((1, 5)))
    with pytest.raises(ValueError, match=r'shape \(N, 5\)'):
        index.add(np.ones((3, 4)))
    bad = np.ones((3, 5))
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match='row 2'):
        index.add(bad)
    with pytest.raises(ValueError, match='2 paths'):
        index.add(np.ones((3, 5)), ['a', 'b'])
    with pytest.raises(ValueError, match='factory'):
        GalleryIndex(5, 'NotAnIndex42')


def test_ivfpq_factory_sizes():
    assert ivfpq_factory(1_000_000, 512) == 'IVF4096,PQ64x8,RFlat'
    assert ivfpq_factory(10_000, 512, refine='') == 'IVF256,PQ64x8'
    assert ivfpq_factory(100, 32) == 'IVF2,PQ8x6,RFlat'
    assert ivfpq_factory(5, 48) == 'IVF1,PQ12x2,RFlat'
    assert ivfpq_factory(200_000, 96, pq_bytes=16) == 'IVF2048,PQ16x8,RFlat'
    assert ivfpq_factory(200_000, 3) == 'IVF2048,PQ1x8,RFlat'


def test_ivfpq_recall_and_append_without_retraining():
    g = _clustered(3001, 32, clusters=40, seed=3)
    q = _clustered(50, 32, clusters=40, seed=4)
    index = GalleryIndex(32, 'ivfpq', nprobe=8, k_factor=10).build(g[:2500])
    assert index.factory == 'IVF64,PQ8x8,RFlat' and index.index.is_trained
    _, ids = index.search(q, 10)
    _, ref = _naive_topk(q, g[:2500], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, ref)])
    assert recall >= 0.9, recall
    centroids = faiss.extract_index_ivf(index.index).quantizer.reconstruct_n(0, 64)
    index.add(g[2500:], [f'new{i}' for i in range(501)])
    # the quantizers are not retrained by add: old centroids unchanged
    np.testing.assert_array_equal(
        centroids, faiss.extract_index_ivf(index.index).quantizer.reconstruct_n(0, 64)
    )
    hits = index.search_paths(g[2500:2510], 1)
    assert [h[0][0] for h in hits] == [f'new{i}' for i in range(10)]
    assert all(abs(h[0][1] - 1.0) < 1e-4 for h in hits)  # refine gives exact scores


def test_custom_factory_string_and_search_params_survive_save(tmp_path):
    g = _clustered(400, 16, clusters=8, seed=5)
    index = GalleryIndex(16, 'IVF8,Flat', nprobe=3).build(g)
    assert faiss.extract_index_ivf(index.index).nprobe == 3
    index.save(str(tmp_path))
    loaded = GalleryIndex.load(str(tmp_path))
    assert loaded.factory == 'IVF8,Flat'
    assert faiss.extract_index_ivf(loaded.index).nprobe == 3
    np.testing.assert_array_equal(index.search(g[:7], 4)[1], loaded.search(g[:7], 4)[1])


def test_gpu_copy_is_used_when_available_and_cpu_fallback(monkeypatch):
    calls = []

    class FakeGpuIndex:
        def __init__(self, cpu):
            self.cpu = cpu

        def search(self, q, k):
            calls.append(k)
            return self.cpu.search(q, k)

    monkeypatch.setattr(faiss, 'StandardGpuResources', lambda: object(), raising=False)
    monkeypatch.setattr(
        faiss, 'index_cpu_to_gpu', lambda res, dev, idx: FakeGpuIndex(idx), raising=False
    )
    monkeypatch.setattr(faiss, 'get_num_gpus', lambda: 1)
    g = np.random.default_rng(6).standard_normal((9, 4))
    index = GalleryIndex(4).build(g)
    assert index.use_gpu
    ids = index.search(g[:2], 3)[1]
    assert calls == [3] and list(ids[:, 0]) == [0, 1]

    def refuse(res, dev, idx):
        raise RuntimeError('not supported on GPU')

    monkeypatch.setattr(faiss, 'index_cpu_to_gpu', refuse, raising=False)
    index.add(-g[:1])  # invalidates the GPU copy
    assert list(index.search(g[:2], 3)[1][:, 0]) == [0, 1]
    assert not index.use_gpu and calls == [3]
