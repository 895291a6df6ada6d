# Copyright (c) tpr_mm contributors. All rights reserved.
"""Token-level forward of the two towers of an open_clip ``CLIP``.

open_clip's ``encode_image`` / ``encode_text`` return pooled features only and
its residual blocks call ``nn.MultiheadAttention`` with ``need_weights=False``.
Fine-grained methods (IRRA-style token losses, CFine's attention-ranked token
selection) need all tokens and the last layer's attention map. These functions
re-run the same open_clip modules step by step; only when attention is asked
for is the last block evaluated here (same sub-modules, ``need_weights=True``),
so the plain path costs what open_clip's does. open_clip itself is not patched.

Source: mlfoundations/open_clip:src/open_clip/transformer.py (``VisionTransformer``,
``Transformer``, re-run step by step).
"""

from typing import Dict, Optional, Tuple

import torch
from open_clip.model import CLIP
from open_clip.transformer import ResidualAttentionBlock, Transformer, VisionTransformer
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ['check_token_support', 'run_blocks', 'image_token_forward', 'text_token_forward']


def check_token_support(clip: nn.Module) -> None:
    """Raise NotImplementedError unless ``clip`` is a ViT ``CLIP`` with class-token
    pooling and argmax (EOT) text pooling — the OpenAI CLIP layout."""
    if not isinstance(clip, CLIP):
        raise NotImplementedError(
            f'only open_clip.model.CLIP is supported, got {type(clip).__name__} '
            '(CustomTextCLIP / CoCa configs are not)'
        )
    visual = clip.visual
    if not isinstance(visual, VisionTransformer):
        raise NotImplementedError(
            f'only ViT image towers are supported, got {type(visual).__name__}'
        )
    if visual.attn_pool is not None or visual.pool_type != 'tok' or visual.final_ln_after_pool:
        raise NotImplementedError(
            'the image tower must pool the class token after ln_post '
            '(no attentional pool, pool_type="tok", final_ln_after_pool=False)'
        )
    if clip.text_pool_type != 'argmax':
        raise NotImplementedError(
            f'text pooling must be "argmax" (EOT), got {clip.text_pool_type!r}'
        )


def _block_with_attention(
    block: ResidualAttentionBlock, x: Tensor, attn_mask: Optional[Tensor]
) -> Tuple[Tensor, Tensor]:
    """``block(x, attn_mask=attn_mask)`` that also returns head-averaged attention."""
    y = block.ln_1(x)
    mask = attn_mask.to(y.dtype) if attn_mask is not None else None
    out, weights = block.attn(y, y, y, need_weights=True, average_attn_weights=True, attn_mask=mask)
    x = x + block.ls_1(out)
    x = x + block.ls_2(block.mlp(block.ln_2(x)))
    return x, weights


def run_blocks(
    transformer: Transformer,
    x: Tensor,
    attn_mask: Optional[Tensor] = None,
    return_attention: bool = False,
) -> Tuple[Tensor, Optional[Tensor]]:
    """Run an open_clip ``Transformer`` on batch-first ``x``.

    Args:
        transformer: The tower's ``Transformer`` (its ``grad_checkpointing``
            flag is honoured for every block but an attention-returning last one).
        x: (B, L, C) input tokens.
        attn_mask: Additive (L, L) mask or None.
        return_attention: Also return the last block's attention weights.

    Returns:
        ``(x, attention)``: (B, L, C) output and (B, L, L) head-averaged
        softmax weights of the last block (None unless asked).
    """
    if not return_attention:
        return transformer(x, attn_mask=attn_mask), None
    last = transformer.resblocks[-1]
    if type(last) is not ResidualAttentionBlock or hasattr(last, 'ln_1_kv'):
        raise NotImplementedError(
            f'attention maps need open_clip ResidualAttentionBlock '
            f'self-attention blocks, got {type(last).__name__}'
        )
    if not transformer.batch_first:
        x = x.transpose(0, 1)
    for block in transformer.resblocks[:-1]:
        if transformer.grad_checkpointing and not torch.jit.is_scripting():
            x = checkpoint(block, x, None, None, attn_mask, use_reentrant=False)
        else:
            x = block(x, attn_mask=attn_mask)
    x, attention = _block_with_attention(last, x, attn_mask)
    if not transformer.batch_first:
        x = x.transpose(0, 1)
    return x, attention


def image_token_forward(
    clip: CLIP, images: Tensor, return_tokens: bool = False, return_attention: bool = False
) -> Dict[str, Tensor]:
    """Image tower forward.

    Args:
        clip: A supported ``CLIP`` (see :func:`check_token_support`).
        images: (B, 3, H, W) at the model's image size.
        return_tokens: Add ``tokens`` (B, 1+L, D) = ``ln_post`` of all tokens
            projected by ``visual.proj`` (class token at index 0, IRRA
            convention) and ``tokens_unprojected`` (B, 1+L, width).
        return_attention: Add ``attention`` (B, 1+L, 1+L), last layer, head-averaged.

    Returns:
        Dict with ``global`` (B, D): the projected class token, not normalised
        (equals ``clip.encode_image``), plus the optional entries.
    """
    visual = clip.visual
    if images.ndim != 4 or tuple(images.shape[-2:]) != tuple(visual.image_size):
        raise ValueError(
            f'images must be (B, 3, {visual.image_size[0]}, {visual.image_size[1]}), '
            f'got {tuple(images.shape)}'
        )
    x = visual._embeds(images)  # conv patches + class token + pos-embed (+ patch dropout) + ln_pre
    x, attention = run_blocks(visual.transformer, x, None, return_attention)
    out: Dict[str, Tensor] = {}
    if return_tokens:
        tokens = visual.ln_post(x)
        out['tokens_unprojected'] = tokens
        out['tokens'] = tokens @ visual.proj if visual.proj is not None else tokens
        out['global'] = out['tokens'][:, 0]
    else:
        pooled = visual.ln_post(x[:, 0])
        out['global'] = pooled @ visual.proj if visual.proj is not None else pooled
    if attention is not None:
        out['attention'] = attention
    return out


def _project_text(clip: CLIP, x: Tensor) -> Tensor:
    proj = clip.text_projection
    if proj is None:
        return x
    return proj(x) if isinstance(proj, nn.Linear) else x @ proj


def trim_padding(text: Tensor) -> Tensor:
    """Cut (B, T) CLIP token ids to the batch's longest caption.

    The EOT token is the largest id, so ``argmax`` finds it; everything after
    the last EOT of the batch is padding. With the causal mask no kept
    position attends to a cut one, so the outputs of the kept positions (and
    the EOT pooling) are unchanged.

    Returns:
        Tensor: (B, T') with ``T' = max_b argmax(text[b]) + 1``.
    """
    if text.ndim != 2 or text.shape[1] == 0:
        return text
    return text[:, : int(text.argmax(dim=-1).max()) + 1]


def text_token_forward(
    clip: CLIP, text: Tensor, return_tokens: bool = False, return_attention: bool = False
) -> Dict[str, Tensor]:
    """Text tower forward (causal mask as in CLIP).

    Args:
        clip: A supported ``CLIP`` (see :func:`check_token_support`).
        text: (B, T) token ids, pad 0, EOT = the largest id; T may be shorter
            than the context length (trailing padding trimmed): with the causal
            mask that leaves every kept token's output unchanged.
        return_tokens: Add ``tokens`` (B, T, D) = ``ln_final`` of all tokens
            projected by ``text_projection``, ``tokens_unprojected`` (B, T,
            width), ``mask`` (B, T) bool (True up to and including EOT) and
            ``eot_index`` (B,).
        return_attention: Add ``attention`` (B, T, T), last layer, head-averaged;
            row i is zero beyond column i (causal).

    Returns:
        Dict with ``global`` (B, D) at the EOT position (``argmax`` of the ids),
        not normalised (equals ``clip.encode_text``), plus the optional entries.
    """
    if text.ndim != 2 or text.is_floating_point():
        raise ValueError(
            f'text must be (B, T) integer token ids, got {tuple(text.shape)} {text.dtype}'
        )
    num_tokens = text.shape[1]
    if num_tokens > clip.context_length:
        raise ValueError(
            f'text has {num_tokens} tokens, more than context_length={clip.context_length}'
        )
    cast_dtype = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(text).to(cast_dtype)
    x = x + clip.positional_embedding[:num_tokens].to(cast_dtype)
    attn_mask = clip.attn_mask
    if attn_mask is not None:
        attn_mask = attn_mask[:num_tokens, :num_tokens]
    x, attention = run_blocks(clip.transformer, x, attn_mask, return_attention)
    eot = text.argmax(dim=-1)
    rows = torch.arange(text.shape[0], device=text.device)
    out: Dict[str, Tensor] = {}
    if return_tokens:
        tokens = clip.ln_final(x)
        out['tokens_unprojected'] = tokens
        out['tokens'] = _project_text(clip, tokens)
        out['global'] = out['tokens'][rows, eot]
        # Positions up to EOT, not ``text != 0``: CLIP pads with 0, but 0 is also a real
        # token ('!' before other punctuation). CFine's official mask (id 0) is BERT's [PAD].
        out['mask'] = torch.arange(num_tokens, device=text.device)[None, :] <= eot[:, None]
        out['eot_index'] = eot
    else:
        out['global'] = _project_text(clip, clip.ln_final(x[rows, eot]))
    if attention is not None:
        out['attention'] = attention
    return out
