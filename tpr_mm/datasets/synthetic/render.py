# Copyright (c) tpr_mm contributors. All rights reserved.
"""Drawing one synthetic pedestrian image with PIL.

The figure is drawn in *body units*: ``x`` across the body (in the side view
the person faces ``+x``), ``y`` down from the top of the head (0) to the soles
(8). A small shear (lean) and the scale/position jitter map units to pixels.
Drawing happens at twice the target resolution and is box-downsampled, which
gives cheap anti-aliasing.
"""

import math
from typing import Optional, Tuple

import numpy as np
from PIL import Image, ImageDraw

from .attributes import COLORS, HAIR_COLORS, SKIN_TONES, PersonAttributes

_SS = 2  # supersampling factor
VIEWS = ('front', 'back', 'side')
_VIEW_P = (0.45, 0.3, 0.25)


def _shade(rgb, f: float):
    return tuple(int(min(255, c * f)) for c in rgb)


class _Pen:
    """Maps body units to canvas pixels and draws primitives."""

    def __init__(self, draw: ImageDraw.ImageDraw, cx: float, top: float, u: float, lean: float):
        self.draw, self.cx, self.top, self.u, self.lean = draw, cx, top, u, lean

    def pt(self, x: float, y: float) -> Tuple[float, float]:
        return self.cx + (x + self.lean * (8.0 - y)) * self.u, self.top + y * self.u

    def poly(self, pts, fill) -> None:
        self.draw.polygon([self.pt(x, y) for x, y in pts], fill=fill)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill) -> None:
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill)

    def ellipse(self, x, y, rx, ry, fill, arc: Optional[Tuple[int, int]] = None) -> None:
        cx, cy = self.pt(x, y)
        box = [cx - rx * self.u, cy - ry * self.u, cx + rx * self.u, cy + ry * self.u]
        if arc is None:
            self.draw.ellipse(box, fill=fill)
        else:
            self.draw.pieslice(box, arc[0], arc[1], fill=fill)

    def limb(self, pts, width: float, fill) -> None:
        """Thick polyline with round ends and joints."""
        xy = [self.pt(x, y) for x, y in pts]
        w = max(1, round(width * self.u))
        self.draw.line(xy, fill=fill, width=w, joint='curve')
        for x, y in xy:
            self.draw.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=fill)


def _background(rng: np.random.Generator, h: int, w: int) -> Image.Image:
    """Desaturated wall + ground with a gradient and a few faint blocks."""
    wall = rng.uniform(70, 200) + rng.uniform(-22, 22, 3)
    ground = wall * rng.uniform(0.55, 0.9) + rng.uniform(-15, 15, 3)
    horizon = int(h * rng.uniform(0.55, 0.85))
    ramp = np.linspace(-1.0, 1.0, h)[:, None, None] * rng.uniform(-18, 18)
    img = np.empty((h, w, 3), np.float32)
    img[:horizon] = wall
    img[horizon:] = ground
    img = Image.fromarray(np.clip(img + ramp, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = rng.uniform(-0.2, 1.0) * w, rng.uniform(-0.1, 0.8) * h
        bw, bh = rng.uniform(0.1, 0.5) * w, rng.uniform(0.05, 0.3) * h
        col = tuple(int(c) for c in np.clip(wall + rng.uniform(-35, 35, 3), 0, 255))
        draw.rectangle([x0, y0, x0 + bw, y0 + bh], fill=col)
    return img


def _arm_points(rng, view: str, side: int):
    """Shoulder/elbow/hand of one arm; ``side`` is -1 or +1."""
    if view == 'side':
        sx, theta, bend = 0.0, side * rng.uniform(0.1, 0.5), rng.uniform(0.0, 0.4)
    else:
        sx, theta, bend = side * 0.88, side * rng.uniform(0.05, 0.3), side * rng.uniform(-0.1, 0.3)
    elbow = (sx + 1.25 * math.sin(theta), 1.35 + 1.25 * math.cos(theta))
    hand = (elbow[0] + 1.15 * math.sin(theta - bend), elbow[1] + 1.15 * math.cos(theta - bend))
    return [(sx, 1.35), elbow, hand]


def _leg_points(rng, view: str, side: int):
    if view == 'side':
        hip, phi = (0.0, 4.3), -side * rng.uniform(0.05, 0.35)
        ankle = (hip[0] + 3.35 * math.sin(phi), hip[1] + 3.35 * math.cos(phi))
    else:
        hip = (side * 0.36, 4.3)
        ankle = (side * (0.36 + rng.uniform(-0.05, 0.25)), 7.65)
    knee = ((hip[0] + ankle[0]) / 2, (hip[1] + ankle[1]) / 2)
    return [hip, knee, ankle]


def _draw_arm(pen: _Pen, pts, a: PersonAttributes, skin, upper, dim: float = 1.0) -> None:
    skin, upper = _shade(skin, dim), _shade(upper, dim)
    pen.limb(pts, 0.36, skin)
    if a.upper_type == 't-shirt':
        (x0, y0), (x1, y1) = pts[0], pts[1]
        pen.limb([(x0, y0), (x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0))], 0.52, upper)
    else:
        pen.limb(pts, 0.5, upper)
    pen.ellipse(*pts[2], 0.2, 0.2, skin)


def _draw_legs(pen: _Pen, legs, a: PersonAttributes, skin, lower, shoes, view: str) -> None:
    for hip, knee, ankle in legs:
        pen.limb([hip, knee, ankle], 0.42, skin)
        if a.lower_type == 'trousers':
            pen.limb([hip, knee, ankle], 0.56, lower)
        elif a.lower_type == 'shorts':
            pen.limb([hip, knee], 0.6, lower)
        dx = 0.15 if view == 'side' else 0.0
        pen.ellipse(ankle[0] + dx, ankle[1] + 0.13, 0.42 if view == 'side' else 0.3, 0.19, shoes)
    side = view == 'side'
    xl, xr = (-0.45, 0.5) if side else (-0.75, 0.75)
    if a.lower_type == 'skirt':
        pen.poly([(xl, 3.7), (xr, 3.7), (xr + 0.4, 6.0), (xl - 0.4, 6.0)], lower)
    else:
        pen.poly([(xl, 3.7), (xr, 3.7), (xr + 0.05, 4.6), (xl - 0.05, 4.6)], lower)


def _draw_torso(pen: _Pen, a: PersonAttributes, view: str) -> None:
    col = COLORS[a.upper_color]
    yb, hb = {
        't-shirt': (3.9, 0.76),
        'shirt': (3.9, 0.76),
        'jacket': (4.45, 0.82),
        'coat': (5.4, 1.0),
    }[a.upper_type]
    if view == 'side':
        xl0, xr0, xl1, xr1 = -0.5, 0.45, -hb * 0.62, hb * 0.62
    else:
        xl0, xr0, xl1, xr1 = -0.92, 0.92, -hb, hb
    pen.poly(
        [(xl0 + 0.3, 1.15), (xr0 - 0.3, 1.15), (xr0, 1.4), (xr1, yb), (xl1, yb), (xl0, 1.4)], col
    )
    if a.stripe_color is not None:
        stripe = COLORS[a.stripe_color]
        for y in np.arange(1.55, yb - 0.2, 0.55):
            t0, t1 = (y - 1.4) / (yb - 1.4), (y + 0.25 - 1.4) / (yb - 1.4)
            pen.poly(
                [
                    (xl0 + t0 * (xl1 - xl0), y),
                    (xr0 + t0 * (xr1 - xr0), y),
                    (xr0 + t1 * (xr1 - xr0), y + 0.25),
                    (xl0 + t1 * (xl1 - xl0), y + 0.25),
                ],
                stripe,
            )
    if view == 'front' and a.upper_type in ('jacket', 'coat'):
        pen.limb(
            [(0, 1.3), (0, yb - 0.05)], 0.08, _shade(col, 0.55) if sum(col) > 90 else (90, 90, 90)
        )
        if a.upper_type == 'coat':
            for y in (2.2, 3.0, 3.8):
                pen.ellipse(0.16, y, 0.07, 0.07, (60, 60, 60))


def _draw_head(pen: _Pen, a: PersonAttributes, skin, view: str) -> None:
    hair = HAIR_COLORS[a.hair_color]
    if view == 'back':
        pen.ellipse(0, 0.55, 0.43, 0.52, hair)
    elif view == 'side':
        pen.ellipse(-0.05, 0.5, 0.42, 0.47, hair)
        pen.ellipse(0.1, 0.62, 0.35, 0.42, skin)
        pen.ellipse(0.3, 0.58, 0.05, 0.05, (30, 30, 30))
    else:
        pen.ellipse(0, 0.5, 0.45, 0.5, hair)
        pen.ellipse(0, 0.63, 0.37, 0.42, skin)
        for x in (-0.14, 0.14):
            pen.ellipse(x, 0.6, 0.05, 0.05, (30, 30, 30))


def _draw_long_hair(pen: _Pen, a: PersonAttributes, view: str) -> None:
    hair = HAIR_COLORS[a.hair_color]
    if view == 'front':
        for s in (-1, 1):
            pen.poly([(s * 0.3, 0.5), (s * 0.5, 0.5), (s * 0.58, 2.1), (s * 0.32, 2.1)], hair)
    elif view == 'back':
        pen.poly([(-0.45, 0.5), (0.45, 0.5), (0.55, 2.3), (-0.55, 2.3)], hair)
    else:
        pen.poly([(-0.45, 0.5), (0.0, 0.5), (-0.1, 2.2), (-0.6, 2.2)], hair)


def _draw_hat(pen: _Pen, a: PersonAttributes, view: str) -> None:
    col = COLORS[a.hat_color]
    x = -0.02 if view == 'side' else 0.0
    if a.hat_type == 'cap':
        pen.ellipse(x, 0.45, 0.47, 0.45, col, arc=(180, 360))
        if view == 'side':
            pen.poly([(0.2, 0.36), (0.82, 0.4), (0.82, 0.48), (0.2, 0.48)], _shade(col, 0.8))
        else:
            pen.ellipse(x, 0.45, 0.52, 0.1, _shade(col, 0.8))
    elif a.hat_type == 'beanie':
        pen.ellipse(x, 0.5, 0.48, 0.55, col, arc=(180, 360))
        pen.rect(x - 0.49, 0.36, x + 0.49, 0.52, _shade(col, 0.75))
    else:
        pen.rect(x - 0.34, -0.05, x + 0.34, 0.38, col)
        pen.ellipse(x, 0.38, 0.85, 0.12, _shade(col, 0.85))


def _draw_bag(pen: _Pen, a: PersonAttributes, view: str, hand) -> None:
    col, dark = COLORS[a.bag_color], _shade(COLORS[a.bag_color], 0.7)
    if a.bag_type == 'backpack':
        if view == 'back':
            pen.rect(-0.72, 1.45, 0.72, 3.75, col)
            pen.rect(-0.5, 2.65, 0.5, 3.55, dark)
        elif view == 'side':
            pen.rect(-1.1, 1.45, -0.42, 3.6, col)
            pen.rect(-1.1, 2.6, -0.85, 3.5, dark)
        else:
            for s in (-1, 1):
                pen.limb([(s * 0.45, 1.22), (s * 0.55, 3.3)], 0.22, col)
    elif a.bag_type == 'shoulder bag':
        if view == 'side':
            pen.limb([(0.0, 1.25), (0.1, 3.9)], 0.14, col)
            pen.rect(-0.35, 3.75, 0.45, 4.55, col)
        else:
            pen.limb([(0.6, 1.25), (-0.8, 3.9)], 0.14, col)
            pen.rect(-1.35, 3.7, -0.55, 4.5, col)
            pen.rect(-1.35, 3.7, -0.55, 3.92, dark)
    elif a.bag_type == 'handbag':
        hx, hy = hand
        pen.limb([(hx - 0.2, hy + 0.35), (hx, hy), (hx + 0.2, hy + 0.35)], 0.08, dark)
        pen.poly(
            [
                (hx - 0.34, hy + 0.3),
                (hx + 0.34, hy + 0.3),
                (hx + 0.42, hy + 0.95),
                (hx - 0.42, hy + 0.95),
            ],
            col,
        )


def render_person(
    attrs: PersonAttributes, rng: np.random.Generator, image_size: Tuple[int, int] = (128, 48)
) -> Tuple[Image.Image, str]:
    """Draw one image of an identity with random pose, view and background.

    Args:
        attrs (PersonAttributes): The identity to draw.
        rng (np.random.Generator): Source of randomness for this image.
        image_size (tuple[int, int]): Output ``(H, W)``.

    Returns:
        tuple[PIL.Image.Image, str]: RGB image of size ``(W, H)`` and the
        view (``'front'``, ``'back'`` or ``'side'``).
    """
    h, w = image_size
    H, W = h * _SS, w * _SS
    view = VIEWS[int(rng.choice(3, p=_VIEW_P))]
    canvas = _background(rng, H, W)
    frac = rng.uniform(0.78, 0.94)
    u = min(H * frac / 8.0, W * frac / 3.2)
    feet = H * rng.uniform(0.94, 0.99)
    pen = _Pen(
        ImageDraw.Draw(canvas),
        W * (0.5 + rng.uniform(-0.07, 0.07)),
        feet - 8.0 * u,
        u,
        rng.uniform(-0.04, 0.04),
    )
    skin = SKIN_TONES[attrs.skin]
    upper = COLORS[attrs.upper_color]
    sides = (-1, 1) if rng.random() < 0.5 else (1, -1)  # (far, near) in the side view
    arms = [_arm_points(rng, view, s) for s in sides]
    legs = [_leg_points(rng, view, s) for s in sides]

    if view == 'front' and attrs.bag_type == 'backpack':
        pen.rect(-1.08, 1.5, 1.08, 3.6, COLORS[attrs.bag_color])
    if view == 'side':
        _draw_arm(pen, arms[0], attrs, skin, upper, dim=0.8)
    _draw_legs(pen, legs, attrs, skin, COLORS[attrs.lower_color], COLORS[attrs.shoes_color], view)
    pen.rect(-0.17, 0.85, 0.17, 1.3, skin)  # neck
    _draw_torso(pen, attrs, view)
    hand = max(arms, key=lambda pts: pts[2][0])[2] if view != 'side' else arms[1][2]
    if attrs.bag_type not in ('none', 'handbag'):
        _draw_bag(pen, attrs, view, hand)
    if attrs.hair_length == 'long' and view != 'front':
        _draw_long_hair(pen, attrs, view)
    for pts in arms[1:] if view == 'side' else arms:
        _draw_arm(pen, pts, attrs, skin, upper)
    if attrs.bag_type == 'handbag':
        _draw_bag(pen, attrs, view, hand)
    if attrs.hair_length == 'long' and view == 'front':
        _draw_long_hair(pen, attrs, view)
    _draw_head(pen, attrs, skin, view)
    if attrs.hat_type != 'none':
        _draw_hat(pen, attrs, view)

    img = np.asarray(canvas.reduce(_SS), dtype=np.float32)
    img = img * rng.uniform(0.75, 1.2) + rng.uniform(-12, 12, 3)  # exposure / white balance
    img += rng.normal(0.0, rng.uniform(2.0, 7.0), img.shape)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), view
