# Copyright (c) tpr_mm contributors. All rights reserved.
"""Tiny CLIP stand-ins for tests: configs, an OpenAI-style TorchScript archive
and an open_clip-style checkpoint, all random-init and made in seconds.

The real OpenAI ``ViT-B-16.pt`` is a TorchScript archive whose ``state_dict()``
uses the OpenAI key names (``visual.conv1.weight``, ``transformer.resblocks.*``,
``token_embedding.weight``...), holds most matrices in float16 and carries three
extra integer tensors (``input_resolution``, ``context_length``, ``vocab_size``).
:func:`make_openai_torchscript` reproduces that layout at toy size.
"""

import copy
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from open_clip.model import CLIP, convert_weights_to_lp
from torch import Tensor, nn

__all__ = [
    'tiny_clip_cfg',
    'build_tiny_clip',
    'make_openai_torchscript',
    'make_open_clip_checkpoint',
]

PathLike = Union[str, Path]


def tiny_clip_cfg(
    image_size: Union[int, Tuple[int, int]] = (48, 16),
    patch_size: int = 8,
    embed_dim: int = 32,
    vision_width: int = 64,
    vision_layers: int = 2,
    vision_head_width: int = 32,
    text_width: int = 64,
    text_heads: int = 2,
    text_layers: int = 2,
    context_length: int = 77,
    vocab_size: int = 49408,
    quick_gelu: bool = False,
) -> dict:
    """Return an ``open_clip.model.CLIP`` keyword dict for a tiny ViT CLIP.

    ``CLIP(**tiny_clip_cfg())`` builds the model directly; ``OpenCLIPBackbone``
    accepts the same dict as ``model_cfg``. Defaults give 2 vision heads
    (width 64 / head width 32) and 2 text heads so head averaging is exercised.
    """
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    return {
        'embed_dim': embed_dim,
        'quick_gelu': quick_gelu,
        'vision_cfg': {
            'image_size': tuple(image_size),
            'patch_size': patch_size,
            'width': vision_width,
            'layers': vision_layers,
            'head_width': vision_head_width,
        },
        'text_cfg': {
            'context_length': context_length,
            'vocab_size': vocab_size,
            'width': text_width,
            'heads': text_heads,
            'layers': text_layers,
        },
    }


def build_tiny_clip(cfg: Optional[dict] = None, seed: int = 0) -> CLIP:
    """Build a seeded random-init ``CLIP`` from ``cfg`` (default :func:`tiny_clip_cfg`)."""
    cfg = copy.deepcopy(cfg if cfg is not None else tiny_clip_cfg())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = CLIP(**cfg)
        # Random non-trivial LayerNorm affine params so a wrongly copied LN is detectable.
        for name, param in model.named_parameters():
            if name.endswith(('ln_1.weight', 'ln_2.weight', 'ln_post.weight', 'ln_final.weight')):
                param.data.uniform_(0.5, 1.5)
    return model.eval()


class _OpenAIArchive(nn.Module):
    """Exposes a CLIP's children and parameters at top level (OpenAI key layout)
    plus the three integer tensors OpenAI stores in its archives."""

    def __init__(self, clip: CLIP, input_resolution: int):
        super().__init__()
        for name, child in clip.named_children():
            setattr(self, name, child)
        for name, param in clip.named_parameters(recurse=False):
            setattr(self, name, param)
        self.register_buffer('input_resolution', torch.tensor(input_resolution))
        self.register_buffer('context_length', torch.tensor(clip.context_length))
        self.register_buffer('vocab_size', torch.tensor(clip.vocab_size))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.logit_scale


def make_openai_torchscript(
    path: PathLike,
    cfg: Optional[dict] = None,
    image_size: int = 32,
    seed: int = 0,
    half: bool = True,
) -> Dict[str, Tensor]:
    """Save a tiny OpenAI-format CLIP TorchScript archive at ``path``.

    Args:
        path: Output file (e.g. ``tmp_path / 'ViT-T-8.pt'``).
        cfg: Model dict as from :func:`tiny_clip_cfg`; its image size is
            replaced by the square ``image_size`` (OpenAI archives are square).
        image_size: Square input resolution of the stand-in, e.g. 32 at patch 8
            gives a 4x4 grid, i.e. 17 visual positional-embedding rows.
        seed: RNG seed of the random weights.
        half: Cast Linear/Conv/MHA weights and projections to float16 as
            OpenAI's archives do (LayerNorms and embeddings stay float32).

    Returns:
        The archive's state dict (the dtype it was saved in), including the
        ``input_resolution``, ``context_length`` and ``vocab_size`` entries.
    """
    cfg = copy.deepcopy(cfg if cfg is not None else tiny_clip_cfg(quick_gelu=True))
    cfg['vision_cfg']['image_size'] = image_size
    clip = build_tiny_clip(cfg, seed=seed)
    if half:
        convert_weights_to_lp(clip, torch.float16)
    archive = _OpenAIArchive(clip, image_size).eval()
    with warnings.catch_warnings():
        # torch.jit is deprecated in favour of torch.export, but OpenAI ships TorchScript.
        warnings.simplefilter('ignore', FutureWarning)
        traced = torch.jit.trace(archive, torch.ones(1))
        torch.jit.save(traced, str(path))
    return {k: v.detach().clone() for k, v in archive.state_dict().items()}


def make_open_clip_checkpoint(
    path: PathLike,
    cfg: Optional[dict] = None,
    seed: int = 0,
    nested: bool = False,
    prefix: str = '',
) -> Dict[str, Tensor]:
    """Save a tiny open_clip-style checkpoint with ``torch.save``.

    Args:
        path: Output file.
        cfg: Model dict as from :func:`tiny_clip_cfg` (default: that with no args).
        seed: RNG seed of the random weights.
        nested: Save ``{'state_dict': sd, 'epoch': 1}`` like open_clip's
            training script instead of the raw state dict.
        prefix: Prepended to every key, e.g. ``'module.'`` as DDP writes it.

    Returns:
        The model's state dict (float32, unprefixed keys).
    """
    clip = build_tiny_clip(cfg, seed=seed)
    state_dict = {k: v.detach().clone() for k, v in clip.state_dict().items()}
    saved = {prefix + k: v for k, v in state_dict.items()}
    torch.save({'state_dict': saved, 'epoch': 1} if nested else saved, str(path))
    return state_dict
