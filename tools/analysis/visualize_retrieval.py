# Copyright (c) tpr_mm contributors. All rights reserved.
"""Draw each query caption above its top-k gallery images (green = match).

    python tools/analysis/visualize_retrieval.py work_dirs/demo/rankings.json \
        --out retrievals.png [--num-queries 4 | --queries 0 17 42] [--seed 0]

The rankings file is written by ``tools/test.py CONFIG CKPT --out FILE``.
"""

import argparse
import json
import random
import textwrap

from PIL import Image, ImageDraw, ImageFont

THUMB_H, THUMB_W, PAD, FRAME = 128, 48, 6, 3


def draw_grid(records: list, topk: int = 10) -> Image.Image:
    """One row per query: wrapped caption, then its top-k images framed
    green (same identity) or red (different identity)."""
    font = ImageFont.load_default()
    text_h = 14 * 3
    row_h = text_h + THUMB_H + 2 * FRAME + PAD
    width = PAD + topk * (THUMB_W + 2 * FRAME + PAD)
    canvas = Image.new('RGB', (max(width, 400), PAD + row_h * len(records)), 'white')
    draw = ImageDraw.Draw(canvas)
    for row, rec in enumerate(records):
        y = PAD + row * row_h
        caption = textwrap.fill(str(rec['query']), width=max(40, width // 7))
        lines = caption.splitlines()[:3]
        draw.multiline_text((PAD, y), '\n'.join(lines), fill='black', font=font)
        for col, hit in enumerate(rec['results'][:topk]):
            x = PAD + col * (THUMB_W + 2 * FRAME + PAD)
            top = y + text_h
            colour = (0, 170, 0) if hit['pid'] == rec['query_pid'] else (220, 0, 0)
            draw.rectangle(
                [x, top, x + THUMB_W + 2 * FRAME - 1, top + THUMB_H + 2 * FRAME - 1], fill=colour
            )
            try:
                with Image.open(hit['img_path']) as img:
                    thumb = img.convert('RGB').resize((THUMB_W, THUMB_H))
            except OSError:
                thumb = Image.new('RGB', (THUMB_W, THUMB_H), 'grey')
            canvas.paste(thumb, (x + FRAME, top + FRAME))
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rankings', help='JSON written by tools/test.py --out')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--queries', type=int, nargs='*', help='query indices to draw')
    parser.add_argument('--num-queries', type=int, default=4, help='sampled when --queries unset')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    with open(args.rankings) as f:
        records = json.load(f)
    if args.queries:
        chosen = [records[i] for i in args.queries]
    else:
        rng = random.Random(args.seed)
        chosen = rng.sample(records, min(args.num_queries, len(records)))
    draw_grid(chosen, args.topk).save(args.out)
    print(f'wrote {args.out} ({len(chosen)} queries)')


if __name__ == '__main__':
    main()
