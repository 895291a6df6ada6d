# Copyright (c) tpr_mm contributors. All rights reserved.
"""PseudoLabelHook under DDP: two gloo processes on CPU."""

import os
from types import SimpleNamespace

import numpy as np
import torch
import torch.distributed as torch_dist
from gloo_spawn import spawn_gloo
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import tpr_mm.engine.hooks.pseudo_label_hook as plh
from tpr_mm.engine.hooks import PseudoLabelHook
from tpr_mm.registry import MODELS
from tpr_mm.testing.configs import TINY_CLUSTER_CFG, shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
HOOK_ARGS = {
    'cluster_cfg': dict(TINY_CLUSTER_CFG),
    'progress': False,
    'dataloader': {'batch_size': 7, 'num_workers': 0},
}


def _cfg(tmp):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_synthetic.py'))
    return shrink_config(cfg, os.path.join(tmp, 'work'), os.path.join(tmp, 'synthetic'))


def _run(cfg, model):
    """The hook on a minimal runner, then one training step; returns what to compare."""
    init_default_scope('tpr_mm')
    calls = []
    original = plh.cluster_pseudo_labels

    def counting(features, **kwargs):
        calls.append(len(features))
        return original(features, **kwargs)

    plh.cluster_pseudo_labels = counting
    try:
        train_loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        runner = SimpleNamespace(
            model=model,
            cfg=cfg,
            epoch=0,
            iter=0,
            seed=0,
            train_dataloader=train_loader,
            build_dataloader=Runner.build_dataloader,
            logger=MMLogger.get_instance('cpcl_ddp_test', log_level='WARNING'),
            visualizer=SimpleNamespace(add_scalars=lambda *args, **kwargs: None),
        )
        hook = PseudoLabelHook(**HOOK_ARGS)
        hook.before_train_epoch(runner)
    finally:
        plh.cluster_pseudo_labels = original
    module = model.module if hasattr(model, 'module') else model
    img, txt = hook.encode_train(module, runner)
    head = module.head
    out = {
        'calls': calls,
        'img': torch.from_numpy(img),
        'txt': torch.from_numpy(txt),
        'yv': head.img_pseudo_labels.clone(),
        'yt': head.txt_pseudo_labels.clone(),
        'bank_v0': head.img_memory.bank.clone(),
        'bank_t0': head.txt_memory.bank.clone(),
    }
    batch = next(iter(train_loader))
    optim = OptimWrapper(torch.optim.SGD(module.parameters(), lr=0.1))
    model.train()
    model.train_step(batch, optim)
    out.update(
        batch=[s.sample_idx for s in batch['data_samples']],
        bank_v1=head.img_memory.bank.clone(),
        bank_t1=head.txt_memory.bank.clone(),
        params=torch.cat([p.detach().flatten() for p in module.parameters()]),
    )
    return out


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


def test_two_gloo_ranks_share_one_clustering(tmp_path):
    tmp = str(tmp_path)
    torch.manual_seed(0)
    cfg = _cfg(tmp)  # also generates the tiny set once, before the ranks start
    single = _run(cfg, MODELS.build(cfg.model))
    spawn_gloo(_worker, lambda port: (2, port, tmp))
    r0, r1 = (torch.load(os.path.join(tmp, f'rank{r}.pt'), weights_only=True) for r in (0, 1))
    n = 60
    # clustering ran once, on rank 0, once per modality, on all pairs
    assert r0['calls'] == [n, n] and r1['calls'] == []
    # every rank got all features, in dataset order, equal to one process encoding everything
    for key in ('img', 'txt'):
        torch.testing.assert_close(r0[key], r1[key], rtol=0, atol=0)
        torch.testing.assert_close(r0[key], single[key], rtol=1e-5, atol=1e-6)
    # the broadcast labels are rank 0's clustering of those features, identical on both ranks
    yv, yt, _ = PseudoLabelHook(**HOOK_ARGS).compute_labels(r0['img'].numpy(), r0['txt'].numpy())
    for r in (r0, r1):
        np.testing.assert_array_equal(r['yv'].numpy(), yv)
        np.testing.assert_array_equal(r['yt'].numpy(), yt)
    assert (yv >= 0).any()
    # the ranks trained on different shards, yet memories and weights stay identical
    assert not set(r0['batch']) & set(r1['batch'])
    for key in ('bank_v0', 'bank_t0', 'bank_v1', 'bank_t1', 'params'):
        torch.testing.assert_close(r0[key], r1[key], rtol=0, atol=0)
    assert not torch.equal(r0['bank_v1'], r0['bank_v0'])
