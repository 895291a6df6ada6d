# Copyright (c) tpr_mm contributors. All rights reserved.
"""An epoch-based training loop that resumes from a checkpoint saved mid-epoch."""

from typing import Optional

from mmengine.runner import EpochBasedTrainLoop

from tpr_mm.registry import LOOPS


@LOOPS.register_module()
class MidEpochResumeTrainLoop(EpochBasedTrainLoop):
    """:class:`~mmengine.runner.EpochBasedTrainLoop` that continues mid-epoch.

    MMEngine's epoch loop ignores where in an epoch a checkpoint was taken: a
    run resumed from an iteration checkpoint (``CheckpointHook(by_epoch=False)``,
    meta ``epoch=e, iter=k``) trains the whole of epoch ``e`` again, so it
    sees the epoch's first batches twice and ends ``k - e * len(loader)``
    iterations past the schedule. This loop advances the loader past the
    batches already trained, as MMEngine's ``IterBasedTrainLoop`` does, so the
    resumed run continues with the batch an uninterrupted run would train next.

    The loader is advanced by iterating it (every skipped batch is loaded and
    dropped), which keeps the sampler order and the workers' per-epoch
    augmentation streams (:class:`~tpr_mm.datasets.samplers.EpochWorkerSeeder`)
    exactly where an uninterrupted run has them; with
    :class:`~tpr_mm.engine.hooks.RNGStateHook` the resumed run is bit-exact.

    Hooks that compute per-epoch state at ``before_train_epoch`` from the
    epoch-start weights and keep it outside the checkpoint (class attribute
    ``recomputes_epoch_state = True``, e.g. a user's hook) would recompute it
    from the mid-epoch weights; a mid-epoch resume with such a hook is
    refused with an error naming it. A hook whose epoch state is in the
    checkpoint reads :attr:`resumed_mid_epoch` to keep it (CPCL's pseudo
    labels and memories and RDE's clean / noisy division are head buffers).

    Args:
        runner: The runner.
        dataloader: The training dataloader or its config.
        max_epochs (int): Total training epochs.
        val_begin (int): The epoch that begins validating. Defaults to 1.
        val_interval (int): Validation interval in epochs. Defaults to 1.
        dynamic_intervals (list[tuple[int, int]], optional): As MMEngine's.
    """

    def __init__(
        self,
        runner,
        dataloader,
        max_epochs: int,
        val_begin: int = 1,
        val_interval: int = 1,
        dynamic_intervals: Optional[list] = None,
    ) -> None:
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval, dynamic_intervals)
        self.batches_to_skip = 0  # of epoch ``skip_epoch``: trained before the resume
        self.skip_epoch = -1

    @property
    def resumed_mid_epoch(self) -> bool:
        """True during the epoch a mid-epoch resume entered."""
        return self.batches_to_skip > 0 and self.epoch == self.skip_epoch

    def run(self):
        """Train, first skipping the batches of the current epoch already trained."""
        per_epoch = len(self.dataloader)
        skip = self.iter - self.epoch * per_epoch
        if not 0 <= skip <= per_epoch:
            raise RuntimeError(
                f'resumed at iteration {self.iter}, epoch {self.epoch}, but an epoch has '
                f'{per_epoch} iterations: the checkpoint was written with another '
                'dataset size or batch size'
            )
        if skip:
            blocking = [
                type(h).__name__
                for h in self.runner.hooks
                if getattr(h, 'recomputes_epoch_state', False)
            ]
            if blocking:
                raise RuntimeError(
                    f'cannot resume mid-epoch (iteration {self.iter}, batch {skip} of '
                    f'epoch {self.epoch + 1}) with {", ".join(blocking)}: its per-epoch state '
                    'is computed from the epoch-start weights and is not in the checkpoint; '
                    'resume from an epoch checkpoint (epoch_N.pth) instead'
                )
            self.runner.logger.info(
                f'resumed mid-epoch: skipping the {skip} batches of epoch '
                f'{self.epoch + 1} already trained'
            )
        self.batches_to_skip, self.skip_epoch = skip, self.epoch
        return super().run()

    def run_iter(self, idx, data_batch) -> None:
        """Train on one batch, unless a mid-epoch resume already trained it.

        MMEngine's ``run_epoch`` still loads every batch of the epoch; a skipped
        one is dropped here, before any hook sees it, so the iteration count,
        the hooks and the schedulers continue from the checkpoint.
        """
        if self.resumed_mid_epoch and idx < self.batches_to_skip:
            return
        super().run_iter(idx, data_batch)
