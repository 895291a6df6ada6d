# Copyright (c) tpr_mm contributors. All rights reserved.
"""benchmarks/bench_search.py at a tiny size: it runs and its figures add up."""

import json

import faiss
import numpy as np
from tool_helpers import load_tool

bench = load_tool('benchmarks/bench_search.py')


def test_gallery_has_identity_structure():
    xb, xq = bench.make_gallery(2000, 24, groups=5, ids_per_group=4, nq=7, seed=0)
    assert xb.shape == (2000, 24) and xq.shape == (7, 24) and xb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(xb, axis=1), 1.0, atol=1e-5)
    # a query's nearest gallery items are much closer than a random pair
    top = np.sort(xq @ xb.T, axis=1)[:, -3:]
    assert top.min() > (xb[:100] @ xb[100:200].T).mean() + 0.2


def test_recall_at_k_counts_overlap():
    truth = np.array([[1, 2, 3], [4, 5, 6]])
    found = np.array([[3, 2, 9], [7, 8, 9]])
    assert bench.recall_at_k(found, truth) == (2 / 3 + 0) / 2


def test_tiny_run_reports_every_figure(tmp_path, capsys):
    before = faiss.omp_get_max_threads()
    out = str(tmp_path / 'bench.json')
    try:
        report = bench.main(
            [
                '--n',
                '3001',
                '--dim',
                '32',
                '--nq',
                '25',
                '--latency-queries',
                '5',
                '--groups',
                '10',
                '--nlist',
                '16',
                '--pq-bytes',
                '8',
                '--train-size',
                '2000',
                '--nprobe',
                '2',
                '16',
                '--k-factor',
                '1',
                '8',
                '--threads',
                '1',
                '--json',
                out,
            ]
        )
    finally:
        faiss.omp_set_num_threads(before)
    with open(out) as f:
        assert json.load(f)['rows'] == report['rows']
    rows = {(r['nprobe'], r['k_factor']): r for r in report['rows']}
    assert set(rows) == {(2, 1), (16, 1), (2, 8), (16, 8)}
    for r in rows.values():
        assert 0.0 <= r['recall'] <= 1.0 and r['single_ms']['median'] > 0
    # nprobe = nlist with deep re-ranking is near-exact; re-ranking never hurts here
    assert rows[(16, 8)]['recall'] >= 0.95
    assert rows[(16, 8)]['recall'] >= rows[(16, 1)]['recall']
    assert report['index_gb']['refine_vectors'] == 3001 * 32 * 4 / 1e9
    assert 'recall@10' in capsys.readouterr().out
