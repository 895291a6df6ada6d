# Copyright (c) tpr_mm contributors. All rights reserved.
"""A faiss index over gallery embeddings that remembers which model made them."""

import os.path as osp
from typing import List, Optional, Sequence, Tuple

import faiss
import numpy as np
from mmengine.logging import print_log

from .index_factory import ivfpq_factory
from .index_folder import read_index_folder, write_index_folder
from .index_meta import META_FILE

# META_FILE was importable from here before the folder code moved out; it stays so.
__all__ = ['GalleryIndex', 'META_FILE']


def _gpu_available() -> bool:
    return hasattr(faiss, 'StandardGpuResources') and faiss.get_num_gpus() > 0


class GalleryIndex:
    """Inner-product search over gallery embeddings, saved with its model's identity.

    Vectors are L2-normalised on the way in (``normalize=True``) so scores are
    cosine similarities. ``index_type`` is ``'flat'`` (exact, the default),
    ``'ivfpq'`` (IVF-PQ with exact re-ranking, sized by :func:`ivfpq_factory`
    when first trained) or any faiss factory string. Row ``i`` of the index is
    ``paths[i]``. A GPU copy is used for search when faiss has GPUs.

    Args:
        dim (int): Embedding dimension D.
        index_type (str): ``'flat'``, ``'ivfpq'`` or a faiss factory string.
        fingerprint (dict, optional): Identity of the encoder (see
            :meth:`TextImageInferencer.fingerprint`); saved and checked on load.
        nprobe (int): Inverted lists visited per query (IVF only).
        k_factor (int): Re-rank ``k * k_factor`` candidates (refine only);
            cheap (exact dot products) and worth it: see ``docs/search.md``.
        normalize (bool): L2-normalise added and query vectors.
        use_gpu (bool, optional): None = when faiss reports a GPU.
        train_size (int): Vectors sampled to train an IVF/PQ index.
    """

    def __init__(
        self,
        dim: int,
        index_type: str = 'flat',
        fingerprint: Optional[dict] = None,
        nprobe: int = 64,
        k_factor: int = 30,
        normalize: bool = True,
        use_gpu: Optional[bool] = None,
        train_size: int = 100_000,
    ) -> None:
        if dim < 1:
            raise ValueError(f'GalleryIndex dim must be >= 1, got {dim}')
        self.dim = int(dim)
        self.index_type = index_type
        self.fingerprint = fingerprint
        self.nprobe, self.k_factor = int(nprobe), int(k_factor)
        self.normalize = normalize
        self.use_gpu = _gpu_available() if use_gpu is None else bool(use_gpu)
        self.train_size = int(train_size)
        self.paths: List[str] = []
        self.index: Optional[faiss.Index] = None
        self.factory: Optional[str] = None
        self._gpu_index = None
        self._gpu_res = None
        self._source: Optional[Tuple[str, str]] = None  # (folder, faiss file) it was read from
        if index_type not in ('flat', 'ivfpq'):
            self._create(index_type)  # a bad factory string fails here, not later
        elif index_type == 'flat':
            self._create('Flat')

    @property
    def ntotal(self) -> int:
        return 0 if self.index is None else int(self.index.ntotal)

    def _create(self, factory: str) -> None:
        try:
            index = faiss.index_factory(self.dim, factory, faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f'invalid faiss index factory string {factory!r}: {exc}') from None
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is not None and hasattr(faiss.downcast_index(ivf), 'do_polysemous_training'):
            # Polysemous codes only serve Hamming pre-filtering, which search does not
            # use; their training is a slow annealing (~40 s for PQ8 on 2,500 vectors here).
            faiss.downcast_index(ivf).do_polysemous_training = False
        self.index, self.factory = index, factory
        self._apply_search_params()

    def set_search_params(
        self, nprobe: Optional[int] = None, k_factor: Optional[int] = None
    ) -> None:
        """Change the IVF lists visited and the re-ranking depth (saved too)."""
        if nprobe is not None:
            self.nprobe = int(nprobe)
        if k_factor is not None:
            self.k_factor = int(k_factor)
        if self.index is not None:
            self._apply_search_params()

    def _apply_search_params(self) -> None:
        ivf = faiss.try_extract_index_ivf(self.index)
        if ivf is not None:
            ivf.nprobe = min(self.nprobe, ivf.nlist)
        if isinstance(self.index, faiss.IndexRefine):
            self.index.k_factor = float(self.k_factor)
        self._gpu_index = None

    def _check(self, vectors: np.ndarray, what: str) -> np.ndarray:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f'{what} must have shape (N, {self.dim}), got {vectors.shape}')
        if not np.isfinite(vectors).all():
            bad = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
            raise ValueError(f'{what} row {bad} contains NaN or Inf')
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.normalize:
            vectors = vectors.copy()
            faiss.normalize_L2(vectors)
        return vectors

    def build(self, vectors: np.ndarray, paths: Optional[Sequence[str]] = None) -> 'GalleryIndex':
        """Replace the contents with ``vectors`` (N, D), training if needed."""
        self.paths = []
        if self.index_type == 'ivfpq':
            self.index = None
        else:
            self._create(self.factory)
        return self.add(vectors, paths)

    def add(self, vectors: np.ndarray, paths: Optional[Sequence[str]] = None) -> 'GalleryIndex':
        """Append ``vectors`` (N, D) labelled ``paths`` (default: their row ids).

        The first call trains an untrained index (IVF, PQ) on a random subset
        of at most ``train_size`` of these vectors; later calls only encode the
        new vectors with the trained quantizers.
        """
        vectors = self._check(vectors, 'gallery vectors')
        if paths is None:
            paths = [str(i) for i in range(self.ntotal, self.ntotal + len(vectors))]
        if len(paths) != len(vectors):
            raise ValueError(f'got {len(vectors)} gallery vectors but {len(paths)} paths')
        if len(vectors) == 0:
            return self
        if self.index is None:
            self._create(ivfpq_factory(len(vectors), self.dim))
        if not self.index.is_trained:
            rng = np.random.default_rng(0)
            take = min(len(vectors), self.train_size)
            sample = vectors[np.sort(rng.choice(len(vectors), take, replace=False))]
            self.index.train(sample)
            self._apply_search_params()
        self.index.add(vectors)
        self.paths.extend(str(p) for p in paths)
        self._gpu_index = None
        return self

    def _searcher(self) -> faiss.Index:
        if not self.use_gpu:
            return self.index
        if self._gpu_index is None:
            try:
                self._gpu_res = faiss.StandardGpuResources()
                self._gpu_index = faiss.index_cpu_to_gpu(self._gpu_res, 0, self.index)
            except (RuntimeError, AttributeError) as exc:
                print_log(
                    f'GalleryIndex: {self.factory} cannot move to the GPU ({exc}); '
                    'searching on the CPU',
                    logger='current',
                    level=30,
                )
                self.use_gpu = False
                return self.index
        return self._gpu_index

    def search(self, queries: np.ndarray, k: int = 10) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows for each query.

        Args:
            queries (np.ndarray): (Q, D) query embeddings.
            k (int): Results per query (at most ``ntotal``).

        Returns:
            tuple: scores (Q, k') float32 descending and ids (Q, k') int64,
            ``k' = min(k, ntotal)``; id -1 marks a missing result.
        """
        if self.ntotal == 0:
            raise RuntimeError('the gallery index is empty; add images before searching')
        queries = self._check(queries, 'query vectors')
        k = min(int(k), self.ntotal)
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        scores, ids = self._searcher().search(queries, k)
        return scores, ids

    def search_paths(self, queries: np.ndarray, k: int = 10) -> List[List[Tuple[str, float]]]:
        """Like :meth:`search` but each result is ``(path, score)``."""
        scores, ids = self.search(queries, k)
        return [
            [(self.paths[i], float(s)) for s, i in zip(row_s, row_i) if i >= 0]
            for row_s, row_i in zip(scores, ids)
        ]

    def save(self, index_dir: str) -> None:
        """Write ``index-<generation>.faiss`` and commit it with ``index_meta.json``.

        The pair changes with one rename (see :mod:`tpr_mm.apis.index_files`):
        a crash at any point leaves the previous index or the new one, never
        new vectors with old paths. The folder is locked for the save
        (:mod:`tpr_mm.apis.index_lock`); an index loaded from ``index_dir``
        is not saved back over another process's later save
        (:class:`~tpr_mm.apis.index_files.IndexChangedError`).
        """
        if self.index is None:
            raise RuntimeError('nothing to save: the index was never built')
        source, expected = self._source or (None, None)
        if source != osp.realpath(index_dir):
            expected = None  # a new index or another folder: replacing it is the intent
        settings = dict(
            dim=self.dim,
            index_type=self.index_type,
            factory=self.factory,
            nprobe=self.nprobe,
            k_factor=self.k_factor,
            normalize=self.normalize,
            train_size=self.train_size,
            fingerprint=self.fingerprint,
            ntotal=self.ntotal,
            paths=self.paths,
        )
        index_file = write_index_folder(index_dir, self.index, settings, expected)
        self._source = (osp.realpath(index_dir), index_file)

    @classmethod
    def load(
        cls, index_dir: str, fingerprint: Optional[dict] = None, use_gpu: Optional[bool] = None
    ) -> 'GalleryIndex':
        """Read an index saved by :meth:`save` (under a shared lock).

        Args:
            index_dir (str): Folder with ``index_meta.json`` and the faiss file
                it names.
            fingerprint (dict, optional): Identity of the model about to query
                the index; a different one raises
                :class:`FingerprintMismatchError`.
            use_gpu (bool, optional): See the class.

        Raises:
            FileNotFoundError: No index in ``index_dir``.
            CorruptIndexError: A damaged or hand-edited ``index_meta.json``
                (naming the field), an unreadable faiss file, or files that do
                not belong together.
        """
        meta, index = read_index_folder(index_dir, fingerprint)
        self = cls(
            meta['dim'],
            'flat',
            fingerprint=meta.get('fingerprint'),
            nprobe=meta['nprobe'],
            k_factor=meta['k_factor'],
            normalize=meta['normalize'],
            use_gpu=use_gpu,
            train_size=meta.get('train_size', 100_000),
        )
        self.index_type, self.factory = meta['index_type'], meta['factory']
        self.index, self.paths = index, list(meta['paths'])
        self._apply_search_params()
        self._source = (osp.realpath(index_dir), meta['index_file'])
        return self
