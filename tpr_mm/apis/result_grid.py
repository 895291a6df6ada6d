# Copyright (c) tpr_mm contributors. All rights reserved.
"""Draw one text query's ranked gallery images as a PNG grid."""

from typing import Sequence, Tuple

from PIL import Image

from tpr_mm.visualization import RetrievalHit, RetrievalQuery, RetrievalVisualizer
from tpr_mm.visualization.retrieval_visualizer import THUMB_H, THUMB_W

VISUALIZER_NAME = 'tpr_mm_result_grid'


def draw_result_grid(
    query: str,
    results: Sequence[Tuple[str, float]],
    cols: int = 10,
    thumb_size: Tuple[int, int] = (THUMB_H, THUMB_W),
) -> Image.Image:
    """The wrapped query on top, then the ranked images with rank and score.

    Drawn by :class:`~tpr_mm.visualization.RetrievalVisualizer` (no frames:
    a search has no ground truth).

    Args:
        query (str): The caption that was searched.
        results (Sequence[tuple[str, float]]): ``(image path, score)`` best first.
        cols (int): Images per row.
        thumb_size (tuple[int, int]): Thumbnail (H, W).

    Returns:
        PIL.Image.Image: RGB canvas; unreadable images are drawn grey.
    """
    visualizer = RetrievalVisualizer.get_instance(VISUALIZER_NAME)
    visualizer.thumb_size = tuple(thumb_size)
    hits = [RetrievalHit(path, score=float(score)) for path, score in results]
    image = visualizer.draw_retrieval_grid(
        [RetrievalQuery(query, hits)], cols=cols, draw_labels=True, caption_lines=4
    )
    return Image.fromarray(image)
