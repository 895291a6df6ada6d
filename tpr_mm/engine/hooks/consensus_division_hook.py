# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-epoch consensus clean/noisy division of the training pairs (RDE's CCD)."""

import contextlib
import copy
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner.amp import autocast
from tqdm import tqdm

from tpr_mm.clustering.clean_division import (
    clean_probability,
    consensus_division,
    division_quality,
    split_clean,
)
from tpr_mm.registry import HOOKS
from tpr_mm.utils.dist import all_gather_rows, broadcast_from_rank0

DEFAULT_GMM_CFG = {'max_iter': 10, 'tol': 1e-2, 'reg_covar': 5e-4}
# Added to the epoch the samplers and worker seeders see during the loss pass.
PASS_EPOCH_OFFSET = 1_000_003


@contextlib.contextmanager
def division_pass_epoch(loader, epoch: int) -> Iterator[None]:
    """Give the loss pass its own shuffle (and augmentation draws) for ``epoch``.

    RDE's loss pass and training pass are two iterations of one shuffling
    PyTorch ``DataLoader``, so they see independent orders, i.e. different
    in-batch negatives. MMEngine's samplers shuffle by ``seed + epoch``, which
    would give both passes of an epoch the same batches; during the pass the
    sampler and the worker seeder (anything with ``set_epoch``) see
    ``PASS_EPOCH_OFFSET + epoch`` instead, and ``epoch`` again afterwards, so
    training draws exactly what it would draw without the pass.
    """
    parts = [getattr(loader, 'sampler', None), getattr(loader, 'worker_init_fn', None)]
    parts = [p for p in parts if callable(getattr(p, 'set_epoch', None))]
    for part in parts:
        part.set_epoch(PASS_EPOCH_OFFSET + epoch)
    try:
        yield
    finally:
        for part in parts:
            part.set_epoch(epoch)


@HOOKS.register_module()
class ConsensusDivisionHook(Hook):
    """Divide the training pairs into clean and noisy before every epoch.

    RDE's consensus division (``get_loss`` / ``do_train`` of
    ``QinYang79/RDE:2024-CVPR-RDE/processor/processor.py``): with the model in
    eval mode, compute every pair's loss under each embedding (BGE, TSE;
    ``model.per_sample_losses``), min–max normalise each, fit a 2-component
    Gaussian mixture per embedding and call a pair clean for that embedding
    when the low-loss component's posterior exceeds ``threshold``
    (:func:`~tpr_mm.clustering.clean_probability`,
    :func:`~tpr_mm.clustering.split_clean`). Pairs both call clean
    weigh 1, pairs both call noisy 0, disagreements a fair coin
    (:func:`~tpr_mm.clustering.consensus_division`, drawn from
    ``seed`` and the epoch, so a run and its resume agree). The weights go to
    ``model.head.set_division``.

    Like RDE, the losses are computed by default on the training dataloader
    itself (same augmentation, batch size and shuffling; in-batch negatives
    shape each pair's loss), in an order of its own that changes every epoch
    (:func:`division_pass_epoch`). ``dataloader`` builds a separate loader
    instead.

    When the training items carry ``is_clean`` (datasets built with
    ``noisy_rate``), the precision and recall of the pairs called clean are
    logged per epoch (also per embedding) and written to ``division.json``
    in the visualiser's folder; the truth never reaches training.

    Under DDP every rank computes the losses of its shard, they are gathered
    and put in dataset order by ``sample_idx``, rank 0 fits the mixtures and
    the division is broadcast.

    Args:
        gmm_cfg (dict): ``max_iter``, ``tol``, ``reg_covar`` of the mixtures.
            Defaults to RDE's setting for noise rates <= 0.4 (10, 1e-2,
            5e-4); RDE uses (100, 1e-4, 1e-6) above 0.4 and on RSTPReid.
        threshold (float): Posterior threshold. Defaults to 0.5.
        dataloader (dict, optional): Settings of a separate loss pass; with
            no ``dataset`` the training dataset config is used. None (default)
            reuses the training dataloader.
        seed (int, optional): Seed of the coin flips; None = the runner's seed.
        head (str): Attribute of the model holding ``set_division``.
        train_in_eval_mode (bool): Keep the model in eval mode for the
            training iterations too (set before every iteration). RDE's
            published numbers were trained so: its division pass left the
            model in eval mode until issue #8 added ``model.train()``, and its
            README advises removing that call again to reproduce them. In
            tpr_mm's CLIP only the TSE BatchNorm is affected (running
            statistics instead of batch statistics, never updated).
            Defaults to False (train mode, the code as published now).
        fp16 (bool): Autocast during the loss pass.
        progress (bool): tqdm progress bar on the main process.
    """

    priority = 'NORMAL'
    # Per-epoch state from the epoch-start weights, not in the checkpoint: a
    # mid-epoch resume (MidEpochResumeTrainLoop) is refused.
    recomputes_epoch_state = True

    def __init__(
        self,
        gmm_cfg: Optional[dict] = None,
        threshold: float = 0.5,
        dataloader: Optional[dict] = None,
        seed: Optional[int] = None,
        head: str = 'head',
        train_in_eval_mode: bool = False,
        fp16: bool = False,
        progress: bool = True,
    ) -> None:
        unknown = set(gmm_cfg or {}) - set(DEFAULT_GMM_CFG)
        if unknown:
            raise ValueError(f'ConsensusDivisionHook: unknown gmm_cfg keys {sorted(unknown)}')
        self.gmm_cfg = dict(DEFAULT_GMM_CFG, **(gmm_cfg or {}))
        self.threshold = threshold
        self.dataloader_cfg = copy.deepcopy(dataloader)
        self.seed = seed
        self.head = head
        self.train_in_eval_mode = train_in_eval_mode
        self.fp16 = fp16
        self.progress = progress
        self._loader = None

    def _get_loader(self, runner):
        if self.dataloader_cfg is None:
            return runner.train_dataloader
        if self._loader is None:
            cfg = copy.deepcopy(self.dataloader_cfg)
            if 'dataset' not in cfg:
                train = runner.cfg.get('train_dataloader') or {}
                if 'dataset' not in train:
                    raise ValueError(
                        'ConsensusDivisionHook: give dataloader.dataset or a '
                        'train_dataloader with a dataset config'
                    )
                cfg['dataset'] = copy.deepcopy(train['dataset'])
            cfg.setdefault('sampler', {'type': 'DefaultSampler', 'shuffle': True})
            cfg.setdefault('num_workers', 0)
            if cfg['num_workers'] == 0:
                cfg['persistent_workers'] = False
            self._loader = runner.build_dataloader(cfg, seed=runner.seed)
        return self._loader

    @torch.no_grad()
    def compute_losses(self, model, loader) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
        """Per-pair losses of every embedding in dataset order, and the truth if known.

        Returns:
            tuple: ``{name: (N,) float64}`` and (N,) bool ``is_clean`` (or None),
            on every rank.
        """
        was_training = model.training
        model.eval()
        index, losses, truth = [], {}, []
        bar = tqdm(
            total=len(loader),
            desc='division: per-pair losses',
            leave=False,
            dynamic_ncols=True,
            disable=not (self.progress and is_main_process()),
        )
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            samples = data['data_samples']
            with autocast(enabled=self.fp16):
                out = model.per_sample_losses(data['inputs'], samples)
            for name, value in out.items():
                losses.setdefault(name, []).append(value.detach().float())
            index.extend(int(s.sample_idx) for s in samples)
            truth.extend(int(s.get('is_clean', -1)) for s in samples)
            bar.update(1)
        bar.close()
        model.train(was_training)
        device = next(iter(losses.values()))[0].device
        index = all_gather_rows(torch.tensor(index, dtype=torch.long, device=device))
        truth = all_gather_rows(torch.tensor(truth, dtype=torch.long, device=device))
        index, truth = index.cpu().numpy(), truth.cpu().numpy()
        n = len(loader.dataset)
        if index.size and (index.min() < 0 or index.max() >= n):
            raise IndexError(f'ConsensusDivisionHook: sample_idx outside 0..{n - 1}')
        missing = n - np.unique(index).size
        if missing:
            raise RuntimeError(
                f'ConsensusDivisionHook: {missing} of {n} training pairs got no loss; the '
                'loader must cover the whole dataset (no drop_last)'
            )
        ordered = {}
        for name, parts in losses.items():
            values = all_gather_rows(torch.cat(parts)).cpu().numpy().astype(np.float64)
            ordered[name] = np.zeros(n, dtype=np.float64)
            ordered[name][index] = values  # padded repeats hold the same pair
        is_clean = None
        if (truth >= 0).all():
            is_clean = np.zeros(n, dtype=bool)
            is_clean[index] = truth.astype(bool)
        return ordered, is_clean

    def divide(
        self, losses: Dict[str, np.ndarray], epoch: int, seed: int, is_clean=None
    ) -> Tuple[np.ndarray, Dict[str, float]]:
        """Consensus division from per-pair losses (call on one rank).

        Returns:
            tuple: (N,) float32 weights (1 = clean) and monitoring stats.
        """
        if len(losses) != 2:
            raise ValueError(f'the division needs two embeddings, got {sorted(losses)}')
        votes = {}
        for name, values in losses.items():
            if not np.isfinite(values).all():
                raise FloatingPointError(
                    f'ConsensusDivisionHook: non-finite {name} losses in epoch {epoch + 1}'
                )
            prob = clean_probability(values, **self.gmm_cfg)
            votes[name] = split_clean(prob, self.threshold)
        (a, clean_a), (b, clean_b) = votes.items()
        rng = np.random.default_rng([int(seed), int(epoch)])
        weights = consensus_division(clean_a, clean_b, rng)
        stats = {
            'clean_ratio': float(weights.mean()),
            'agreement': float((clean_a == clean_b).mean()),
            f'{a}_clean_ratio': float(clean_a.mean()),
            f'{b}_clean_ratio': float(clean_b.mean()),
        }
        if is_clean is not None:
            quality = division_quality(weights, is_clean)
            stats.update(
                precision=quality['precision'],
                recall=quality['recall'],
                true_noisy_ratio=quality['noisy_ratio'],
            )
            for name, called in votes.items():
                q = division_quality(called, is_clean)
                stats.update({f'{name}_precision': q['precision'], f'{name}_recall': q['recall']})
        return weights, stats

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, self.head, None)
        if head is None or not hasattr(head, 'set_division'):
            raise AttributeError(
                f'ConsensusDivisionHook: model.{self.head} has no set_division; '
                'use RDERetriever with RDEHead'
            )
        if not hasattr(model, 'per_sample_losses'):
            raise AttributeError(
                f'ConsensusDivisionHook: {type(model).__name__} has no per_sample_losses'
            )
        loader = self._get_loader(runner)
        n, n_train = len(loader.dataset), len(runner.train_dataloader.dataset)
        if n != n_train:
            raise ValueError(
                f'ConsensusDivisionHook: the loss pass covers {n} pairs but the training '
                f'dataset has {n_train}; they must be the same split and view'
            )
        with division_pass_epoch(loader, runner.epoch):
            losses, is_clean = self.compute_losses(model, loader)
        seed = runner.seed if self.seed is None else self.seed

        def division():
            return self.divide(losses, runner.epoch, seed, is_clean)

        weights, stats = broadcast_from_rank0(division, 2, 'ConsensusDivisionHook: division')
        head.set_division(weights)
        self._log(runner, stats)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # The train loop calls model.train() after before_train_epoch; undo it per iteration.
        if self.train_in_eval_mode and runner.model.training:
            runner.model.eval()

    def _log(self, runner, stats: Dict[str, float]) -> None:
        if not is_main_process():
            return
        text = ', '.join(f'{k}={v:.4f}' for k, v in stats.items())
        runner.logger.info(f'clean/noisy division (epoch {runner.epoch + 1}): {text}')
        scalars = {f'division/{k}': v for k, v in stats.items()}
        scalars['epoch'] = runner.epoch + 1
        runner.visualizer.add_scalars(scalars, step=runner.iter, file_path='division.json')
