# Copyright (c) tpr_mm contributors. All rights reserved.
"""Draw one text query's ranked gallery images as a PNG grid."""

import textwrap
from typing import Sequence, Tuple

from PIL import Image, ImageDraw, ImageFont

THUMB_H, THUMB_W, PAD, LABEL_H = 128, 48, 6, 28


def draw_result_grid(
    query: str,
    results: Sequence[Tuple[str, float]],
    cols: int = 10,
    thumb_size: Tuple[int, int] = (THUMB_H, THUMB_W),
) -> Image.Image:
    """The wrapped query on top, then the ranked images with rank and score.

    Args:
        query (str): The caption that was searched.
        results (Sequence[tuple[str, float]]): ``(image path, score)`` best first.
        cols (int): Images per row.
        thumb_size (tuple[int, int]): Thumbnail (H, W).

    Returns:
        PIL.Image.Image: RGB canvas; unreadable images are drawn grey.
    """
    th, tw = thumb_size
    font = ImageFont.load_default()
    cols = max(1, min(cols, len(results))) if results else 1
    rows = max(1, -(-len(results) // cols))
    width = max(PAD + cols * (tw + PAD), 320)
    lines = textwrap.wrap(query, width=max(20, width // 7))[:4] or ['']
    text_h = 14 * len(lines) + PAD
    canvas = Image.new('RGB', (width, PAD + text_h + rows * (th + LABEL_H + PAD)), 'white')
    draw = ImageDraw.Draw(canvas)
    draw.multiline_text((PAD, PAD), '\n'.join(lines), fill='black', font=font)
    for rank, (path, score) in enumerate(results):
        x = PAD + (rank % cols) * (tw + PAD)
        y = PAD + text_h + (rank // cols) * (th + LABEL_H + PAD)
        try:
            with Image.open(path) as img:
                thumb = img.convert('RGB').resize((tw, th))
        except OSError:
            thumb = Image.new('RGB', (tw, th), 'grey')
        canvas.paste(thumb, (x, y))
        draw.text((x, y + th + 2), f'#{rank + 1}', fill='black', font=font)
        draw.text((x, y + th + 14), f'{score:.3f}', fill=(0, 0, 160), font=font)
    return canvas
