# Copyright (c) tpr_mm contributors. All rights reserved.
"""Reading CLIP weights from files and fitting them to an open_clip ``CLIP``.

Two file kinds are understood:

* open_clip / plain PyTorch checkpoints (``torch.save`` of a state dict, raw or
  as ``{'state_dict': ...}``, optionally with a DDP ``module.`` prefix, or a
  ``.safetensors`` file), read with ``torch.load(weights_only=True)``;
* OpenAI's CLIP TorchScript archives (``ViT-B-16.pt``), which
  ``torch.load(weights_only=True)`` refuses. ``torch.jit.load`` would compile
  the archive's code and run its ``__setstate__`` methods, so it is not used:
  :func:`~tpr_mm.models.backbones.torchscript_weights.read_torchscript_state_dict`
  unpickles only the tensors (a restricted unpickler; nothing from the archive
  is imported, compiled or run) and refuses archives that define
  ``__setstate__``.

Positional embeddings are fitted to the target model: the visual grid is
resized (class row kept, grid interpolated, flattened row-major — IRRA's rule
with ``bilinear``; ``bicubic`` follows open_clip and uses antialiasing) and a
longer text positional embedding is truncated.

Source: anosorae/IRRA:model/clip_model.py (``resize_pos_embed``,
``build_CLIP_from_openai_pretrained``).
"""

import math
import zipfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor, nn

from tpr_mm.fileio import safe_torch_load

from .torchscript_weights import read_torchscript_state_dict

__all__ = [
    'OPENAI_EXTRA_KEYS',
    'looks_like_checkpoint_path',
    'is_torchscript_archive',
    'read_clip_checkpoint',
    'resize_visual_pos_embed',
    'fit_text_pos_embed',
    'load_clip_state_dict',
]

PathLike = Union[str, Path]
StateDict = Dict[str, Tensor]

#: Integer entries of OpenAI archives that are not model weights.
OPENAI_EXTRA_KEYS = ('input_resolution', 'context_length', 'vocab_size')
_CKPT_SUFFIXES = ('.pt', '.pth', '.bin', '.ckpt', '.tar', '.safetensors')


def looks_like_checkpoint_path(pretrained: str) -> bool:
    """Whether ``pretrained`` names a file rather than an open_clip tag."""
    p = Path(pretrained)
    return p.is_file() or '/' in pretrained or '\\' in pretrained or p.suffix in _CKPT_SUFFIXES


def is_torchscript_archive(path: PathLike) -> bool:
    """True for a TorchScript zip (has ``<root>/constants.pkl`` or ``<root>/code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.split('/', 1)[-1] == 'constants.pkl' or '/code/' in n for n in names)


def _first(keys: Sequence[str], n: int = 5) -> str:
    shown = ', '.join(keys[:n])
    return shown + (f', ... (+{len(keys) - n} more)' if len(keys) > n else '')


def read_clip_checkpoint(path: PathLike) -> Tuple[StateDict, str]:
    """Read a CLIP state dict from ``path``.

    Args:
        path: An OpenAI TorchScript archive, a ``torch.save`` checkpoint or a
            ``.safetensors`` file.

    Returns:
        ``(state_dict, fmt)`` with floating tensors cast to float32, the OpenAI
        extra keys dropped and a ``module.`` prefix stripped; ``fmt`` is
        ``'torchscript'`` or ``'checkpoint'``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file holds something other than a mapping of tensors,
            or is a TorchScript archive with code that would run at load.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'CLIP checkpoint not found: {path}')
    if is_torchscript_archive(path):
        fmt = 'torchscript'
        state_dict = read_torchscript_state_dict(str(path))
        for key in OPENAI_EXTRA_KEYS:
            state_dict.pop(key, None)
    else:
        fmt = 'checkpoint'
        if path.suffix == '.safetensors':
            from safetensors.torch import load_file

            loaded = load_file(str(path), device='cpu')
        else:
            loaded = safe_torch_load(str(path), map_location='cpu')  # weights_only=True
        if isinstance(loaded, dict) and isinstance(loaded.get('state_dict'), dict):
            loaded = loaded['state_dict']
        if not isinstance(loaded, dict):
            raise ValueError(f'{path}: expected a state dict, got {type(loaded).__name__}')
        state_dict = dict(loaded)
    bad = [k for k, v in state_dict.items() if not isinstance(v, Tensor)]
    if bad or not state_dict:
        raise ValueError(
            f'{path}: not a state dict of tensors (non-tensor entries: '
            f'{_first(bad) or "none; the dict is empty"})'
        )
    if all(k.startswith('module.') for k in state_dict):
        state_dict = {k[len('module.') :]: v for k, v in state_dict.items()}
    state_dict = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    return state_dict, fmt


def _source_grid(num_patches: int, target: Tuple[int, int]) -> Optional[Tuple[int, int]]:
    side = math.isqrt(num_patches)
    if side * side == num_patches:
        return side, side
    # A non-square grid of the same aspect ratio as the target (e.g. 24x8 -> 12x4).
    rows = math.isqrt(num_patches * target[0] // target[1])
    if (
        rows > 0
        and num_patches % rows == 0
        and rows * target[1] == (num_patches // rows) * target[0]
    ):
        return rows, num_patches // rows
    return None


def resize_visual_pos_embed(
    pos_embed: Tensor,
    grid_size: Tuple[int, int],
    mode: str = 'bilinear',
    num_prefix_tokens: int = 1,
    source_grid: Optional[Tuple[int, int]] = None,
) -> Tensor:
    """Resize a ViT positional embedding to a new patch grid.

    Args:
        pos_embed: (P + S, C) with P prefix (class) rows then S grid rows, row-major.
        grid_size: Target (rows, cols), e.g. (24, 8) for 384x128 at patch 16.
        mode: ``'bilinear'`` (IRRA, no antialias) or ``'bicubic'`` (open_clip,
            antialias on); ``align_corners=False`` for both.
        num_prefix_tokens: Rows kept unchanged at the front.
        source_grid: (rows, cols) of the stored grid; inferred when None
            (square, else the target's aspect ratio).

    Returns:
        (P + rows * cols, C), same dtype as ``pos_embed``.
    """
    if mode not in ('bilinear', 'bicubic'):
        raise ValueError(f"pos-embed interpolation must be 'bilinear' or 'bicubic', got {mode!r}")
    prefix, grid = pos_embed[:num_prefix_tokens], pos_embed[num_prefix_tokens:]
    grid_size = (int(grid_size[0]), int(grid_size[1]))
    if source_grid is None:
        source_grid = _source_grid(grid.shape[0], grid_size)
        if source_grid is None:
            raise ValueError(
                f'cannot infer the patch grid of a positional embedding with '
                f'{grid.shape[0]} grid rows; pass source_grid'
            )
    if source_grid[0] * source_grid[1] != grid.shape[0]:
        raise ValueError(f'source_grid {tuple(source_grid)} does not match {grid.shape[0]} rows')
    if tuple(source_grid) == grid_size:
        return pos_embed
    grid = grid.float().reshape(1, source_grid[0], source_grid[1], -1).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid, size=grid_size, mode=mode, align_corners=False, antialias=mode == 'bicubic'
    )
    grid = grid.permute(0, 2, 3, 1).reshape(grid_size[0] * grid_size[1], -1)
    return torch.cat([prefix, grid.to(pos_embed.dtype)], dim=0)


def fit_text_pos_embed(
    pos_embed: Tensor, context_length: int, source: str = 'checkpoint'
) -> Tensor:
    """Truncate a (N, C) text positional embedding to ``context_length`` rows.

    Raises:
        ValueError: N < ``context_length`` (learnt positions cannot be invented).
    """
    num = pos_embed.shape[0]
    if num < context_length:
        raise ValueError(
            f'{source}: the text positional embedding has {num} positions, fewer '
            f'than context_length={context_length}; use context_length <= {num}'
        )
    if num == context_length:
        return pos_embed
    print_log(
        f'{source}: truncating the text positional embedding from {num} to '
        f'{context_length} positions',
        logger='current',
    )
    return pos_embed[:context_length]


def _mismatch_report(model_sd: StateDict, state_dict: StateDict) -> List[str]:
    missing = [k for k in model_sd if k not in state_dict]
    unexpected = [k for k in state_dict if k not in model_sd]
    shapes = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_sd[k].shape)}'
        for k, v in state_dict.items()
        if k in model_sd and v.shape != model_sd[k].shape
    ]
    parts = []
    for name, keys in (
        ('missing', missing),
        ('unexpected', unexpected),
        ('shape-mismatched', shapes),
    ):
        if keys:
            parts.append(f'{len(keys)} {name} key(s): {_first(keys, 4)}')
    return parts


def load_clip_state_dict(
    model: nn.Module,
    state_dict: StateDict,
    source: str = 'checkpoint',
    interpolation: str = 'bilinear',
) -> None:
    """Fit positional embeddings and load ``state_dict`` strictly into an open_clip ``CLIP``.

    Args:
        model: ``open_clip.model.CLIP`` (OpenAI key names, ViT visual tower).
        state_dict: Weights with the same key names (see :func:`read_clip_checkpoint`).
        source: Name used in log and error messages (e.g. the file path).
        interpolation: Visual pos-embed resize mode, see :func:`resize_visual_pos_embed`.

    Raises:
        ValueError: keys are missing / unexpected / of the wrong shape after
            the positional-embedding fitting (counts and a few names given).
    """
    state_dict = dict(state_dict)
    model_sd = model.state_dict()
    key = 'visual.positional_embedding'
    if key in state_dict and key in model_sd and state_dict[key].shape != model_sd[key].shape:
        old = tuple(state_dict[key].shape)
        if state_dict[key].ndim == 2 and state_dict[key].shape[1] == model_sd[key].shape[1]:
            state_dict[key] = resize_visual_pos_embed(
                state_dict[key], model.visual.grid_size, mode=interpolation
            )
            print_log(
                f'{source}: resized {key} {old} -> {tuple(state_dict[key].shape)} '
                f'({interpolation}, grid {tuple(model.visual.grid_size)})',
                logger='current',
            )
    key = 'positional_embedding'
    if key in state_dict and key in model_sd and state_dict[key].shape != model_sd[key].shape:
        if state_dict[key].ndim == 2 and state_dict[key].shape[1] == model_sd[key].shape[1]:
            state_dict[key] = fit_text_pos_embed(state_dict[key], model_sd[key].shape[0], source)
    for key in ('logit_scale', 'logit_bias'):  # 0-d vs (1,) scalars across open_clip versions
        if key in state_dict and key in model_sd and state_dict[key].numel() == 1:
            state_dict[key] = state_dict[key].reshape(model_sd[key].shape)
    problems = _mismatch_report(model_sd, state_dict)
    if problems:
        raise ValueError(f'{source} does not match the CLIP model: ' + '; '.join(problems))
    model.load_state_dict(state_dict, strict=True)
