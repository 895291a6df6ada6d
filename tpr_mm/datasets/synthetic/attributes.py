# Copyright (c) tpr_mm contributors. All rights reserved.
"""Attribute vocabulary of the synthetic pedestrians and identity sampling.

An identity is one combination of clothing/accessory attributes. The
combinations are drawn with a seeded RNG and are unique across all splits, so
every identity can be told apart from every other one by at least one
attribute that the captions name.
"""

import re
from dataclasses import asdict, dataclass
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

RGB = Tuple[int, int, int]

# Saturated, well separated garment colours (backgrounds are kept desaturated).
COLORS: Dict[str, RGB] = {
    'red': (215, 30, 35),
    'orange': (250, 135, 20),
    'yellow': (245, 215, 30),
    'green': (35, 150, 55),
    'blue': (35, 75, 215),
    'purple': (125, 45, 170),
    'pink': (250, 135, 195),
    'white': (242, 242, 242),
    'black': (22, 22, 26),
    'brown': (110, 65, 30),
}
HAIR_COLORS: Dict[str, RGB] = {
    'black': (28, 22, 18),
    'brown': (105, 60, 28),
    'blond': (225, 190, 105),
    'grey': (160, 160, 160),
}
SKIN_TONES: Tuple[RGB, ...] = ((240, 200, 170), (210, 165, 125), (160, 112, 75), (105, 72, 48))

# Words a caption may use for each colour (the first one is canonical).
COLOR_WORDS: Dict[str, Tuple[str, ...]] = {name: (name,) for name in COLORS}
COLOR_WORDS['purple'] = ('purple', 'violet')
COLOR_WORDS['blond'] = ('blond', 'blonde')
COLOR_WORDS['grey'] = ('grey', 'gray')

UPPER_TYPES = ('t-shirt', 'shirt', 'jacket', 'coat')
LOWER_TYPES = ('trousers', 'shorts', 'skirt')
BAG_TYPES = ('none', 'backpack', 'handbag', 'shoulder bag')
HAT_TYPES = ('none', 'cap', 'beanie', 'hat')
HAIR_LENGTHS = ('short', 'long')

# Nouns (synonyms) used in captions for each garment/accessory type.
NOUNS: Dict[str, Tuple[str, ...]] = {
    't-shirt': ('t-shirt', 'tee shirt', 'short-sleeved shirt', 'short sleeve top'),
    'shirt': ('long-sleeved shirt', 'long sleeve top', 'shirt with long sleeves'),
    'jacket': ('jacket', 'zip-up jacket', 'casual jacket'),
    'coat': ('coat', 'long coat', 'overcoat'),
    'trousers': ('trousers', 'pants', 'long pants'),
    'shorts': ('shorts', 'short pants'),
    'skirt': ('skirt', 'knee-length skirt'),
    'shoes': ('shoes', 'sneakers', 'boots'),
    'backpack': ('backpack', 'rucksack'),
    'handbag': ('handbag', 'hand bag', 'purse'),
    'shoulder bag': ('shoulder bag', 'messenger bag', 'bag over the shoulder'),
    'cap': ('cap', 'baseball cap'),
    'beanie': ('beanie', 'knit hat', 'woolly hat'),
    'hat': ('hat', 'wide-brimmed hat', 'sun hat'),
}


@dataclass(frozen=True)
class PersonAttributes:
    """Appearance of one synthetic identity.

    ``bag_color``/``hat_color`` are ``None`` when the accessory is absent and
    ``stripe_color`` is ``None`` for plain tops. ``skin`` indexes
    :data:`SKIN_TONES`; it is a nuisance factor that captions never name.
    """

    upper_type: str
    upper_color: str
    stripe_color: Optional[str]
    lower_type: str
    lower_color: str
    shoes_color: str
    bag_type: str
    bag_color: Optional[str]
    hat_type: str
    hat_color: Optional[str]
    hair_length: str
    hair_color: str
    skin: int

    def key(self) -> tuple:
        """Attributes that captions can name; unique per identity."""
        d = asdict(self)
        d.pop('skin')
        return tuple(d.values())

    def to_dict(self) -> dict:
        return asdict(self)


def _choice(rng: np.random.Generator, options, p=None):
    return options[int(rng.choice(len(options), p=p))]


def sample_attributes(rng: np.random.Generator) -> PersonAttributes:
    """Draw one random attribute combination.

    Args:
        rng (np.random.Generator): Source of randomness.

    Returns:
        PersonAttributes: A random identity.
    """
    colors = tuple(COLORS)
    upper_color = _choice(rng, colors)
    stripe_color = None
    if rng.random() < 0.25:
        # Stripes contrast with the base colour: white on dark, black on light.
        stripe_color = 'black' if upper_color in ('white', 'yellow', 'pink') else 'white'
    bag_type = _choice(rng, BAG_TYPES, p=(0.3, 0.25, 0.2, 0.25))
    hat_type = _choice(rng, HAT_TYPES, p=(0.55, 0.15, 0.15, 0.15))
    return PersonAttributes(
        upper_type=_choice(rng, UPPER_TYPES),
        upper_color=upper_color,
        stripe_color=stripe_color,
        lower_type=_choice(rng, LOWER_TYPES, p=(0.5, 0.25, 0.25)),
        lower_color=_choice(rng, colors),
        shoes_color=_choice(rng, colors),
        bag_type=bag_type,
        bag_color=None if bag_type == 'none' else _choice(rng, colors),
        hat_type=hat_type,
        hat_color=None if hat_type == 'none' else _choice(rng, colors),
        hair_length=_choice(rng, HAIR_LENGTHS),
        hair_color=_choice(rng, tuple(HAIR_COLORS)),
        skin=int(rng.integers(len(SKIN_TONES))),
    )


def sample_identities(
    num: int, rng: np.random.Generator, exclude: Iterable[tuple] = ()
) -> List[PersonAttributes]:
    """Draw ``num`` identities with pairwise distinct captionable attributes.

    Args:
        num (int): Number of identities.
        rng (np.random.Generator): Source of randomness.
        exclude (Iterable[tuple]): Keys (:meth:`PersonAttributes.key`) never
            drawn, e.g. another dataset's identities. Defaults to none.

    Returns:
        list[PersonAttributes]: ``num`` identities, all keys distinct.
    """
    identities: List[PersonAttributes] = []
    seen = set(exclude)
    attempts = 0
    while len(identities) < num:
        attempts += 1
        if attempts > 50 * num + 1000:
            raise ValueError(f'could not draw {num} distinct identities; use fewer ids')
        attrs = sample_attributes(rng)
        if attrs.key() not in seen:
            seen.add(attrs.key())
            identities.append(attrs)
    return identities


# --------------------------------------------------------------------------
# Captions
# --------------------------------------------------------------------------
_NOUN_SUBJECTS = ('person', 'pedestrian', 'individual', 'passer-by')
_VIEW_PHRASES = {
    'front': ('is facing the camera', 'is walking towards the camera'),
    'back': ('is seen from behind', 'is walking away from the camera'),
    'side': ('is seen from the side', 'is walking past the camera'),
}


def _join(items: List[str]) -> str:
    return items[0] if len(items) == 1 else ', '.join(items[:-1]) + ' and ' + items[-1]


def _color(rng: np.random.Generator, name: str) -> str:
    return _choice(rng, COLOR_WORDS[name])


def _article(phrase: str) -> str:
    return ('an ' if phrase[0] in 'aeiou' else 'a ') + phrase


def _phrases(attrs: PersonAttributes, rng: np.random.Generator) -> Dict[str, str]:
    """One freshly worded noun phrase per attribute slot present."""
    noun = _choice(rng, NOUNS[attrs.upper_type])
    color = _color(rng, attrs.upper_color)
    if attrs.stripe_color is not None:
        stripe = _color(rng, attrs.stripe_color)
        upper = _choice(
            rng, (f'{color} and {stripe} striped {noun}', f'{color} {noun} with {stripe} stripes')
        )
    else:
        upper = _choice(rng, (f'{color} {noun}', f'{noun} in {color}'))
    phrases = {'upper': _article(upper)}
    noun, color = _choice(rng, NOUNS[attrs.lower_type]), _color(rng, attrs.lower_color)
    if attrs.lower_type == 'skirt':
        phrases['lower'] = _article(f'{color} {noun}')
    else:
        phrases['lower'] = _choice(rng, (f'{color} {noun}', f'a pair of {color} {noun}'))
    shoes = f'{_color(rng, attrs.shoes_color)} {_choice(rng, NOUNS["shoes"])}'
    phrases['shoes'] = _choice(rng, (shoes, f'a pair of {shoes}'))
    length = (
        attrs.hair_length
        if attrs.hair_length == 'short'
        else _choice(rng, ('long', 'shoulder-length'))
    )
    phrases['hair'] = f'{length} {_color(rng, attrs.hair_color)} hair'
    if attrs.bag_type != 'none':
        phrases['bag'] = _article(
            f'{_color(rng, attrs.bag_color)} {_choice(rng, NOUNS[attrs.bag_type])}'
        )
    if attrs.hat_type != 'none':
        phrases['hat'] = _article(
            f'{_color(rng, attrs.hat_color)} {_choice(rng, NOUNS[attrs.hat_type])}'
        )
    return phrases


def make_caption(
    attrs: PersonAttributes, rng: np.random.Generator, view: Optional[str] = None
) -> Tuple[str, List[str]]:
    """Write one paraphrased caption of an identity.

    The upper and lower garments are always named, plus at least two of
    shoes/hair/bag/hat, so every caption names at least four attributes. No
    left/right words are used (images may be flipped during training).

    Args:
        attrs (PersonAttributes): The identity to describe.
        rng (np.random.Generator): Source of randomness.
        view (str, optional): ``'front'``, ``'back'`` or ``'side'``; if given,
            the caption sometimes says from where the person is seen.

    Returns:
        tuple[str, list[str]]: The caption and the attribute slots it names.
    """
    phrases = _phrases(attrs, rng)
    pool = [s for s in ('shoes', 'hair', 'bag', 'hat') if s in phrases]
    n_opt = len(pool) if rng.random() < 0.5 else int(rng.integers(2, len(pool) + 1))
    optional = [pool[i] for i in sorted(rng.choice(len(pool), n_opt, replace=False))]
    wear = ['upper', 'lower'] + [s for s in ('shoes', 'hat') if s in optional]
    wear = [wear[i] for i in rng.permutation(len(wear))]
    wear_list = _join([phrases[s] for s in wear])
    noun = _choice(rng, _NOUN_SUBJECTS)
    det = _choice(rng, ('a', 'The', 'This'))
    subject = _article(noun).capitalize() if det == 'a' else f'{det} {noun}'
    ref = _choice(rng, (f'The {noun}', 'This person', 'He or she'))
    hair = phrases['hair'] if 'hair' in optional else None
    bag = phrases['bag'] if 'bag' in optional else None

    style = int(rng.integers(3))
    if style == 0:  # one sentence of participle clauses
        clauses = [f'wearing {wear_list}']
        if hair:
            clauses.insert(int(rng.integers(2)), f'with {hair}')
        if bag:
            verbs = ('carrying ', 'holding ' if attrs.bag_type == 'handbag' else 'with ')
            clauses.append(_choice(rng, verbs) + bag)
        text = f'{subject} {", ".join(clauses)}.'
    elif style == 1:  # finite verbs, split over two sentences
        verb = _choice(rng, ('is wearing', 'wears', 'is dressed in'))
        parts = [_choice(rng, ('has ', 'is carrying ', 'carries ')) + bag] if bag else []
        if hair:
            parts.insert(int(rng.integers(len(parts) + 1)), f'has {hair}')
        text = f'{subject} {verb} {wear_list}.'
        if parts:
            text += f' {ref} {" and ".join(parts)}.'
    else:  # one 'has' list of everything
        items = [phrases[s] for s in ('upper', 'lower', *optional)]
        items = [items[i] for i in rng.permutation(len(items))]
        text = f'{subject} has {_join(items)}.'
    if view is not None and rng.random() < 0.3:
        text += f' {ref} {_choice(rng, _VIEW_PHRASES[view])}.'
    return text, ['upper', 'lower', *optional]


def tokenize_caption(caption: str) -> List[str]:
    """Lower-cased word tokens, as in CUHK-PEDES ``processed_tokens``."""
    return re.findall(r"[a-z0-9]+(?:[-'][a-z0-9]+)*", caption.lower())
