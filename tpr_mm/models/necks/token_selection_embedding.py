# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE's token-selection embedding (TSE) of images and captions."""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

from .token_selection import gather_tokens, select_informative_tokens

__all__ = ['TSEMLP', 'VisualTokenSelectionEmbedding', 'TextTokenSelectionEmbedding']


def _l2norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    # RDE adds eps to the norm (not a max with eps as F.normalize does).
    return x / (x.pow(2).sum(dim=-1, keepdim=True).sqrt() + eps)


class TSEMLP(nn.Module):
    """Per-token MLP: ``num_layers`` linears, BatchNorm1d + ReLU between them.

    The ``MLP`` of ``QinYang79/RDE:2024-CVPR-RDE/model/CrossEmbeddingLayer_tse.py``
    (from woodfrog/vse_infty); BatchNorm normalises over all B·K tokens. RDE
    also builds a BatchNorm after the last linear that is never applied; it is
    not built here.

    Args:
        in_channels (int): Token width.
        hidden_channels (int): Width of the hidden layers.
        out_channels (int): Output width.
        num_layers (int): Number of linears (>= 1). Defaults to 2.
    """

    def __init__(
        self, in_channels: int, hidden_channels: int, out_channels: int, num_layers: int = 2
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.bns = nn.ModuleList(nn.BatchNorm1d(d) for d in dims[1:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, K, C) -> (B, K, out_channels)."""
        b, k, c = x.shape
        x = x.reshape(b * k, c)
        for bn, layer in zip(self.bns, self.layers[:-1]):
            x = F.relu(bn(layer(x)))
        return self.layers[-1](x).view(b, k, -1)


class _TokenSelectionEmbedding(BaseModule):
    """Selected tokens -> L2 norm -> linear + MLP residual -> max pooling."""

    def __init__(
        self,
        in_channels: int,
        embed_dim: int = 1024,
        ratio: float = 0.3,
        num_mlp_layers: int = 2,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not 0.0 < ratio <= 1.0:
            raise ValueError(f'ratio must be in (0, 1], got {ratio}')
        self.in_channels = in_channels
        self.embed_dim = embed_dim
        self.ratio = ratio
        self.mlp = TSEMLP(in_channels, embed_dim // 2, embed_dim, num_mlp_layers)

    def _num_selected(self, candidates: int, what: str) -> int:
        k = int(candidates * self.ratio)
        if k < 1:
            raise ValueError(
                f'{type(self).__name__}: ratio {self.ratio} of {candidates} {what} selects no token'
            )
        return k

    def _embed(self, tokens: torch.Tensor, linear: nn.Module) -> torch.Tensor:
        tokens = _l2norm(tokens)
        return linear(tokens) + self.mlp(tokens)


@MODELS.register_module()
class VisualTokenSelectionEmbedding(_TokenSelectionEmbedding):
    """TSE of images: the patches the class token attends to most.

    Re-states ``VisualEmbeddingLayer`` of
    ``QinYang79/RDE:2024-CVPR-RDE/model/CrossEmbeddingLayer_tse.py``: take the
    class token's row of the last layer's head-averaged attention, select the
    top k = ⌊L·ratio⌋ of the L patch tokens (57 of 192 at 384×128, patch 16),
    L2-normalise them, map each by ``fc`` + ``mlp`` (residual) to
    ``embed_dim`` and max-pool over the k tokens. RDE's unused
    ``VisualEmbeddingLayer.linear`` is not built.

    Args:
        in_channels (int): Token width (CLIP's projected width, 512 for ViT-B/16).
        embed_dim (int): Output width. Defaults to 1024.
        ratio (float): Selected share of the patches. Defaults to 0.3.
        num_mlp_layers (int): Defaults to 2.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: int, embed_dim: int = 1024, **kwargs) -> None:
        super().__init__(in_channels, embed_dim, **kwargs)
        self.fc = nn.Linear(in_channels, embed_dim)

    def forward(self, tokens: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Embed images.

        Args:
            tokens (Tensor): (B, 1+L, C) projected tokens, class token first.
            attention (Tensor): (B, 1+L, 1+L) last-layer attention.

        Returns:
            Tensor: (B, embed_dim), not normalised.
        """
        k = self._num_selected(tokens.shape[1] - 1, 'patches')
        scores = attention[:, 0].detach().clone()
        scores[:, 0] = -1.0  # RDE: the class token itself is never selected
        every = torch.ones_like(scores, dtype=torch.bool)
        index, _ = select_informative_tokens(scores, every, k)
        feats = self._embed(gather_tokens(tokens, index), self.fc)
        return feats.max(dim=1).values


@MODELS.register_module()
class TextTokenSelectionEmbedding(_TokenSelectionEmbedding):
    """TSE of captions: the words the EOT token attends to most.

    Re-states ``TexualEmbeddingLayer`` of
    ``QinYang79/RDE:2024-CVPR-RDE/model/CrossEmbeddingLayer_tse.py``: take
    the EOT row of the last layer's attention, score SOT and EOT −1 and
    padding 0 (so words rank first, then padding, then SOT/EOT), select the
    top k = ⌊(T−2)·ratio⌋ positions (22 of 77), L2-normalise, map by
    ``linear`` + ``mlp`` and max-pool over the first min(n, k) selected
    tokens, n = the caption's word count. All k tokens (padding included)
    pass the MLP, so they share its BatchNorm statistics as in RDE. Id 0
    counts as padding, as in RDE.

    Deviation: RDE's pooling turns a caption with no word (and every later
    caption of the batch) into NaN; here such a caption pools its first
    selected token.

    Args:
        in_channels (int): Token width (512 for ViT-B/16).
        embed_dim (int): Output width. Defaults to 1024.
        ratio (float): Selected share of the T−2 positions. Defaults to 0.3.
        num_mlp_layers (int): Defaults to 2.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self, in_channels: int, embed_dim: int = 1024, **kwargs) -> None:
        super().__init__(in_channels, embed_dim, **kwargs)
        self.linear = nn.Linear(in_channels, embed_dim)

    def forward(
        self, tokens: torch.Tensor, text: torch.Tensor, attention: torch.Tensor
    ) -> torch.Tensor:
        """Embed captions.

        Args:
            tokens (Tensor): (B, T, C) projected tokens.
            text (Tensor): (B, T) token ids (pad 0, EOT = the largest id).
            attention (Tensor): (B, T, T) last-layer (causal) attention.

        Returns:
            Tensor: (B, embed_dim), not normalised.
        """
        b, t = text.shape
        k = self._num_selected(t - 2, 'caption positions')
        valid = text != 0
        rows = torch.arange(b, device=text.device)
        eot = text.argmax(dim=-1)
        scores = attention[rows, eot].detach().clone()
        scores[rows, eot] = -1.0
        scores[:, 0] = -1.0
        scores = scores * valid
        every = torch.ones_like(valid)
        index, _ = select_informative_tokens(scores, every, k)
        feats = self._embed(gather_tokens(tokens, index), self.linear)
        words = (valid.sum(dim=1) - 2).clamp(min=1, max=k)
        keep = torch.arange(k, device=text.device).view(1, -1) < words.view(-1, 1)
        return feats.masked_fill(~keep.unsqueeze(-1), float('-inf')).max(dim=1).values
