# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-epoch consensus clean/noisy division of the training pairs (RDE's CCD)."""

import copy
from typing import Dict, Optional, Tuple

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tpr_mm.clustering.clean_division import (
    clean_probability,
    consensus_division,
    division_quality,
    split_clean,
)
from tpr_mm.registry import HOOKS
from tpr_mm.utils.dist import broadcast_from_rank0

from .loss_pass import division_pass_epoch, per_pair_losses

DEFAULT_GMM_CFG = {'max_iter': 10, 'tol': 1e-2, 'reg_covar': 5e-4}


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
    the division is broadcast. A mid-epoch resume
    (:class:`~tpr_mm.engine.loops.MidEpochResumeTrainLoop`) keeps the division
    stored in the checkpoint (the head's ``clean_weights`` buffer) instead of
    dividing again from the mid-epoch weights.

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
    # The epoch's division is a head buffer, saved in every checkpoint: a
    # mid-epoch resume (MidEpochResumeTrainLoop) keeps it.
    recomputes_epoch_state = False

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

    def compute_losses(self, model, loader) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
        """Per-pair losses of every embedding in dataset order, and the truth if known
        (:func:`~tpr_mm.engine.hooks.loss_pass.per_pair_losses`)."""
        return per_pair_losses(model, loader, self.fp16, self.progress)

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
        if getattr(getattr(runner, 'train_loop', None), 'resumed_mid_epoch', False):
            self._keep_loaded_division(runner, head, n)
            return
        with division_pass_epoch(loader, runner.epoch):
            losses, is_clean = self.compute_losses(model, loader)
        seed = runner.seed if self.seed is None else self.seed

        def division():
            return self.divide(losses, runner.epoch, seed, is_clean)

        weights, stats = broadcast_from_rank0(division, 2, 'ConsensusDivisionHook: division')
        head.set_division(weights)
        self._log(runner, stats)

    def _keep_loaded_division(self, runner, head, n: int) -> None:
        """A mid-epoch resume keeps the division loaded from the checkpoint.

        It came from the epoch-start weights, which are gone; dividing again
        from the mid-epoch weights would change the run.
        """
        kept = head.clean_weights.numel()
        if kept != n:
            raise RuntimeError(
                f'ConsensusDivisionHook: resumed mid-epoch {runner.epoch + 1}, but the '
                f'checkpoint holds {kept} division weights for {n} pairs (written before '
                'checkpoints stored the division?); resume from an epoch checkpoint'
            )
        runner.logger.info(
            f'clean/noisy division: resumed mid-epoch {runner.epoch + 1}, keeping the '
            'division stored in the checkpoint'
        )

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
