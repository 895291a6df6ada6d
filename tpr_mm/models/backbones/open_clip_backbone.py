# Copyright (c) tpr_mm contributors. All rights reserved.
"""Two-tower CLIP backbone (ViT image tower + causal text transformer) on open_clip.

Source: mlfoundations/open_clip:src/open_clip/model.py (``CLIP``); token outputs as in
anosorae/IRRA:model/clip_model.py.
"""

import copy
import logging
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import open_clip
from mmengine.logging import print_log
from mmengine.model import BaseModule
from open_clip.model import CLIP
from torch import Tensor

from tpr_mm.registry import MODELS

from .clip_tokens import (
    check_token_support,
    image_token_forward,
    text_token_forward,
    trim_padding,
)
from .clip_weights import (
    is_torchscript_archive,
    load_clip_state_dict,
    looks_like_checkpoint_path,
    read_clip_checkpoint,
)

__all__ = ['OpenCLIPBackbone']


@MODELS.register_module()
class OpenCLIPBackbone(BaseModule):
    """CLIP image and text towers with token-level outputs.

    Builds an ``open_clip.model.CLIP`` (kept as ``self.clip``; OpenAI key names)
    at ``img_size`` and loads weights from one of:

    * ``None``: random init;
    * an open_clip pretrained tag (``'openai'``, ``'laion2b_s34b_b88k'``...):
      open_clip downloads / reads its cache via ``create_model(model_name,
      pretrained=tag)`` at the native size; the weights are then fitted here
      so the same pos-embed rule applies to every source;
    * a local open_clip checkpoint (``torch.load(weights_only=True)``; raw or
      ``{'state_dict': ...}``, ``module.`` prefix stripped; or ``.safetensors``);
    * an OpenAI CLIP TorchScript archive such as ``ViT-B-16.pt``: its tensors
      are unpickled without ``torch.jit.load`` (which would run the archive's
      ``__setstate__`` code), see :mod:`~tpr_mm.models.backbones.torchscript_weights`.

    The visual positional embedding is resized to the model's patch grid when
    it differs (class row kept; ``'bilinear'`` without antialias = IRRA,
    ``'bicubic'`` with antialias = open_clip); a longer text positional
    embedding is truncated to ``context_length``.

    ``logit_scale`` (and ``logit_bias``) of ``self.clip`` are kept for strict
    loading but frozen: the backbone never uses them, and trainable unused
    parameters would break DDP without ``find_unused_parameters``.

    Args:
        model_name: open_clip model name, e.g. ``'ViT-B-16'``; ignored for the
            architecture when ``model_cfg`` is given (still used to resolve a tag).
        pretrained: None, an open_clip tag, or a checkpoint / TorchScript path.
        img_size: Input (H, W), e.g. (384, 128) -> 24x8 patches at patch 16.
            Overrides any ``image_size`` in ``model_cfg``.
        model_cfg: ``CLIP`` keyword dict (``embed_dim``, ``vision_cfg``,
            ``text_cfg``, optional ``quick_gelu``...) built directly instead of
            a named config, e.g. :func:`tpr_mm.testing.tiny_clip_cfg`.
        quick_gelu: None = automatic: True for OpenAI weights (TorchScript
            files, tags trained with QuickGELU such as ``'openai'``), else the
            model default. The choice is logged.
        pos_embed_interpolation: ``'bilinear'`` (default) or ``'bicubic'``.
        context_length: Text positions of the model (77 for CLIP).
        grad_checkpointing: Enable activation checkpointing in both towers.
        trim_text_padding: Cut the token ids to the batch's longest caption
            (its EOT, the largest id) before the text tower. CLIP's causal
            mask makes every kept position's output independent of the
            trailing padding, so ``global`` (EOT pooling) is unchanged up to
            float tolerance, at a fraction of the cost for short captions.
            Not applied when the attention map is requested (token-level
            heads such as CFine's select tokens over the full length).
        init_cfg: MMEngine init config.
    """

    def __init__(
        self,
        model_name: str = 'ViT-B-16',
        pretrained: Optional[str] = None,
        img_size: Tuple[int, int] = (384, 128),
        model_cfg: Optional[dict] = None,
        quick_gelu: Optional[bool] = None,
        pos_embed_interpolation: str = 'bilinear',
        context_length: int = 77,
        grad_checkpointing: bool = False,
        trim_text_padding: bool = True,
        init_cfg: Optional[Union[dict, list]] = None,
    ):
        super().__init__(init_cfg=init_cfg)
        if pos_embed_interpolation not in ('bilinear', 'bicubic'):
            raise ValueError(
                "pos_embed_interpolation must be 'bilinear' or 'bicubic', "
                f'got {pos_embed_interpolation!r}'
            )
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.model_name = model_name
        self.img_size = (int(img_size[0]), int(img_size[1]))
        self.context_length = int(context_length)
        self.trim_text_padding = bool(trim_text_padding)
        self.pos_embed_interpolation = pos_embed_interpolation
        pretrained = str(pretrained) if isinstance(pretrained, Path) else pretrained
        source = self._classify_pretrained(pretrained, model_name)

        self.quick_gelu = self._resolve_quick_gelu(quick_gelu, source, pretrained, model_cfg)
        self.clip = self._build_clip(model_cfg)
        check_token_support(self.clip)

        if source == 'tag':
            state_dict = self._state_dict_from_tag(pretrained)
            load_clip_state_dict(
                self.clip,
                state_dict,
                f'open_clip {model_name}/{pretrained}',
                pos_embed_interpolation,
            )
        elif source is not None:
            state_dict, _ = read_clip_checkpoint(pretrained)
            load_clip_state_dict(self.clip, state_dict, pretrained, pos_embed_interpolation)
        if source is not None:
            print_log(
                f'OpenCLIPBackbone: loaded {source} weights from {pretrained}', logger='current'
            )
        for name in ('logit_scale', 'logit_bias'):
            param = getattr(self.clip, name, None)
            if param is not None:
                param.requires_grad_(False)
        if grad_checkpointing:
            self.set_grad_checkpointing(True)

        visual = self.clip.visual
        self.embed_dim = int(visual.output_dim)
        self.vision_width = int(visual.conv1.out_channels)
        self.text_width = int(self.clip.transformer.width)
        self.patch_size = tuple(visual.patch_size)
        self.grid_size = tuple(visual.grid_size)

    @staticmethod
    def _classify_pretrained(pretrained: Optional[str], model_name: str) -> Optional[str]:
        """None, 'torchscript', 'checkpoint' or 'tag'."""
        if pretrained is None:
            return None
        if looks_like_checkpoint_path(pretrained):
            if not Path(pretrained).is_file():
                raise FileNotFoundError(f'pretrained CLIP checkpoint not found: {pretrained}')
            return 'torchscript' if is_torchscript_archive(pretrained) else 'checkpoint'
        if not open_clip.get_pretrained_cfg(model_name, pretrained):
            known = open_clip.list_pretrained_tags_by_model(model_name)
            raise ValueError(
                f'pretrained={pretrained!r} is neither a file nor an open_clip tag of '
                f'{model_name!r} (known tags: {known})'
            )
        return 'tag'

    def _resolve_quick_gelu(
        self,
        quick_gelu: Optional[bool],
        source: Optional[str],
        pretrained: Optional[str],
        model_cfg: Optional[dict],
    ) -> bool:
        if model_cfg is not None:
            default = bool(model_cfg.get('quick_gelu', False))
        elif ':' in self.model_name:  # hf-hub:/local-dir: configs are resolved by open_clip
            default = False
        else:
            default = bool((open_clip.get_model_config(self.model_name) or {}).get('quick_gelu'))
        openai_weights = source == 'torchscript' or (
            source == 'tag'
            and (
                pretrained == 'openai'
                or bool(open_clip.get_pretrained_cfg(self.model_name, pretrained).get('quick_gelu'))
            )
        )
        if quick_gelu is not None:
            chosen, why = bool(quick_gelu), 'set explicitly'
            if openai_weights and not chosen:
                print_log(
                    'OpenCLIPBackbone: quick_gelu=False with weights trained with QuickGELU',
                    logger='current',
                    level=logging.WARNING,
                )
        elif openai_weights:
            chosen, why = True, f'weights {pretrained} were trained with QuickGELU'
        else:
            chosen, why = default, 'model default'
        print_log(f'OpenCLIPBackbone: quick_gelu={chosen} ({why})', logger='current')
        self._quick_gelu_default = default
        return chosen

    def _build_clip(self, model_cfg: Optional[dict]) -> CLIP:
        if model_cfg is not None:
            cfg = copy.deepcopy(dict(model_cfg))
            cfg['vision_cfg'] = dict(cfg.get('vision_cfg', {}), image_size=self.img_size)
            cfg['text_cfg'] = dict(cfg.get('text_cfg', {}), context_length=self.context_length)
            cfg['quick_gelu'] = self.quick_gelu
            return CLIP(**cfg)
        kwargs = {'force_image_size': self.img_size, 'force_context_length': self.context_length}
        if self.quick_gelu:
            kwargs['force_quick_gelu'] = True
        elif self._quick_gelu_default:  # e.g. '*-quickgelu' names with quick_gelu=False
            kwargs['quick_gelu'] = False
        return open_clip.create_model(self.model_name, pretrained=None, **kwargs)

    def _state_dict_from_tag(self, tag: str) -> Dict[str, Tensor]:
        try:
            # Native size, so the pos-embed fitting below is ours, not open_clip's.
            ref = open_clip.create_model(
                self.model_name, pretrained=tag, force_quick_gelu=self.quick_gelu
            )
        except Exception as exc:
            raise RuntimeError(
                f'open_clip could not load pretrained tag {tag!r} of {self.model_name!r}; it '
                "needs internet access or open_clip's download cache. A local checkpoint or "
                'OpenAI TorchScript path also works.'
            ) from exc
        return {k: v.detach().float() for k, v in ref.state_dict().items()}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Toggle activation checkpointing of both transformers."""
        self.clip.set_grad_checkpointing(enable)

    def encode_image(
        self, images: Tensor, return_tokens: bool = False, return_attention: bool = False
    ) -> Dict[str, Tensor]:
        """Encode images (B, 3, H, W).

        Returns:
            ``global`` (B, D) projected class token (not normalised); with
            ``return_tokens``: ``tokens`` (B, 1+L, D), ``tokens_unprojected``
            (B, 1+L, vision_width); with ``return_attention``: ``attention``
            (B, 1+L, 1+L), last layer, head-averaged. See
            :func:`~tpr_mm.models.backbones.clip_tokens.image_token_forward`.
        """
        return image_token_forward(self.clip, images, return_tokens, return_attention)

    def encode_text(
        self, text: Tensor, return_tokens: bool = False, return_attention: bool = False
    ) -> Dict[str, Tensor]:
        """Encode token ids (B, T), T <= context_length.

        With ``trim_text_padding`` (and no attention requested) the ids are
        first cut to ``T' = max EOT position + 1`` of the batch.

        Returns:
            ``global`` (B, D) at the EOT (argmax) position; with
            ``return_tokens``: ``tokens`` (B, T', D), ``tokens_unprojected``
            (B, T', text_width), ``mask`` (B, T') bool, ``eot_index`` (B,);
            with ``return_attention``: causal ``attention`` (B, T, T). See
            :func:`~tpr_mm.models.backbones.clip_tokens.text_token_forward`.
        """
        valid = (
            text.ndim == 2
            and not text.is_floating_point()
            and text.shape[1] <= self.clip.context_length
        )
        if self.trim_text_padding and not return_attention and valid:  # else: the forward names it
            text = trim_padding(text)
        return text_token_forward(self.clip, text, return_tokens, return_attention)

    def forward(
        self, images: Optional[Tensor] = None, text: Optional[Tensor] = None
    ) -> Tuple[Optional[Tensor], Optional[Tensor]]:
        """Return ``(image_global, text_global)``, (B, D) each; None for a missing input."""
        image_feat = self.encode_image(images)['global'] if images is not None else None
        text_feat = self.encode_text(text)['global'] if text is not None else None
        return image_feat, text_feat
