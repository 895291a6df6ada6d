# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact chunked rank metrics against the naive full-sort oracle."""

import logging

import numpy as np
import pytest
import torch

import tpr_mm.evaluation.functional.ranking as ranking
from tpr_mm.evaluation.functional import (
    naive_rank_metrics,
    rank_metrics,
    rank_metrics_from_features,
    topk_indices,
)

KS = (1, 3, 7)


def _problem(seed, num_q, num_g, num_ids, ties=None):
    """Random (Q, G) scores with ids; every query id has a gallery image."""
    g = torch.Generator().manual_seed(seed)
    g_ids = torch.randint(0, num_ids, (num_g,), generator=g)
    q_ids = g_ids[torch.randint(0, num_g, (num_q,), generator=g)]
    sim = torch.randn(num_q, num_g, generator=g)
    sim += 1.5 * (q_ids[:, None] == g_ids[None, :])  # positives score higher, still overlap
    if ties == 'quantised':
        sim = (sim * 2).round() / 2
    elif ties == 'binary':
        sim = (sim > 0.5).float()
    return sim, q_ids, g_ids


def _assert_close(got, want, tol=1e-4):
    assert got.keys() == want.keys()
    for key in want:
        assert abs(got[key] - want[key]) <= tol, (key, got[key], want[key])


@pytest.mark.parametrize(
    'seed,num_q,num_g,num_ids',
    [
        (0, 37, 101, 9),  # many positives per query
        (1, 53, 211, 97),  # few positives
        (2, 1, 13, 3),  # single query
        (3, 19, 1, 1),  # single gallery item
        (4, 64, 333, 333),  # mostly one positive
    ],
)
def test_matches_naive_reference(seed, num_q, num_g, num_ids):
    sim, q_ids, g_ids = _problem(seed, num_q, num_g, num_ids)
    want = naive_rank_metrics(sim.double(), q_ids, g_ids, ks=KS)
    _assert_close(rank_metrics(sim, q_ids, g_ids, ks=KS), want)
    assert 0 < want['mAP'] <= 100


def test_hand_computed_example():
    # query 0 (id 0): ranking g1(x) g0(+) g3(x) g2(+) -> ranks 2, 4
    # query 1 (id 1): ranking g3(+) g0 g2 g1 -> rank 1
    sim = torch.tensor([[0.8, 0.9, 0.3, 0.5], [0.6, 0.1, 0.2, 0.7]])
    q_ids, g_ids = [0, 1], [0, 2, 0, 1]
    want = {
        'R1': 50.0,
        'R2': 100.0,
        'R5': 100.0,
        'mAP': 100 * ((1 / 2 + 2 / 4) / 2 + 1.0) / 2,
        'mINP': 100 * (2 / 4 + 1.0) / 2,
    }
    for fn in (rank_metrics, naive_rank_metrics):
        got = fn(sim, q_ids, g_ids, ks=(1, 2, 5))
        assert got == pytest.approx(want, abs=1e-12)


def test_ties_break_by_gallery_index():
    # all scores equal: the stable order is the gallery order
    sim = torch.zeros(2, 5)
    got = rank_metrics(sim, [1, 2], [0, 1, 2, 1, 2], ks=(1, 2))
    # query id 1 at ranks 2, 4; query id 2 at ranks 3, 5
    assert got['R1'] == 0.0 and got['R2'] == 50.0
    assert got['mAP'] == pytest.approx(100 * ((1 / 2 + 2 / 4) / 2 + (1 / 3 + 2 / 5) / 2) / 2)
    assert got['mINP'] == pytest.approx(100 * (2 / 4 + 2 / 5) / 2)


@pytest.mark.parametrize('ties', ['quantised', 'binary'])
@pytest.mark.parametrize('seed', [5, 6])
def test_tied_scores_exact(ties, seed):
    sim, q_ids, g_ids = _problem(seed, 41, 157, 13, ties=ties)
    want = naive_rank_metrics(sim.double(), q_ids, g_ids, ks=KS)
    for chunk in (3, None):
        _assert_close(rank_metrics(sim, q_ids, g_ids, ks=KS, chunk_size=chunk), want, 1e-9)


def test_positive_ranks_equal_full_sort_ranks():
    sim, q_ids, g_ids = _problem(7, 29, 187, 11, ties='quantised')
    order = torch.sort(sim, dim=1, descending=True, stable=True).indices
    full = torch.empty_like(order).scatter_(1, order, torch.arange(1, 188).expand(29, -1))
    g_sorted, g_order = torch.sort(g_ids, stable=True)
    pos_idx, valid, _ = ranking._positive_index(q_ids, g_sorted, g_order)
    got = ranking._positive_ranks(sim, pos_idx, valid).masked_fill(~valid, 0)
    want = full.gather(1, pos_idx).masked_fill(~valid, 0)
    assert torch.equal(got.sort(1).values, want.sort(1).values)


def test_numpy_torch_dtypes_and_devices_agree():
    sim, q_ids, g_ids = _problem(8, 23, 77, 7)
    want = rank_metrics(sim, q_ids, g_ids, ks=KS)
    for s, q, g in [
        (sim.numpy(), q_ids.numpy().astype(np.int32), g_ids.numpy().astype(np.uint8)),
        (sim.double(), q_ids.short(), g_ids.int()),
        (sim.half().float(), q_ids.tolist(), g_ids.tolist()),
    ]:
        got = rank_metrics(s, np.asarray(q), np.asarray(g), ks=KS)
        if s.dtype == torch.float32 and torch.equal(torch.as_tensor(s), sim):
            assert got == want
        else:
            _assert_close(got, naive_rank_metrics(torch.as_tensor(s).double(), q, g, ks=KS))


def test_torch_path_without_numpy_matches(monkeypatch):
    # the non-CPU code path (torch.ge + nonzero) on CPU tensors
    sim, q_ids, g_ids = _problem(9, 31, 97, 8, ties='quantised')
    want = rank_metrics(sim, q_ids, g_ids, ks=KS)

    def torch_only(s, lo, buf):
        return torch.ge(s, lo[:, None]).view(-1).nonzero().squeeze(1)

    monkeypatch.setattr(ranking, '_candidates', torch_only)
    assert rank_metrics(sim, q_ids, g_ids, ks=KS) == want


def test_thread_split_of_candidate_scan(monkeypatch):
    sim, q_ids, g_ids = _problem(10, 257, 4099, 50)  # > 2**20 scores per chunk
    want = naive_rank_metrics(sim.double(), q_ids, g_ids, ks=KS)
    monkeypatch.setattr(torch, 'get_num_threads', lambda: 3)
    _assert_close(rank_metrics(sim, q_ids, g_ids, ks=KS), want)


def test_many_candidates_split_rows(monkeypatch):
    sim, q_ids, g_ids = _problem(19, 27, 89, 7, ties='quantised')
    want = rank_metrics(sim, q_ids, g_ids, ks=KS)
    monkeypatch.setattr(ranking, '_MAX_CANDIDATES', 10)  # forces recursive row halving
    assert rank_metrics(sim, q_ids, g_ids, ks=KS) == want


@pytest.mark.parametrize('chunk', [1, 7, 1000])
def test_chunk_sizes_identical(chunk):
    sim, q_ids, g_ids = _problem(11, 25, 123, 10)
    assert rank_metrics(sim, q_ids, g_ids, chunk_size=chunk) == rank_metrics(sim, q_ids, g_ids)


def test_from_features_equals_from_similarity():
    g = torch.Generator().manual_seed(12)
    g_ids = torch.randint(0, 9, (67,), generator=g)
    q_ids = g_ids[torch.randint(0, 67, (33,), generator=g)]
    qf = torch.randn(33, 16, generator=g) + torch.randn(9, 16, generator=g)[q_ids]
    gf = torch.randn(67, 16, generator=g) + torch.randn(9, 16, generator=g)[g_ids]
    qn, gn = torch.nn.functional.normalize(qf, dim=1), torch.nn.functional.normalize(gf, dim=1)
    sim = qn @ gn.T
    want = naive_rank_metrics(sim.double(), q_ids, g_ids, ks=KS)
    for chunk in (1, 7, None):
        got = rank_metrics_from_features(qf, gf, q_ids, g_ids, ks=KS, chunk_size=chunk)
        _assert_close(got, want)
    raw = rank_metrics_from_features(qf.numpy(), gf.numpy(), q_ids, g_ids, ks=KS, normalize=False)
    _assert_close(raw, naive_rank_metrics((qf @ gf.T).double(), q_ids, g_ids, ks=KS))


def test_no_positive_policy(caplog):
    sim, q_ids, g_ids = _problem(13, 20, 50, 6)
    q_ids = q_ids.clone()
    q_ids[[3, 11]] = 99  # no gallery item has id 99
    for fn in (rank_metrics, naive_rank_metrics):
        with pytest.raises(ValueError, match='2 of 20 queries have no positive'):
            fn(sim, q_ids, g_ids)
    keep = q_ids != 99
    want = naive_rank_metrics(sim[keep].double(), q_ids[keep], g_ids, ks=KS)
    with caplog.at_level(logging.WARNING):
        got = rank_metrics(sim, q_ids, g_ids, ks=KS, allow_no_positive=True, chunk_size=4)
    _assert_close(got, want)
    with pytest.raises(ValueError, match='no query has a positive'):
        rank_metrics(sim[:1], [99], g_ids, allow_no_positive=True)


def test_grad_tensors_and_float64_features():
    sim, q_ids, g_ids = _problem(20, 11, 29, 4)
    want = rank_metrics(sim, q_ids, g_ids)
    assert rank_metrics(sim.clone().requires_grad_(), q_ids, g_ids) == want
    qf, gf = torch.randn(11, 5, dtype=torch.float64), torch.randn(29, 5, dtype=torch.float64)
    got = rank_metrics_from_features(qf.requires_grad_(), gf, q_ids, g_ids, normalize=False)
    _assert_close(got, naive_rank_metrics(qf.detach() @ gf.T, q_ids, g_ids))


def test_ks_beyond_gallery_are_clipped():
    sim, q_ids, g_ids = _problem(14, 9, 5, 2)
    got = rank_metrics(sim, q_ids, g_ids, ks=(1, 5, 50))
    assert got['R5'] == got['R50'] == 100.0
    assert got == pytest.approx(naive_rank_metrics(sim, q_ids, g_ids, ks=(1, 5, 50)))


def test_infinite_scores_and_fallback():
    sim, q_ids, g_ids = _problem(15, 17, 61, 5)
    sim[0, :] = -torch.inf  # whole row: positives at -inf (full-sort fallback)
    sim[1, 3] = torch.inf
    sim[2, :] = torch.where(g_ids == q_ids[2], torch.inf, sim[2, :])  # positives at +inf
    want = naive_rank_metrics(sim.double(), q_ids, g_ids, ks=KS)
    _assert_close(rank_metrics(sim, q_ids, g_ids, ks=KS, chunk_size=5), want)


def test_extreme_magnitudes():
    sim, q_ids, g_ids = _problem(16, 21, 73, 6)
    for s in (sim * 1e30, sim * 1e-30, sim + 1e6, sim.double() * 1e200):
        want = naive_rank_metrics(s.double(), q_ids, g_ids, ks=KS)
        _assert_close(rank_metrics(s, q_ids, g_ids, ks=KS), want)


def test_bad_inputs_are_named():
    sim, q_ids, g_ids = _problem(17, 4, 6, 2)
    bad = sim.clone()
    bad[2, 1] = torch.nan
    with pytest.raises(ValueError, match='1 NaN scores in query rows 0..3'):
        rank_metrics(bad, q_ids, g_ids)
    with pytest.raises(ValueError, match='NaN'):
        naive_rank_metrics(bad, q_ids, g_ids)
    with pytest.raises(ValueError, match='gallery_ids has 5 entries, expected 6'):
        rank_metrics(sim, q_ids, g_ids[:5])
    with pytest.raises(TypeError, match='query_ids must hold integers'):
        rank_metrics(sim, q_ids.float(), g_ids)
    with pytest.raises(TypeError, match='similarity must be floating'):
        rank_metrics(sim.long(), q_ids, g_ids)
    with pytest.raises(ValueError, match='chunk_size must be >= 1'):
        rank_metrics(sim, q_ids, g_ids, chunk_size=0)
    feats = torch.randn(4, 3)
    feats[2, 0] = torch.inf
    with pytest.raises(ValueError, match='query_feats has non-finite values in 1 rows, first'):
        rank_metrics_from_features(feats, torch.randn(6, 3), q_ids, g_ids)


def test_topk_indices_follow_the_tie_rule():
    g = torch.Generator().manual_seed(18)
    qf = torch.randn(13, 8, generator=g)
    gf = torch.randn(40, 8, generator=g)
    gf[[5, 17, 30]] = gf[9].clone()  # duplicate images: exactly tied scores
    qf[0] = gf[9].clone()  # query 0 ties four items at the top
    sim = torch.nn.functional.normalize(qf, dim=1) @ torch.nn.functional.normalize(gf, dim=1).T
    for k, chunk in ((3, None), (6, 4), (50, 1)):
        scores, indices = topk_indices(qf, gf, k, chunk_size=chunk)
        want = torch.sort(sim, dim=1, descending=True, stable=True).indices[:, : min(k, 40)]
        assert torch.equal(indices, want)
        assert torch.allclose(scores, sim.gather(1, want), atol=1e-6)
    assert topk_indices(qf, gf, 2)[1][0].tolist() == [5, 9]


def _rank_in_child(conn, sim, lo):
    conn.send(ranking._candidates(sim, lo, None).numel())


def test_candidate_scan_threads_work_in_a_forked_child():
    """The thread pool is per process: a forked child (a fork-started DataLoader
    worker) used to inherit a pool without threads and wait for it forever."""
    import multiprocessing as mp

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sim = torch.rand(64, 2**15, generator=torch.Generator().manual_seed(0))
        lo = torch.full((64,), 0.5)
        for _ in range(5):  # the parent's pool has run (its idle count is up)
            want = ranking._candidates(sim, lo, None).numel()
        assert ranking._POOL is not None and want == int((sim >= 0.5).sum())
        ctx = mp.get_context('fork')
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_rank_in_child, args=(child, sim, lo))
        proc.start()
        got = parent.recv() if parent.poll(60) else None
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        assert got == want
    finally:
        torch.set_num_threads(threads)
