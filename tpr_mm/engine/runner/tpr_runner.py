# Copyright (c) tpr_mm contributors. All rights reserved.
"""MMEngine Runner with safe, shape-checked loading and crash-safe saving."""

import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import CheckpointLoader, Runner, load_state_dict

from tpr_mm.datasets.samplers import attach_epoch_seeder

# Importing tpr_mm.fileio registers the 'atomic_local' file backend and the
# weights-only local loader of MMEngine's CheckpointLoader.
from tpr_mm.fileio import CheckpointReadError, UnsafeCheckpointError
from tpr_mm.registry import RUNNERS
from tpr_mm.utils.mmengine_compat import mark_checkpoint_loaded

from .dist_backend import cpu_process_group_kwargs, use_gloo_without_cuda
from .loader_workers import release_idle_workers, track_persistent_workers
from .resume_candidates import resume_candidates

__all__ = ['TPRRunner', 'CheckpointMismatchError', 'checkpoint_mismatches']

# Names of the default hooks MMEngine's Runner adds by itself (Runner.register_default_hooks).
MMENGINE_DEFAULT_HOOKS = (
    'runtime_info',
    'timer',
    'sampler_seed',
    'logger',
    'param_scheduler',
    'checkpoint',
)
# Hooks every shipped config lists (default_runtime.py) and what a run loses without them.
EXPECTED_HOOKS = {
    'RNGStateHook': '--resume cannot continue with the same random numbers',
    'DataIssueReportHook': 'skipped or damaged data items are not reported',
}


class CheckpointMismatchError(RuntimeError):
    """The checkpoint's tensors do not fit the model."""


def checkpoint_mismatches(model_state: dict, ckpt_state: dict) -> List[str]:
    """Keys present in both with different shapes, as readable lines.

    Args:
        model_state (dict): The model's tensors to check, e.g. its parameters
            (buffers such as CPCL's memories legitimately change size).
        ckpt_state (dict): The checkpoint's state dict (keys already revised).

    Returns:
        list[str]: ``'<key>: checkpoint (a, b) vs model (c, d)'`` per mismatch.
    """
    lines = []
    for key, value in ckpt_state.items():
        target = model_state.get(key)
        if torch.is_tensor(value) and torch.is_tensor(target) and value.shape != target.shape:
            lines.append(f'{key}: checkpoint {tuple(value.shape)} vs model {tuple(target.shape)}')
    return lines


@RUNNERS.register_module()
class TPRRunner(Runner):
    """:class:`mmengine.runner.Runner` hardened for long, interruptible runs.

    Select it with ``runner_type = 'TPRRunner'`` (the base runtime does).

    * **Safe loading**: checkpoints are read with ``torch.load(...,
      weights_only=True)``, allowlisting only MMEngine's own meta types
      (:func:`~tpr_mm.fileio.safe_torch_load`); an empty, text or truncated
      file is a :class:`~tpr_mm.fileio.CheckpointReadError` naming it.
    * **Shape check**: loading (``load_from``, ``--resume``, ``tools/test.py``)
      raises :class:`CheckpointMismatchError` listing every parameter whose
      shape differs from the model's, or when no model key is in the checkpoint
      at all (MMEngine only warns and keeps the random weights). Opt out with
      ``allow_shape_mismatch = True`` in the config (mismatched tensors then
      keep their initial values, with MMEngine's warning).
    * **Missing keys**: when testing (no ``train_cfg``) or resuming, a
      checkpoint that lacks some of the model's tensors is an error listing
      them (fine-tuning from ``load_from`` only warns). Opt out with
      ``allow_missing_keys = True``.
    * **Resume fallback**: an automatic ``--resume`` whose newest checkpoint
      is damaged (or whose ``last_checkpoint`` is empty) resumes from the
      newest intact ``epoch_*/iter_*.pth`` and logs which file was skipped.
    * **Atomic saving**: local checkpoints go through the ``'atomic_local'``
      file backend (temporary file, fsync, rename) unless the checkpoint
      hook's ``backend_args`` names another backend.
    * **CPU distributed runs**: the one place that decides the set-up
      without CUDA: a distributed run asking for nccl gets gloo
      (:func:`~tpr_mm.engine.runner.use_gloo_without_cuda`, logged), the
      pytorch launcher's process group is started here, and the model is
      wrapped in DDP without ``device_ids`` (MMEngine assumes GPUs for all
      three).
    * **Exact resume with workers**: multi-worker loaders built from a config
      without its own ``worker_init_fn`` get an
      :class:`~tpr_mm.datasets.samplers.EpochWorkerSeeder` (worker RNGs seeded
      from seed, epoch, rank and worker id at every epoch, also with
      persistent workers; workers exit when the trainer dies).
    * **Idle workers released**: persistent DataLoader workers are shut down
      when ``train()``, ``val()`` or ``test()`` returns
      (:mod:`~tpr_mm.engine.runner.loader_workers`), not 5 s per worker later
      when the garbage collector frees the runner.
    * **Expected hooks**: the base runtime lists
      :class:`~tpr_mm.engine.hooks.RNGStateHook` (exact resume) and
      :class:`~tpr_mm.engine.hooks.DataIssueReportHook` in ``default_hooks``;
      nothing is added behind the config. ``default_hooks = dict(rng_state=None)``
      switches one off, as for MMEngine's own default hooks. A run without one of them (a config
      that drops it, or a runner built by hand) gets a warning naming the hook
      and what is lost — a warning, not an error, so that users' own configs
      and quick experiments still run.
    """

    _resuming = False

    def load_checkpoint(
        self,
        filename: str,
        map_location: Union[str, Callable] = 'cpu',
        strict: bool = False,
        revise_keys: Sequence[Tuple[str, str]] = ((r'^module.', ''),),
    ):
        checkpoint = CheckpointLoader.load_checkpoint(filename, map_location, logger='current')
        if not isinstance(checkpoint, dict):
            raise CheckpointReadError(
                f'{filename}: holds a {type(checkpoint).__name__}, not a checkpoint dict'
            )
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(self.model) else self.model
        state = checkpoint.get('state_dict', checkpoint)
        metadata = getattr(state, '_metadata', OrderedDict())
        for pattern, repl in revise_keys:
            state = OrderedDict((re.sub(pattern, repl, k), v) for k, v in state.items())
        state._metadata = metadata
        if not self.cfg.get('allow_shape_mismatch', False):
            self._check_fits(model, state, filename)
        testing = self.cfg.get('train_cfg') is None
        if (testing or self._resuming) and not self.cfg.get('allow_missing_keys', False):
            self._check_complete(model, state, filename)
        load_state_dict(model, state, strict, logger='current')
        mark_checkpoint_loaded(self)
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    @staticmethod
    def _check_fits(model, state: dict, filename: str) -> None:
        model_state = model.state_dict()
        # Parameters only: their shapes follow from the config, while some
        # buffers (pseudo labels, memory banks) are resized by the loading module.
        bad = checkpoint_mismatches(dict(model.named_parameters()), state)
        hint = ' Set allow_shape_mismatch=True in the config to load the rest anyway.'
        if bad:
            shown = '\n  '.join(bad[:50]) + (
                f'\n  ... and {len(bad) - 50} more' if len(bad) > 50 else ''
            )
            raise CheckpointMismatchError(
                f'{filename}: {len(bad)} tensor(s) do not fit the model '
                f'(wrong config for this checkpoint?):\n  {shown}\n{hint.strip()}'
            )
        if model_state and not any(k in state for k in model_state):
            raise CheckpointMismatchError(
                f"{filename}: none of the model's {len(model_state)} parameter/buffer names is "
                f'in the checkpoint (its keys look like {list(state)[:3]}).{hint}'
            )

    @staticmethod
    def _check_complete(model, state: dict, filename: str) -> None:
        model_state = model.state_dict()
        missing = [k for k in model_state if k not in state]
        if missing:
            raise CheckpointMismatchError(
                f"{filename}: {len(missing)} of the model's {len(model_state)} tensors are "
                f'missing from the checkpoint (first: {", ".join(missing[:5])}); they would '
                'keep their random initial values. Set allow_missing_keys=True in the config '
                'to load the rest anyway.'
            )

    def resume(self, filename: str, *args, **kwargs) -> None:
        self._resuming = True
        try:
            if not (self.cfg.get('resume') and self.cfg.get('load_from') is None):
                return super().resume(filename, *args, **kwargs)
            # Automatic resume: ``filename`` is what last_checkpoint names.
            problems: List[str] = []
            for path in resume_candidates(filename or '', self.work_dir):
                try:
                    super().resume(path, *args, **kwargs)
                except UnsafeCheckpointError:
                    raise  # a crafted file is reported, never skipped
                except (CheckpointReadError, FileNotFoundError) as exc:
                    problems.append(str(exc) if path in str(exc) else f'{path}: {exc}')
                    continue
                if problems or not filename:
                    why = '; '.join(problems) or f'{self.work_dir}/last_checkpoint is empty'
                    self.logger.warning(
                        f'could not resume from {why}. Resumed from the newest intact '
                        f'checkpoint {path} instead.'
                    )
                return None
            named = f'names {filename}' if filename else 'is empty'
            folder = osp.dirname(filename) or self.work_dir
            raise CheckpointReadError(
                f'cannot resume: {self.work_dir}/last_checkpoint {named} and no intact '
                f'epoch_*.pth / iter_*.pth checkpoint is in {folder}'
                + (f' ({"; ".join(problems)})' if problems else '')
                + '. Pass --resume CKPT, or delete last_checkpoint to start from scratch.'
            )
        finally:
            self._resuming = False

    def save_checkpoint(
        self,
        out_dir: str,
        filename: str,
        file_client_args: Optional[dict] = None,
        *args,
        backend_args: Optional[dict] = None,
        **kwargs,
    ) -> None:
        if file_client_args is None and backend_args is None and '://' not in str(out_dir):
            backend_args = dict(backend='atomic_local')
        return super().save_checkpoint(
            out_dir, filename, file_client_args, *args, backend_args=backend_args, **kwargs
        )

    def setup_env(self, env_cfg: dict) -> None:
        # The one place that adapts the distributed set-up to a machine
        # without CUDA (nccl -> gloo; see dist_backend.py).
        if use_gloo_without_cuda(dict(launcher=self.launcher, env_cfg=env_cfg)):
            print_log(
                'CUDA is unavailable: using the gloo distributed backend instead of nccl',
                logger='current',
            )
        group_kwargs = cpu_process_group_kwargs(self.launcher, env_cfg)
        if group_kwargs is not None and not torch_dist.is_initialized():
            # init_dist is skipped when a group exists.
            torch_dist.init_process_group(**group_kwargs)
        super().setup_env(env_cfg)

    def set_randomness(
        self, seed, diff_rank_seed: bool = False, deterministic: bool = False
    ) -> None:
        # Recorded publicly: loops building extra loaders need it (MMEngine
        # keeps the randomness config private).
        self.diff_rank_seed = diff_rank_seed
        super().set_randomness(seed, diff_rank_seed=diff_rank_seed, deterministic=deterministic)

    def wrap_model(self, model_wrapper_cfg: Optional[dict], model):
        # MMEngine passes device_ids=[LOCAL_RANK], which DDP refuses for CPU modules.
        if self.distributed and model_wrapper_cfg is None and not torch.cuda.is_available():
            model_wrapper_cfg = dict(
                type='MMDistributedDataParallel',
                device_ids=None,
                broadcast_buffers=False,
                find_unused_parameters=self.cfg.get('find_unused_parameters', False),
            )
        return super().wrap_model(model_wrapper_cfg, model)

    @staticmethod
    def build_dataloader(dataloader, seed: Optional[int] = None, diff_rank_seed: bool = False):
        loader = Runner.build_dataloader(dataloader, seed=seed, diff_rank_seed=diff_rank_seed)
        if isinstance(dataloader, dict) and 'worker_init_fn' not in dataloader:
            quiet = bool(dataloader.get('disable_subprocess_warning', False))
            attach_epoch_seeder(loader, seed, get_rank(), disable_subprocess_warning=quiet)
        return track_persistent_workers(loader)

    def train(self):
        try:
            return super().train()
        finally:
            release_idle_workers()

    def val(self) -> dict:
        try:
            return super().val()
        finally:
            release_idle_workers()

    def test(self) -> dict:
        try:
            return super().test()
        finally:
            release_idle_workers()

    def register_hooks(self, default_hooks=None, custom_hooks=None) -> None:
        if default_hooks is not None:
            # MMEngine removes only its own default hooks with ``name=None`` and
            # asserts on any other None; ours (rng_state, data_issues) are
            # switched off the same way, so drop them here.
            default_hooks = {
                name: hook
                for name, hook in default_hooks.items()
                if hook is not None or name in MMENGINE_DEFAULT_HOOKS
            }
        super().register_hooks(default_hooks, custom_hooks)
        present = {type(hook).__name__ for hook in self.hooks}
        for name, why in EXPECTED_HOOKS.items():
            if name not in present:
                self.logger.warning(
                    f'{name} is not among the hooks of this run, so {why}. '
                    'configs/_base_/default_runtime.py lists it in default_hooks; keep that '
                    'entry when replacing default_hooks.'
                )
