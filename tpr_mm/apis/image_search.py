# Copyright (c) tpr_mm contributors. All rights reserved.
"""Index a folder of person images and search it with text."""

import os
import os.path as osp
from typing import List, Optional, Tuple

from mmengine.logging import print_log

from .gallery_index import GalleryIndex
from .index_meta import META_FILE
from .inferencer import TextImageInferencer

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp')


def list_images(image_dir: str, extensions: Tuple[str, ...] = IMAGE_EXTENSIONS) -> List[str]:
    """Absolute paths of the images under ``image_dir`` (recursive, sorted).

    Raises:
        FileNotFoundError: ``image_dir`` is not a folder or holds no images.
    """
    if not osp.isdir(image_dir):
        raise FileNotFoundError(f'image folder not found: {image_dir}')
    paths = []
    for root, dirs, files in os.walk(image_dir):
        dirs.sort()
        paths += [osp.abspath(osp.join(root, f)) for f in files if f.lower().endswith(extensions)]
    if not paths:
        raise FileNotFoundError(f'no images ({", ".join(extensions)}) found under {image_dir}')
    return sorted(paths)


def index_image_folder(
    inferencer: TextImageInferencer,
    image_dir: str,
    index_dir: str,
    index_type: str = 'flat',
    append: bool = False,
    batch_size: Optional[int] = None,
    progress: bool = True,
    **index_kwargs,
) -> Tuple[GalleryIndex, int]:
    """Embed the images of a folder once and save a :class:`GalleryIndex`.

    With ``append=True`` and an index already in ``index_dir`` (built by the
    same model: the fingerprint is checked), only images whose paths it does
    not hold yet are encoded and added; the old ones are not re-encoded.

    Args:
        inferencer (TextImageInferencer): The encoder.
        image_dir (str): Folder searched recursively for images.
        index_dir (str): Where ``index.faiss`` and ``index_meta.json`` go.
        index_type (str): ``'flat'``, ``'ivfpq'`` or a faiss factory string;
            ignored when appending (the existing index keeps its type).
        append (bool): Add to an existing index instead of rebuilding it.
        batch_size (int, optional): Images per forward pass.
        progress (bool): Show a progress bar while encoding.
        **index_kwargs: Extra :class:`GalleryIndex` arguments (``nprobe``...).

    Returns:
        tuple: the saved index and the number of images encoded now.
    """
    paths = list_images(image_dir)
    fingerprint = inferencer.fingerprint()
    if append and osp.isfile(osp.join(index_dir, META_FILE)):
        index = GalleryIndex.load(index_dir, fingerprint=fingerprint)
        known = set(index.paths)
        paths = [p for p in paths if p not in known]
        print_log(
            f'appending {len(paths)} new image(s) to {index_dir} ({index.ntotal} already indexed)',
            logger='current',
        )
    else:
        index = GalleryIndex(
            fingerprint['embed_dim'], index_type, fingerprint=fingerprint, **index_kwargs
        )
    if paths:
        feats = inferencer.encode_images(paths, batch_size=batch_size, progress=progress)
        index.add(feats, paths)
    index.save(index_dir)
    return index, len(paths)


def search_text(
    inferencer: TextImageInferencer, index: GalleryIndex, query: str, k: int = 10
) -> List[Tuple[str, float]]:
    """Top-``k`` ``(image path, cosine score)`` pairs for one caption."""
    return index.search_paths(inferencer.encode_texts([query]), k)[0]
