# Copyright (c) tpr_mm contributors. All rights reserved.
"""Text-to-image retrieval grids: each caption above its ranked gallery images."""

import textwrap
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.dist import master_only
from mmpretrain.visualization import UniversalVisualizer
from PIL import Image, ImageDraw, ImageFont

from tpr_mm.registry import VISUALIZERS

THUMB_H, THUMB_W = 128, 48  # thumbnail of a person crop (H, W)
PAD, FRAME, LINE_H, LABEL_H, MIN_WIDTH = 6, 3, 14, 28, 400
CORRECT, WRONG = (0, 170, 0), (220, 0, 0)


@dataclass
class RetrievalHit:
    """One ranked gallery image.

    Args:
        img_path (str): Image file; an unreadable one is drawn grey.
        score (float, optional): Similarity, written under the image when
            labels are drawn.
        correct (bool, optional): Same identity as the query: framed green
            (True) or red (False); None (no ground truth) draws no frame.
    """

    img_path: str
    score: Optional[float] = None
    correct: Optional[bool] = None


@dataclass
class RetrievalQuery:
    """A query caption and its hits, best first."""

    text: str
    hits: List[RetrievalHit] = field(default_factory=list)


@VISUALIZERS.register_module()
class RetrievalVisualizer(UniversalVisualizer):
    """MMPretrain's :class:`~mmpretrain.visualization.UniversalVisualizer`
    plus one grid for many text queries, drawn with PIL at thumbnail scale.

    MMPretrain's ``visualize_t2i_retrieval`` (inherited) draws one query
    against a prototype dataset from a ``DataSample`` score vector, as a
    matplotlib figure without ground truth; the grid here draws many queries
    from ranked file lists, frames each hit by correctness and writes rank and
    score, which both ``tools/analysis/visualize_retrieval.py`` and
    :func:`tpr_mm.apis.draw_result_grid` need.

    Args:
        name (str): Instance name (MMEngine's ``ManagerMixin``).
        thumb_size (tuple[int, int]): Thumbnail (H, W).
        **kwargs: Passed to :class:`UniversalVisualizer` (``vis_backends``,
            ``save_dir``, ...).
    """

    def __init__(
        self,
        name: str = 'retrieval_visualizer',
        thumb_size: Tuple[int, int] = (THUMB_H, THUMB_W),
        **kwargs,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.thumb_size = tuple(thumb_size)

    def draw_retrieval_grid(
        self,
        queries: Sequence[RetrievalQuery],
        cols: Optional[int] = None,
        draw_labels: bool = False,
        caption_lines: int = 3,
    ) -> np.ndarray:
        """Draw every query as a panel: its wrapped caption, then its hits.

        Args:
            queries (Sequence[RetrievalQuery]): Panels, top to bottom.
            cols (int, optional): Hits per row; default the most hits of any
                query (one row each). More hits wrap onto further rows.
            draw_labels (bool): Write ``#rank`` and the score under each hit.
            caption_lines (int): Lines kept of each wrapped caption.

        Returns:
            np.ndarray: (H, W, 3) uint8 RGB image, also set as this
            visualizer's image.
        """
        th, tw = self.thumb_size
        most = max((len(q.hits) for q in queries), default=0)
        cols = max(1, min(cols or most, most)) if most else 1
        cell_w, cell_h = tw + 2 * FRAME, th + 2 * FRAME + (LABEL_H if draw_labels else 0)
        width = max(PAD + cols * (cell_w + PAD), MIN_WIDTH)
        text_h = LINE_H * caption_lines
        rows = [max(1, -(-len(q.hits) // cols)) for q in queries]
        height = PAD + sum(text_h + r * (cell_h + PAD) for r in rows)
        canvas = Image.new('RGB', (width, height), 'white')
        draw = ImageDraw.Draw(canvas)
        font = ImageFont.load_default()
        y = PAD
        for query, n_rows in zip(queries, rows):
            lines = textwrap.wrap(str(query.text), width=max(40, width // 7))[:caption_lines]
            draw.multiline_text((PAD, y), '\n'.join(lines), fill='black', font=font)
            for rank, hit in enumerate(query.hits):
                x = PAD + (rank % cols) * (cell_w + PAD)
                top = y + text_h + (rank // cols) * (cell_h + PAD)
                if hit.correct is not None:
                    colour = CORRECT if hit.correct else WRONG
                    draw.rectangle([x, top, x + cell_w - 1, top + th + 2 * FRAME - 1], fill=colour)
                canvas.paste(_thumbnail(hit.img_path, (th, tw)), (x + FRAME, top + FRAME))
                if draw_labels:
                    below = top + th + 2 * FRAME
                    draw.text((x, below + 2), f'#{rank + 1}', fill='black', font=font)
                    if hit.score is not None:
                        draw.text((x, below + 14), f'{hit.score:.3f}', fill=(0, 0, 160), font=font)
            y += text_h + n_rows * (cell_h + PAD)
        image = np.asarray(canvas, dtype=np.uint8)
        self.set_image(image)
        return image

    @master_only
    def visualize_retrieval(
        self,
        queries: Sequence[RetrievalQuery],
        cols: Optional[int] = None,
        draw_labels: bool = False,
        caption_lines: int = 3,
        show: bool = False,
        wait_time: float = 0,
        out_file: Optional[str] = None,
        name: str = 'retrieval',
        step: int = 0,
    ) -> np.ndarray:
        """Draw the grid (see :meth:`draw_retrieval_grid`), then show it,
        write it to ``out_file``, or else send it to the visualizer backends,
        as MMPretrain's ``visualize_*`` methods do.

        Returns:
            np.ndarray: The (H, W, 3) uint8 RGB image.
        """
        image = self.draw_retrieval_grid(queries, cols, draw_labels, caption_lines)
        if show:
            self.show(image, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(image[..., ::-1], out_file)  # mmcv writes BGR
        else:
            self.add_image(name, image, step=step)
        return image


def _thumbnail(path: str, size: Tuple[int, int]) -> Image.Image:
    """The image resized to ``size`` (H, W); grey when it cannot be read."""
    th, tw = size
    try:
        with Image.open(path) as img:
            return img.convert('RGB').resize((tw, th))
    except OSError:
        return Image.new('RGB', (tw, th), 'grey')
