# Copyright (c) tpr_mm contributors. All rights reserved.
"""Full-scale rehearsal: a real leaf config, true data size, a shrunk backbone.

:func:`rehearsal_config` points every dataset of a config at a size-true set
(see :mod:`tpr_mm.datasets.synthetic.size_true`) and shrinks only the width
and depth of the backbones, keeping every width a neck or head reads, so that
heads, necks and losses are built as shipped: CLIP towers get one layer of
width 64 and keep their output dimension, except that a model reading the
vision tower's *unprojected* tokens (the published CFine with BERT) keeps the
tower's real width; BERT gets one layer at its real width (768), since its
hidden states are read directly. Dataloaders, pipelines (384 x 128 images), hooks
(the full pseudo-label pass of CPCL), the training epoch, validation and test
run as shipped. :class:`~tpr_mm.engine.hooks.RehearsalHook` measures each phase: wall time, peak
resident memory of the main process, items per second.

:func:`projected_epoch_seconds` turns the measured FLOPs of one training
sample of the *unshrunk* model (``torch.utils.flop_counter``, forward x 3 for
forward + backward) into a projected GPU epoch time at a stated sustained
throughput. It is a projection, not a measurement.
"""

import copy
import json
import os
from typing import Dict, Optional

from mmengine.config import Config

from tpr_mm.apis.epoch_projection import (
    DEFAULT_DEVICE_TFLOPS,
    projected_epoch_seconds,
    real_size_flops,
)
from tpr_mm.engine.hooks.rehearsal_hook import RehearsalHook


def _tiny_clip(backbone: dict, keep_vision_width: bool) -> dict:
    img_size = tuple(backbone.get('img_size', (384, 128)))
    ctx = int(backbone.get('context_length', 77))
    width, head_width = 64, 32
    if keep_vision_width:  # a neck reads the unprojected vision tokens
        import open_clip

        width = int(open_clip.get_model_config(backbone['model_name'])['vision_cfg']['width'])
        head_width = 64  # open_clip's default: width / 64 heads
    return dict(
        embed_dim=512,  # kept: heads, necks and losses are built for it
        vision_cfg=dict(
            image_size=img_size, patch_size=16, width=width, layers=1, head_width=head_width
        ),
        text_cfg=dict(context_length=ctx, vocab_size=49408, width=64, heads=2, layers=1),
    )


# bert-base-uncased at one layer: its hidden states feed necks and heads directly.
_ONE_LAYER_BERT = dict(
    hidden_size=768,
    num_hidden_layers=1,
    num_attention_heads=12,
    intermediate_size=3072,
    vocab_size=30522,
)


def _shrink(node, keep_vision_width: bool = False) -> None:
    """Shrink every backbone config found under ``node``, in place."""
    if isinstance(node, dict):
        # A model that reads the vision tower's unprojected tokens needs its width.
        keep_vision_width = keep_vision_width or node.get('image_token_key') == 'tokens_unprojected'
        kind = node.get('type')
        if kind == 'OpenCLIPBackbone':
            node.update(pretrained=None, model_cfg=_tiny_clip(node, keep_vision_width))
        elif kind == 'HFBertBackbone':
            node.update(pretrained=None, config=dict(_ONE_LAYER_BERT))
        for value in node.values():
            _shrink(value, keep_vision_width)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _shrink(value, keep_vision_width)


def _point_data(node, data_root: str) -> None:
    if isinstance(node, dict):
        if 'data_root' in node and 'type' in node:
            node['data_root'] = data_root
        for value in node.values():
            _point_data(value, data_root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _point_data(value, data_root)


def _set_bert_vocab(node, vocab: str) -> None:
    if isinstance(node, dict):
        if node.get('type') == 'BertTokenizeCaption':
            node['vocab'] = vocab
        for value in node.values():
            _set_bert_vocab(value, vocab)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _set_bert_vocab(value, vocab)


def rehearsal_config(
    cfg: Config,
    data_root: str,
    work_dir: str,
    teacher_checkpoint: Optional[str] = None,
    bert_vocab: Optional[str] = None,
    checkpoint_interval: Optional[int] = None,
) -> Config:
    """A copy of ``cfg`` on ``data_root`` with shrunk backbones, one epoch.

    Args:
        cfg (Config): A shipped leaf config.
        data_root (str): A size-true set in the config's annotation layout.
        work_dir (str): Output folder.
        teacher_checkpoint (str, optional): For a distilled student: the
            rehearsed teacher's checkpoint (its teacher config is shrunk too).
        bert_vocab (str, optional): A WordPiece ``vocab.txt`` every
            ``BertTokenizeCaption`` of the dataloaders uses instead of the
            config's (for machines without ``bert-base-uncased``).
        checkpoint_interval (int, optional): Save a checkpoint every this many
            iterations (only the newest is kept) and train with
            :class:`~tpr_mm.engine.loops.MidEpochResumeTrainLoop`, so that an
            interrupted rehearsal resumes where its last checkpoint was taken.

    Returns:
        Config: the rehearsal config.
    """
    cfg = copy.deepcopy(cfg)
    _shrink(cfg.model)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader', 'custom_hooks'):
        if cfg.get(key):
            _point_data(cfg[key], os.path.abspath(data_root))
            if bert_vocab is not None:
                _set_bert_vocab(cfg[key], bert_vocab)
    if teacher_checkpoint is not None and 'teacher_checkpoint' in cfg.model:
        cfg.model.teacher_checkpoint = teacher_checkpoint
    cfg.work_dir = work_dir
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.default_hooks.logger.interval = 50
    if checkpoint_interval is not None:
        if checkpoint_interval < 1:
            raise ValueError(f'checkpoint_interval must be >= 1, got {checkpoint_interval}')
        cfg.train_cfg.type = 'MidEpochResumeTrainLoop'
        cfg.default_hooks.checkpoint.update(
            by_epoch=False, interval=checkpoint_interval, max_keep_ckpts=1, save_last=True
        )
    hook = dict(type='RehearsalHook', out_file=os.path.join(work_dir, 'rehearsal_phases.json'))
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [hook]
    return cfg


def run_rehearsal(
    config: str,
    data_root: str,
    work_dir: str,
    device_tflops: float = DEFAULT_DEVICE_TFLOPS,
    teacher_checkpoint: Optional[str] = None,
    test: bool = True,
    bert_vocab: Optional[str] = None,
    checkpoint_interval: Optional[int] = None,
    resume: bool = False,
) -> Dict:
    """Rehearse ``config`` on ``data_root`` (see module doc) and return the table.

    With ``checkpoint_interval`` the rehearsal saves iteration checkpoints;
    ``resume=True`` continues an interrupted one from the newest checkpoint in
    ``work_dir`` (same arguments), adding the earlier segments' measurements.

    Returns:
        dict: ``config``, ``phases`` (list of per-phase rows), ``projection``.
    """
    from tpr_mm.registry import RUNNERS

    cfg = Config.fromfile(config)
    os.makedirs(work_dir, exist_ok=True)
    rcfg = rehearsal_config(
        cfg, data_root, work_dir, teacher_checkpoint, bert_vocab, checkpoint_interval
    )
    if resume:
        if checkpoint_interval is None:
            raise ValueError('resume needs the checkpoint_interval the rehearsal was started with')
        if not os.path.isfile(os.path.join(work_dir, 'last_checkpoint')):
            raise FileNotFoundError(
                f'{work_dir}/last_checkpoint: no checkpoint to resume the rehearsal from'
            )
        rcfg.resume = True
    result: Dict = {
        'config': config,
        'data_root': data_root,
        'bert_vocab': bert_vocab,
        'phases': [],
    }
    try:
        flops = real_size_flops(cfg, rcfg)
        result['projection'] = dict(flops, device_tflops=device_tflops)
    except Exception as exc:  # a projection must not stop the rehearsal
        result['projection'] = {'error': f'{type(exc).__name__}: {exc}'}
    runner = RUNNERS.build(rcfg)
    hook = next(h for h in runner.hooks if isinstance(h, RehearsalHook))
    try:
        runner.train()
        if test:
            runner.test()
    finally:
        result['phases'] = hook.phases
        n_train = len(runner.train_dataloader.dataset)
        proj = result['projection']
        if 'forward_flops_per_sample' in proj:
            proj['train_samples'] = n_train
            proj['projected_gpu_epoch_s'] = round(
                projected_epoch_seconds(
                    proj['forward_gflops_per_sample'] * 1e9, n_train, device_tflops
                ),
                1,
            )
        with open(os.path.join(work_dir, 'rehearsal.json'), 'w') as f:
            json.dump(result, f, indent=2)
    return result


def format_table(result: Dict) -> str:
    """Plain-text table of a :func:`run_rehearsal` result."""
    lines = [f'rehearsal of {result["config"]} on {result["data_root"]}']
    lines.append(f'{"phase":<46}{"wall s":>9}{"peak RSS GiB":>14}{"items":>9}{"items/s":>10}')
    for row in result['phases']:
        lines.append(
            f'{row["phase"]:<46}{row["wall_s"]:>9}{row["peak_rss_gib"]:>14}'
            f'{row["items"]:>9}{row["items_per_s"]:>10}'
        )
    proj = result.get('projection', {})
    if 'projected_gpu_epoch_s' in proj:
        lines.append(
            f'PROJECTION (not measured): unshrunk model {proj["forward_gflops_per_sample"]} GFLOP '
            f'forward per sample x3 (fwd+bwd) x {proj["train_samples"]} samples at '
            f'{proj["device_tflops"]} TFLOP/s sustained = '
            f'{proj["projected_gpu_epoch_s"]} s per epoch'
        )
    elif proj:
        lines.append(f'projection: {proj}')
    return '\n'.join(lines)
