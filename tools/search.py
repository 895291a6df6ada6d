# Copyright (c) tpr_mm contributors. All rights reserved.
"""Search a folder of person images with a text description.

    # embed the images once (add --append later to index only new images)
    python tools/search.py index --config CONFIG --checkpoint CKPT \
        --images DIR --index-dir OUT [--index-type flat|ivfpq] [--append]
    # answer a query: top-k paths and scores, optionally a PNG grid
    python tools/search.py query --index-dir OUT --config CONFIG --checkpoint CKPT \
        "a person in a red jacket" [-k 10] [--grid out.png]
"""

import argparse
import sys
import time

from tpr_mm.apis import (
    CorruptIndexError,
    FingerprintMismatchError,
    GalleryIndex,
    IndexChangedError,
    TextImageInferencer,
    draw_result_grid,
    index_image_folder,
    search_text,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--config', required=True, help='config the checkpoint was trained with')
    common.add_argument('--checkpoint', required=True, help='model checkpoint (.pth)')
    common.add_argument('--index-dir', required=True, help='folder of the gallery index')
    common.add_argument('--device', default='cpu', help="'cpu' or e.g. 'cuda:0'")
    common.add_argument('--batch-size', type=int, default=64)

    idx = sub.add_parser('index', parents=[common], help='embed a folder of images')
    idx.add_argument('--images', required=True, help='folder searched recursively for images')
    idx.add_argument(
        '--index-type',
        default='flat',
        help="'flat' (exact), 'ivfpq' (large galleries) or a faiss factory string",
    )
    idx.add_argument(
        '--append',
        action='store_true',
        help='add images not yet in the index instead of rebuilding it',
    )
    idx.add_argument('--nprobe', type=int, default=64, help='IVF lists visited per query')
    idx.add_argument('--workers', type=int, default=0, help='image decoding workers')

    query = sub.add_parser('query', parents=[common], help='search the index with text')
    query.add_argument('text', help='the description to search for')
    query.add_argument('-k', type=int, default=10, help='results to return')
    query.add_argument('--grid', help='write the results as a PNG grid to this file')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    inferencer = TextImageInferencer(
        args.config,
        args.checkpoint,
        device=args.device,
        batch_size=args.batch_size,
        num_workers=getattr(args, 'workers', 0),
    )
    try:
        if args.command == 'index':
            start = time.perf_counter()
            index, encoded = index_image_folder(
                inferencer,
                args.images,
                args.index_dir,
                index_type=args.index_type,
                append=args.append,
                nprobe=args.nprobe,
            )
            print(
                f'indexed {encoded} new image(s) in {time.perf_counter() - start:.1f} s; '
                f'{args.index_dir} holds {index.ntotal} ({index.factory})'
            )
            return 0
        index = GalleryIndex.load(args.index_dir, fingerprint=inferencer.fingerprint())
    except (FingerprintMismatchError, CorruptIndexError, IndexChangedError, OSError) as exc:
        # OSError: an unreadable image (named), or the folder stayed locked (IndexBusyError);
        # nothing was saved, the old index is unchanged.
        print(f'error: {exc}', file=sys.stderr)
        return 2
    results = search_text(inferencer, index, args.text, args.k)
    print(f'query: {args.text!r}')
    for rank, (path, score) in enumerate(results, 1):
        print(f'{rank:3d}  {score:.4f}  {path}')
    if args.grid:
        draw_result_grid(args.text, results).save(args.grid)
        print(f'wrote {args.grid}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
