"""Procedural materials: the :class:`Material` record and the palette that draws them."""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from taskonomy.data.synthetic.classes import (
    CHECKER,
    NOISE,
    PAINTING,
    PLANKS,
    SKY,
    SOLID,
    STRIPES,
    TILES,
    WOOD,
)


@dataclass(frozen=True)
class Material:
    """A procedural texture: ``pattern`` mixes colours ``c1``/``c2``/``c3`` at ``period`` metres.

    ``aux`` is a pattern option (stripe direction 0 = along u, 1 = along v; duty of grout lines
    for tiles). ``emit`` adds light of the material's own colour (lamp shades, sky, screens).
    ``valid`` False marks surfaces without a valid depth reading (window glass).
    """

    pattern: int
    c1: tuple[float, float, float]
    c2: tuple[float, float, float] = (0.0, 0.0, 0.0)
    c3: tuple[float, float, float] = (0.0, 0.0, 0.0)
    period: float = 1.0
    aux: float = 0.0
    emit: float = 0.0
    valid: bool = True

    def flat(self) -> Material:
        """The same material with its texture replaced by its mean colour."""
        if self.pattern in (SOLID, SKY):
            return self
        w = {STRIPES: 0.5, CHECKER: 0.5, NOISE: 0.5, WOOD: 0.5, TILES: 0.1, PLANKS: 0.5}
        if self.pattern == PAINTING:
            mean = tuple((a + b + c) / 3 for a, b, c in zip(self.c1, self.c2, self.c3, strict=True))
        else:
            t = w.get(self.pattern, 0.5)
            mean = tuple((1 - t) * a + t * b for a, b in zip(self.c1, self.c2, strict=True))
        return Material(SOLID, (mean[0], mean[1], mean[2]), emit=self.emit, valid=self.valid)


def _srgb_to_linear(c: tuple[float, float, float]) -> tuple[float, float, float]:
    return (c[0] ** 2.2, c[1] ** 2.2, c[2] ** 2.2)


def hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    """An sRGB-specified colour converted to linear reflectance."""
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0.0), 1.0), min(max(v, 0.0), 1.0))
    return _srgb_to_linear((r, g, b))


def _shade(c: tuple[float, float, float], f: float) -> tuple[float, float, float]:
    return (min(c[0] * f, 1.0), min(c[1] * f, 1.0), min(c[2] * f, 1.0))


class Palette:
    """Draws materials for named slots from the material random stream."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def wood(self) -> Material:
        h = self.u(0.05, 0.1)
        v = self.u(0.3, 0.75)
        c1 = hsv(h, self.u(0.45, 0.7), v)
        return Material(WOOD, c1, _shade(c1, 0.6), period=self.u(0.04, 0.09), aux=0.0)

    def planks(self) -> Material:
        m = self.wood()
        return Material(PLANKS, m.c1, m.c2, period=self.u(0.15, 0.3), aux=self.u(0.8, 1.6))

    def paint(self, sat: tuple[float, float] = (0.05, 0.35)) -> Material:
        c = hsv(self.u(0, 1), self.u(*sat), self.u(0.6, 0.92))
        return Material(NOISE, c, _shade(c, 0.93), period=self.u(0.3, 0.8))

    def wallpaper(self) -> Material:
        h = self.u(0, 1)
        c1 = hsv(h, self.u(0.1, 0.35), self.u(0.7, 0.9))
        c2 = hsv(h + self.u(-0.1, 0.1), self.u(0.2, 0.5), self.u(0.5, 0.75))
        return Material(STRIPES, c1, c2, period=self.u(0.18, 0.45), aux=1.0)

    def tiles(self, small: bool = False) -> Material:
        c1 = hsv(self.u(0, 1), self.u(0.0, 0.3), self.u(0.65, 0.95))
        grout = hsv(0.1, 0.05, self.u(0.35, 0.55))
        p = self.u(0.1, 0.2) if small else self.u(0.25, 0.5)
        return Material(TILES, c1, grout, period=p, aux=0.06)

    def checker(self) -> Material:
        c1 = hsv(self.u(0, 1), self.u(0.0, 0.2), self.u(0.75, 0.95))
        c2 = hsv(self.u(0, 1), self.u(0.0, 0.5), self.u(0.15, 0.45))
        return Material(CHECKER, c1, c2, period=self.u(0.25, 0.5))

    def carpet(self) -> Material:
        c = hsv(self.u(0, 1), self.u(0.1, 0.5), self.u(0.3, 0.7))
        return Material(NOISE, c, _shade(c, 0.6), period=self.u(0.15, 0.4))

    def fabric(self) -> Material:
        c1 = hsv(self.u(0, 1), self.u(0.2, 0.7), self.u(0.3, 0.8))
        r = self.u(0, 1)
        if r < 0.6:
            return Material(NOISE, c1, _shade(c1, 0.6), period=self.u(0.12, 0.3))
        c2 = hsv(self.u(0, 1), self.u(0.1, 0.5), self.u(0.6, 0.95))
        if r < 0.8:
            return Material(STRIPES, c1, c2, period=self.u(0.12, 0.3), aux=float(r < 0.7))
        return Material(CHECKER, c1, c2, period=self.u(0.12, 0.3))

    def white(self) -> Material:
        return Material(SOLID, hsv(self.u(0, 1), self.u(0, 0.06), self.u(0.85, 0.96)))

    def metal(self) -> Material:
        return Material(SOLID, hsv(self.u(0, 1), self.u(0, 0.08), self.u(0.35, 0.75)))

    def dark(self) -> Material:
        return Material(SOLID, hsv(self.u(0, 1), self.u(0, 0.2), self.u(0.08, 0.2)))

    def ceramic(self) -> Material:
        c = hsv(self.u(0.5, 0.65), self.u(0.0, 0.05), self.u(0.88, 0.97))
        return Material(NOISE, c, _shade(c, 0.95), period=0.3)

    def leaf(self) -> Material:
        c1 = hsv(self.u(0.22, 0.36), self.u(0.5, 0.8), self.u(0.3, 0.6))
        return Material(NOISE, c1, _shade(c1, 0.5), period=self.u(0.03, 0.06))

    def pot(self) -> Material:
        if self.u(0, 1) < 0.6:
            return Material(SOLID, hsv(self.u(0.02, 0.07), self.u(0.5, 0.7), self.u(0.5, 0.75)))
        return Material(SOLID, hsv(self.u(0, 1), self.u(0, 0.4), self.u(0.3, 0.9)))

    def soil(self) -> Material:
        c = hsv(0.07, 0.5, 0.2)
        return Material(NOISE, c, _shade(c, 0.6), period=0.02)

    def book(self) -> Material:
        return Material(SOLID, hsv(self.u(0, 1), self.u(0.3, 0.8), self.u(0.25, 0.8)))

    def shade(self) -> Material:
        c = hsv(self.u(0.08, 0.15), self.u(0.1, 0.4), self.u(0.85, 1.0))
        return Material(SOLID, c, emit=self.u(0.8, 1.4))

    def bulb(self) -> Material:
        return Material(SOLID, hsv(0.12, 0.1, 1.0), emit=2.0)

    def rug(self) -> Material:
        r = self.u(0, 1)
        c1 = hsv(self.u(0, 1), self.u(0.3, 0.7), self.u(0.35, 0.8))
        c2 = hsv(self.u(0, 1), self.u(0.2, 0.6), self.u(0.2, 0.9))
        if r < 0.35:
            return Material(STRIPES, c1, c2, period=self.u(0.15, 0.4), aux=float(r < 0.2))
        if r < 0.6:
            return Material(CHECKER, c1, c2, period=self.u(0.2, 0.45))
        c3 = hsv(self.u(0, 1), self.u(0.3, 0.8), self.u(0.3, 0.9))
        return Material(PAINTING, c1, c2, c3, period=self.u(0.2, 0.5))

    def sky(self) -> Material:
        c1 = hsv(self.u(0.53, 0.6), self.u(0.1, 0.25), self.u(0.85, 1.0))  # near the horizon
        c2 = hsv(self.u(0.56, 0.62), self.u(0.35, 0.6), self.u(0.7, 0.9))  # higher up
        return Material(SKY, c1, c2, period=1.2, emit=self.u(0.7, 0.9), valid=False)

    def trim(self) -> Material:
        r = self.u(0, 1)
        return self.white() if r < 0.5 else (self.wood() if r < 0.8 else self.dark())

    def screen(self) -> Material:
        c1 = hsv(self.u(0.55, 0.7), self.u(0.3, 0.7), self.u(0.1, 0.3))
        c2 = hsv(self.u(0, 1), self.u(0.3, 0.7), self.u(0.2, 0.5))
        return Material(SKY, c1, c2, period=0.6, emit=0.4)

    def painting(self) -> Material:
        cs = [hsv(self.u(0, 1), self.u(0.3, 0.9), self.u(0.3, 0.95)) for _ in range(3)]
        return Material(PAINTING, cs[0], cs[1], cs[2], period=self.u(0.12, 0.3))

    def stone(self) -> Material:
        c = hsv(self.u(0, 1), self.u(0, 0.15), self.u(0.2, 0.85))
        return Material(NOISE, c, _shade(c, 0.75), period=self.u(0.05, 0.12))

    def slot(self, name: str) -> Material:
        """A material for a named slot of an object model."""
        table: dict[str, Callable[[], Material]] = {
            "wood": self.wood,
            "fabric": self.fabric,
            "white": self.white,
            "metal": self.metal,
            "dark": self.dark,
            "ceramic": self.ceramic,
            "leaf": self.leaf,
            "pot": self.pot,
            "soil": self.soil,
            "book": self.book,
            "shade": self.shade,
            "bulb": self.bulb,
            "sky": self.sky,
            "screen": self.screen,
            "painting": self.painting,
            "stone": self.stone,
            "paint": self.paint,
            "trim": self.trim,
            "rug": self.rug,
        }
        return table[name]()
