# Copyright (c) tpr_mm contributors. All rights reserved.
"""ConsensusDivisionHook under DDP: two gloo processes on CPU share one division."""

import os
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as torch_dist
from gloo_spawn import spawn_gloo
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tpr_mm.engine.hooks import ConsensusDivisionHook
from tpr_mm.registry import MODELS
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _cfg(tmp):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'rde_synthetic_noise50.py'))
    return shrink_config(cfg, os.path.join(tmp, 'work'), os.path.join(tmp, 'synthetic'))


def _hook(cfg):
    # A separate, augmentation-free, unshuffled loss pass with batches of 7 (shards of 30 pairs
    # leave a short last batch on each rank).
    dataset = dict(cfg.train_dataloader.dataset, pipeline=cfg.test_dataloader.dataset.pipeline)
    loader = dict(
        batch_size=7,
        num_workers=0,
        dataset=dataset,
        sampler=dict(type='DefaultSampler', shuffle=False),
    )
    return ConsensusDivisionHook(
        gmm_cfg=dict(max_iter=100, tol=1e-4, reg_covar=1e-6),
        dataloader=loader,
        seed=0,
        progress=False,
    )


def _run(cfg, model):
    init_default_scope('tpr_mm')
    runner = SimpleNamespace(
        model=model,
        cfg=cfg,
        epoch=0,
        iter=0,
        seed=0,
        train_dataloader=Runner.build_dataloader(cfg.train_dataloader, seed=0),
        build_dataloader=Runner.build_dataloader,
        logger=MMLogger.get_instance('rde_ddp_test', log_level='WARNING'),
        visualizer=SimpleNamespace(add_scalars=lambda *args, **kwargs: None),
    )
    hook = _hook(cfg)
    hook.before_train_epoch(runner)
    module = model.module if hasattr(model, 'module') else model
    losses, truth = hook.compute_losses(module, hook._loader)  # gathered, dataset order
    own_idx, own = [], {'bge': [], 'tse': []}  # this rank's shard, computed locally
    module.eval()
    for batch in hook._loader:
        data = module.data_preprocessor(batch, False)
        out = module.per_sample_losses(data['inputs'], data['data_samples'])
        own_idx += [s.sample_idx for s in data['data_samples']]
        for k in own:
            own[k].append(out[k])
    return {
        'weights': module.head.clean_weights.clone(),
        'bge': torch.from_numpy(losses['bge']),
        'tse': torch.from_numpy(losses['tse']),
        'truth': torch.from_numpy(truth),
        'own_idx': torch.tensor(own_idx),
        'own_bge': torch.cat(own['bge']).double(),
        'own_tse': torch.cat(own['tse']).double(),
    }


def _worker(rank, world_size, port, tmp):
    torch_dist.init_process_group(
        'gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=world_size
    )
    try:
        torch.manual_seed(0)
        cfg = _cfg(tmp)
        model = MMDistributedDataParallel(module=MODELS.build(cfg.model))
        torch.save(_run(cfg, model), os.path.join(tmp, f'rank{rank}.pt'))
    finally:
        torch_dist.destroy_process_group()


def test_two_gloo_ranks_share_one_division(tmp_path):
    tmp = str(tmp_path)
    cfg = _cfg(tmp)  # generates the tiny set once, before the ranks start
    spawn_gloo(_worker, lambda port: (2, port, tmp))
    r0, r1 = (torch.load(os.path.join(tmp, f'rank{r}.pt'), weights_only=True) for r in (0, 1))
    n = 60
    for key in ('weights', 'bge', 'tse', 'truth'):
        torch.testing.assert_close(r0[key], r1[key], rtol=0, atol=0)  # identical on both ranks
    assert r0['weights'].shape == (n,)
    # Gathering put every rank's own per-pair losses at their dataset positions.
    assert sorted(r0['own_idx'].tolist() + r1['own_idx'].tolist()) == list(range(n))
    for r in (r0, r1):
        for key in ('bge', 'tse'):
            torch.testing.assert_close(r0[key][r['own_idx']], r[f'own_{key}'], rtol=1e-6, atol=1e-6)
    # The broadcast division is rank 0's division of the gathered losses.
    losses = {'bge': r0['bge'].numpy(), 'tse': r0['tse'].numpy()}
    weights, _ = _hook(cfg).divide(losses, epoch=0, seed=0)
    np.testing.assert_array_equal(r0['weights'].numpy(), weights)
    assert r0['truth'].float().mean() < 0.7  # the corruption reached the samples
