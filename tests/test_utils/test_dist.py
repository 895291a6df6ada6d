# Copyright (c) tpr_mm contributors. All rights reserved.
"""all_gather_rows: ranks with different row counts, gathered in rank order."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as torch_dist
from gloo_spawn import spawn_gloo

from tpr_mm.utils.dist import all_gather_rows, gather_sample_index, rows_in_dataset_order


def test_single_process_returns_the_tensor_itself():
    rows = torch.arange(6.0).reshape(3, 2)
    assert all_gather_rows(rows) is rows


def _worker(rank, port, out):
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2
    )
    try:
        # Rank 0 holds 3 rows, rank 1 a shorter last batch of 1 row (and 2 columns each).
        rows = torch.arange(3 * 2).reshape(3, 2) if rank == 0 else torch.tensor([[10, 11]])
        torch.save(all_gather_rows(rows), os.path.join(out, f'rank{rank}.pt'))
    finally:
        torch_dist.destroy_process_group()


def test_two_ranks_with_different_row_counts(tmp_path):
    spawn_gloo(_worker, lambda port: (port, str(tmp_path)))
    # Naive restatement: rank 0's rows, then rank 1's, no padding left.
    expected = torch.cat([torch.arange(6).reshape(3, 2), torch.tensor([[10, 11]])])
    for rank in (0, 1):
        got = torch.load(tmp_path / f'rank{rank}.pt', weights_only=True)
        assert torch.equal(got, expected)


def _broadcast_worker(rank, port, out, fail):
    from tpr_mm.utils.dist import broadcast_from_rank0

    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2
    )

    def compute():
        assert rank == 0, 'compute runs on rank 0 only'
        if fail:
            raise ValueError('no clusters found')
        return [3, {'n': 7}]

    try:
        result = ('ok', broadcast_from_rank0(compute, 2, 'clustering'))
    except Exception as err:
        result = (type(err).__name__, str(err))
    finally:
        torch_dist.destroy_process_group()
    torch.save(result, os.path.join(out, f'rank{rank}.pt'))


def _run_broadcast(tmp_path, fail):
    spawn_gloo(_broadcast_worker, lambda port: (port, str(tmp_path), fail))
    return [torch.load(tmp_path / f'rank{r}.pt', weights_only=True) for r in (0, 1)]


def test_broadcast_from_rank0_sends_the_result_to_every_rank(tmp_path):
    assert _run_broadcast(tmp_path, fail=False) == [('ok', [3, {'n': 7}])] * 2


def test_a_failure_on_rank0_reaches_the_other_ranks_instead_of_hanging(tmp_path):
    rank0, rank1 = _run_broadcast(tmp_path, fail=True)
    assert rank0 == ('ValueError', 'no clusters found')
    assert rank1 == ('RuntimeError', 'clustering failed on rank 0: ValueError: no clusters found')


def test_rows_go_back_to_dataset_order_and_uncovered_items_are_refused():
    """Naive statement: row i belongs to item index[i]; a padded repeat is the same item."""
    index = gather_sample_index([2, 0, 3, 1, 2], 4, torch.device('cpu'), 'T', 'items missed')
    rows = torch.tensor([[20.0], [0.0], [30.0], [10.0], [20.0]])
    ordered = rows_in_dataset_order(rows, index, 4, np.float64)
    want = np.zeros((4, 1))
    for i, item in enumerate([2, 0, 3, 1, 2]):
        want[item] = rows[i].numpy()
    assert ordered.dtype == np.float64 and np.array_equal(ordered, want)
    with pytest.raises(RuntimeError, match='T: 1 of 4 items missed'):
        gather_sample_index([0, 1, 1, 3], 4, torch.device('cpu'), 'T', 'items missed')
    with pytest.raises(IndexError, match=r'T: sample_idx outside 0\.\.3'):
        gather_sample_index([0, 4], 4, torch.device('cpu'), 'T', 'items missed')
