# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-epoch pseudo identities from clustering (CPCL, docs/methods/cpcl.md).

Source: the per-epoch clustering loop of
alibaba/cluster-contrast-reid:examples/cluster_contrast_train_usl.py.
"""

import re
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tpr_mm.clustering import cluster_pseudo_labels
from tpr_mm.clustering.oplm import OPLM_RULES, outlier_pseudo_label_mining
from tpr_mm.clustering.quality import pseudo_label_quality
from tpr_mm.registry import HOOKS
from tpr_mm.utils.dist import broadcast_from_rank0

from .train_pair_encoder import TrainPairEncoder

DEFAULT_CLUSTER_CFG = {'k1': 30, 'k2': 6, 'eps': 0.6, 'min_samples': 4}


def label_stats(labels: np.ndarray) -> Tuple[int, float]:
    """(number of clusters, outlier ratio) of a (N,) labeling."""
    return int(np.unique(labels[labels >= 0]).size), float((labels < 0).mean())


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Cluster the training pairs before every epoch and install pseudo labels.

    Before each epoch the hook encodes every training pair with the model in
    eval mode through a separate, augmentation-free dataloader over the
    training split, clusters the image features and the text features
    separately (one point per pair, :func:`cluster_pseudo_labels`), runs
    OPLM (:func:`outlier_pseudo_label_mining`) and hands labels and features
    to the head's ``set_pseudo_labels`` (e.g. :class:`CPCLHead`, which
    rebuilds its prototype memories). Identity labels are never read;
    ``dataset.true_pids()`` is used only to log pseudo-label quality.

    Under DDP every rank encodes its shard, features are gathered and put in
    dataset order by ``sample_idx``, rank 0 clusters, and the labels are
    broadcast, so every rank trains with the same labels and memories. A
    mid-epoch resume (:class:`~tpr_mm.engine.loops.MidEpochResumeTrainLoop`)
    keeps the labels and memories stored in the checkpoint instead.

    Args:
        dataloader (dict): Dataloader settings of the clustering pass. If it
            has no ``dataset``, the training dataset config is used with
            ``modality='pair'`` and ``eval_pipeline``. The sampler is forced to
            an unshuffled ``DefaultSampler`` unless given.
        eval_pipeline (list[dict], optional): Augmentation-free pipeline.
            None takes the pipeline of ``test_dataloader`` (else
            ``val_dataloader``).
        cluster_cfg (dict): Arguments of :func:`cluster_pseudo_labels`.
            Defaults to ``k1=30, k2=6, eps=0.6, min_samples=4`` (cluster-contrast/ICPG/CLPC;
            docs/methods/cpcl.md#defaults-and-their-sources).
        oplm (bool): Run OPLM. Defaults to True.
        oplm_gate (float, optional): OPLM reliability gate delta; None = off.
        oplm_rule (str): ``'paired'`` (default: both modalities, the
            reconstruction of CPCL's description) or ``'clpc'`` (CLPC's public
            code: image labels only, no gate); see
            :func:`outlier_pseudo_label_mining`.
        start_epoch (int): Epochs before this one train with every pair an
            outlier (instance matching only, empty memories). Defaults to 0
            (cluster from the first epoch, as with pretrained CLIP).
        head (str): Attribute of the model holding ``set_pseudo_labels``.
        fp16 (bool): Autocast while encoding.
        progress (bool): tqdm progress bar on the main process.
        unique_images (bool): Encode every image once and every caption once
            (the dataset's ``'image'`` and ``'text'`` views, gathered per pair
            by ``image_id`` / ``caption_id``) instead of one image forward per
            pair; CUHK-PEDES: 34,054 image forwards instead of 68,126.
            Ignored when ``dataloader`` names its own dataset. Worker settings
            (``num_workers``, ``persistent_workers``, ``pin_memory``) not given
            in ``dataloader`` follow ``train_dataloader``.
    """

    priority = 'NORMAL'
    # The epoch's labels and memories are head buffers, saved in every
    # checkpoint: a mid-epoch resume (MidEpochResumeTrainLoop) keeps them.
    recomputes_epoch_state = False

    def __init__(
        self,
        dataloader: Optional[dict] = None,
        eval_pipeline: Optional[Sequence[dict]] = None,
        cluster_cfg: Optional[dict] = None,
        oplm: bool = True,
        oplm_gate: Optional[float] = None,
        oplm_rule: str = 'paired',
        start_epoch: int = 0,
        head: str = 'head',
        fp16: bool = False,
        progress: bool = True,
        unique_images: bool = True,
    ) -> None:
        self.cluster_cfg = dict(DEFAULT_CLUSTER_CFG, **(cluster_cfg or {}))
        self.oplm = oplm
        self.oplm_gate = oplm_gate
        if oplm_rule not in OPLM_RULES:
            raise ValueError(
                f'PseudoLabelHook: oplm_rule must be one of {OPLM_RULES}, got {oplm_rule!r}'
            )
        if oplm_rule == 'clpc' and oplm_gate is not None:
            raise ValueError("PseudoLabelHook: oplm_rule='clpc' has no gate; set oplm_gate=None")
        self.oplm_rule = oplm_rule
        self.start_epoch = start_epoch
        self.head = head
        self.encoder = TrainPairEncoder(
            dataloader if dataloader else {'batch_size': 128},
            eval_pipeline,
            unique_images,
            fp16,
            progress,
        )

    def encode_train(self, model, runner) -> Tuple[np.ndarray, np.ndarray]:
        """Unit image and text features of every training pair, in dataset order.

        Returns:
            tuple[np.ndarray, np.ndarray]: (N, D) float32 each, on every rank.
        """
        return self.encoder.encode(model, runner)

    # -- labels -------------------------------------------------------------
    def compute_labels(
        self, img: np.ndarray, txt: np.ndarray, true_pids: Optional[np.ndarray] = None
    ) -> Tuple[np.ndarray, np.ndarray, Dict[str, float]]:
        """Cluster both modalities and mine outliers (call on one rank).

        Returns:
            tuple: image labels (N,), text labels (N,), monitoring stats.
        """
        stats: Dict[str, float] = {}
        t0 = time.perf_counter()
        yv = cluster_pseudo_labels(img, **self.cluster_cfg)
        yt = cluster_pseudo_labels(txt, **self.cluster_cfg)
        stats['cluster_time_s'] = time.perf_counter() - t0
        for name, y in (('img', yv), ('txt', yt)):
            stats[f'{name}_clusters'], stats[f'{name}_outlier_ratio_before'] = label_stats(y)
        if self.oplm:
            yv, yt, rec = outlier_pseudo_label_mining(
                yv, yt, img, txt, self.oplm_gate, rule=self.oplm_rule
            )
            stats.update(rec)
        for name, y in (('img', yv), ('txt', yt)):
            stats[f'{name}_outlier_ratio_after'] = label_stats(y)[1]
            if true_pids is not None:
                quality = pseudo_label_quality(y, true_pids)
                stats.update({f'{name}_{k}': v for k, v in quality.items()})
        return yv, yt, stats

    def before_train_epoch(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        head = getattr(model, self.head, None)
        if head is None or not hasattr(head, 'set_pseudo_labels'):
            raise AttributeError(
                f'PseudoLabelHook: model.{self.head} has no set_pseudo_labels; '
                'use a head such as CPCLHead'
            )
        n = self.encoder.num_pairs(runner)
        n_train = len(runner.train_dataloader.dataset)
        if n != n_train:
            raise ValueError(
                f'PseudoLabelHook: the clustering dataset has {n} pairs but the '
                f'training dataset {n_train}; they must be the same split and view'
            )
        if getattr(getattr(runner, 'train_loop', None), 'resumed_mid_epoch', False):
            self._keep_loaded_labels(runner, head, n)
            return
        if runner.epoch < self.start_epoch:
            none = np.full(n, -1, dtype=np.int64)
            head.set_pseudo_labels(none, none, np.zeros((n, 1)), np.zeros((n, 1)))
            runner.logger.info(
                f'pseudo labels: epoch {runner.epoch + 1} < start_epoch '
                f'{self.start_epoch + 1}, every pair is an outlier'
            )
            return
        img, txt = self.encode_train(model, runner)
        pairs = self.encoder.pairs(runner)

        def labels():
            return self.compute_labels(img, txt, self._true_pids(pairs))

        yv, yt, stats = broadcast_from_rank0(labels, 3, 'PseudoLabelHook: clustering')
        head.set_pseudo_labels(yv, yt, img, txt)
        self._log(runner, stats)

    def _keep_loaded_labels(self, runner, head, n: int) -> None:
        """A mid-epoch resume keeps the epoch's labels and memories.

        They were computed from the epoch-start weights, which are gone; the
        checkpoint holds them as the head's buffers (``img_pseudo_labels``,
        ``txt_pseudo_labels``, the memories' banks, updated batch by batch up
        to the checkpoint), so recomputing them from the mid-epoch weights
        would change the run.
        """
        kept = getattr(head, 'img_pseudo_labels', None)
        if kept is None or kept.numel() != n:
            got = 'none' if kept is None else kept.numel()
            raise RuntimeError(
                f'PseudoLabelHook: resumed mid-epoch {runner.epoch + 1}, but the checkpoint '
                f'holds {got} pseudo labels for {n} pairs; resume from an epoch checkpoint'
            )
        runner.logger.info(
            f'pseudo labels: resumed mid-epoch {runner.epoch + 1}, keeping the '
            'labels and memories stored in the checkpoint'
        )

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """Let dynamic-size buffers (memories, labels) adopt the stored shapes.

        The number of clusters and of pairs is only known at run time, so a
        freshly built model holds empty buffers; resizing them before the
        weights are loaded keeps resume and testing (and the runner's shape
        check) working.
        """
        state = checkpoint.get('state_dict', checkpoint)
        state = {re.sub(r'^module\.', '', k): v for k, v in state.items()}
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name, module in model.named_modules():
            if hasattr(module, 'adopt_state_shapes'):
                module.adopt_state_shapes(state, f'{name}.' if name else '')

    @staticmethod
    def _true_pids(dataset) -> Optional[np.ndarray]:
        # Monitoring only: the true identities never reach training.
        if not hasattr(dataset, 'true_pids'):
            return None
        true = np.asarray(dataset.true_pids())
        return true if true.size and (true >= 0).all() else None

    def _log(self, runner, stats: Dict[str, float]) -> None:
        if not is_main_process():
            return
        text = ', '.join(
            f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}' for k, v in stats.items()
        )
        runner.logger.info(f'pseudo labels (epoch {runner.epoch + 1}): {text}')
        scalars = {f'pseudo/{k}': v for k, v in stats.items()}
        scalars['epoch'] = runner.epoch + 1
        runner.visualizer.add_scalars(scalars, step=runner.iter, file_path='pseudo_labels.json')
