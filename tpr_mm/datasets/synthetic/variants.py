# Copyright (c) tpr_mm contributors. All rights reserved.
"""Optional generator variants: harder captions and identities, disjoint corpora.

All are off by default, so a dataset generated without them is unchanged.

* ``partial_captions``: every caption names only part of the person (2–3 of
  the attribute slots present, not always the garments), as real annotators
  describe what they notice; CUHK-PEDES captions rarely name everything.
* ``sibling_fraction``: that fraction of the identities comes in pairs that
  differ in exactly one captionable attribute (one colour or one accessory),
  so a model must read every attribute, not only the salient ones.
* ``exclude_identities_of``: the generator parameters of other synthetic
  datasets (a dict or a list of dicts) whose identities (attribute keys) are
  never drawn here, e.g. for a pretraining corpus disjoint from benchmarks.
"""

from dataclasses import replace
from typing import List, Optional, Set, Tuple

import numpy as np

from .attributes import (
    COLORS,
    PersonAttributes,
    _choice,
    _join,
    _phrases,
    sample_identities,
)

_PARTIAL_SUBJECTS = ('A person', 'The pedestrian', 'This person', 'Someone')
# Attributes a sibling may change, each to another value of its own vocabulary.
_SIBLING_FIELDS = ('upper_color', 'lower_color', 'shoes_color', 'hair_color')


def identity_keys(params: dict) -> Set[tuple]:
    """Attribute keys of every identity a dataset with ``params`` holds.

    Args:
        params (dict): Normalised generator parameters (as in the meta file).

    Returns:
        set[tuple]: :meth:`PersonAttributes.key` of all its identities.
    """
    return {a.key() for a in draw_identities(params)}


def draw_identities(p: dict) -> List[PersonAttributes]:
    """The identities (train, val, test order) of a dataset with params ``p``."""
    total = p['num_train_ids'] + p['num_val_ids'] + p['num_test_ids']
    rng = np.random.default_rng([p['seed'], 0, 0, 0])
    excluded: Set[tuple] = set()
    for other in p.get('exclude_identities_of') or []:
        excluded |= identity_keys(other)
    identities = sample_identities(total, rng, exclude=excluded)
    fraction = p.get('sibling_fraction', 0.0)
    if fraction > 0:
        taken = {a.key() for a in identities} | excluded
        identities = _make_siblings(identities, fraction, p['seed'], taken)
    return identities


def _make_siblings(
    identities: List[PersonAttributes], fraction: float, seed: int, taken: Set[tuple]
) -> List[PersonAttributes]:
    """Replace every second identity of the first ``fraction`` by a one-attribute variant."""
    rng = np.random.default_rng([seed, 0, 0, 3])  # own stream: the other ids are unchanged
    out = list(identities)
    num_pairs = int(round(fraction * len(out))) // 2
    for i in range(num_pairs):
        base, slot = out[2 * i], 2 * i + 1
        taken.discard(out[slot].key())
        for _ in range(100):
            sibling = _vary_one(base, rng)
            if sibling.key() not in taken:
                break
        else:
            raise RuntimeError(f'could not vary identity {2 * i} in one attribute')
        taken.add(sibling.key())
        out[slot] = sibling
    return out


def _vary_one(attrs: PersonAttributes, rng: np.random.Generator) -> PersonAttributes:
    field = _choice(rng, _SIBLING_FIELDS)
    if field == 'hair_color':
        options = [c for c in ('black', 'brown', 'blond', 'grey') if c != attrs.hair_color]
    else:
        options = [c for c in COLORS if c != getattr(attrs, field)]
    return replace(attrs, **{field: _choice(rng, options)})


def make_partial_caption(
    attrs: PersonAttributes, rng: np.random.Generator, view: Optional[str] = None
) -> Tuple[str, List[str]]:
    """A caption naming only 2–3 of the attribute slots present.

    Args:
        attrs (PersonAttributes): The identity to describe.
        rng (np.random.Generator): Source of randomness.
        view (str, optional): Unused; kept for the signature of ``make_caption``.

    Returns:
        tuple[str, list[str]]: The caption and the slots it names.
    """
    phrases = _phrases(attrs, rng)
    slots = list(phrases)
    k = min(len(slots), int(rng.integers(2, 4)))
    chosen = [slots[i] for i in sorted(rng.choice(len(slots), k, replace=False))]
    items = [phrases[s] for s in chosen]
    verb = 'has' if 'hair' in chosen else _choice(rng, ('has', 'is seen with', 'wears'))
    subject = _choice(rng, _PARTIAL_SUBJECTS)
    return f'{subject} {verb} {_join(items)}.', chosen
