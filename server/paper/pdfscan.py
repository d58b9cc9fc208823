"""Where a PDF page has ink: the boxes its content stream paints, in the page's displayed space.

The stamped copy puts the marks in a free area at the bottom of the last page, so it has to know where the page's
own text, images and drawings are without rendering it (no poppler or Ghostscript on a server). A small
interpreter walks the content stream with pypdf's parser and keeps a conservative box for each thing that paints:
text runs (glyph widths from the font's /Widths or /W, else a wide guess), paths when they are stroked or filled,
images, inline images, shadings (the clip they fill), form XObjects (recursively, clipped to their /BBox), and the
page's visible annotations. A box may be larger than the ink, never smaller; the only thing ignored is a white fill
over the whole page (a background, which some generators paint first). Boxes are returned in the displayed space
(the CropBox turned by /Rotate, origin bottom-left, y up) because "the bottom of the page" is what the reader sees.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from pypdf import PageObject
from pypdf.generic import ArrayObject, ContentStream, DictionaryObject, IndirectObject, StreamObject

Matrix = tuple[float, float, float, float, float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 with x0 <= x1, y0 <= y1

IDENTITY: Final[Matrix] = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
MAX_FORM_DEPTH: Final = 12  # nested form XObjects followed; deeper ones count as their whole /BBox
MAX_OPERATIONS: Final = 2_000_000  # a hostile stream beyond this counts as covering the whole page
# A glyph's box in text space (em): from below the baseline (descenders) to above the cap height (accents).
DESCENT_EM: Final = -0.3
ASCENT_EM: Final = 1.0
UNKNOWN_WIDTH_EM: Final = 1.0  # a glyph whose width the font does not give (standard 14 fonts): assume wide

PAINT_OPS: Final = frozenset({b"S", b"s", b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*"})
STROKE_OPS: Final = frozenset({b"S", b"s", b"B", b"B*", b"b", b"b*"})
FILL_OPS: Final = frozenset({b"f", b"F", b"f*", b"B", b"B*", b"b", b"b*"})
SHOW_OPS: Final = frozenset({b"Tj", b"TJ", b"'", b'"'})


class TooComplex(Exception):
    """The page is beyond what is worth reading: the caller treats it as full."""


def multiply(m1: Matrix, m2: Matrix) -> Matrix:
    """``m1`` then ``m2`` (PDF's row-vector convention: a point is transformed by m1, then by m2)."""
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def apply(m: Matrix, x: float, y: float) -> tuple[float, float]:
    return m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]


def box_of(points: Iterable[tuple[float, float]]) -> Box | None:
    xs: list[float] = []
    ys: list[float] = []
    for x, y in points:
        xs.append(x)
        ys.append(y)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def transform_box(m: Matrix, box: Box) -> Box:
    x0, y0, x1, y1 = box
    found = box_of(apply(m, x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)))
    assert found is not None
    return found


def intersect(a: Box | None, b: Box | None) -> Box | None:
    """The common part of two boxes; None stands for "no limit" on either side, an empty result is a zero box."""
    if a is None:
        return b
    if b is None:
        return a
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    if x1 < x0 or y1 < y0:
        return (x0, y0, x0, y0)
    return x0, y0, x1, y1


def number(value: Any, default: float = 0.0) -> float:
    """A PDF operand or entry as a float (an indirect one resolved); anything else (a broken file) as ``default``."""
    if isinstance(value, IndirectObject):
        value = value.get_object()
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


def matrix_of(values: Any) -> Matrix | None:
    try:
        six = tuple(number(v) for v in list(values)[:6])
    except TypeError:
        return None
    return six if len(six) == 6 else None


# --- the page's geometry -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Geometry:
    """The visible part of a page (CropBox within MediaBox) and its /Rotate: how default user space maps to the
    displayed page (``to_display``) and back (``to_user``); ``width``/``height`` are the displayed size in points."""

    crop: Box
    rotation: int

    @property
    def width(self) -> float:
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        return h if self.rotation in (90, 270) else w

    @property
    def height(self) -> float:
        w, h = self.crop[2] - self.crop[0], self.crop[3] - self.crop[1]
        return w if self.rotation in (90, 270) else h

    @property
    def to_user(self) -> Matrix:
        """Displayed space (origin bottom-left of what the reader sees) to the page's default user space."""
        x0, y0, x1, y1 = self.crop
        w, h = x1 - x0, y1 - y0
        return {
            0: (1.0, 0.0, 0.0, 1.0, x0, y0),
            90: (0.0, 1.0, -1.0, 0.0, x0 + w, y0),
            180: (-1.0, 0.0, 0.0, -1.0, x0 + w, y0 + h),
            270: (0.0, -1.0, 1.0, 0.0, x0, y0 + h),
        }[self.rotation]

    @property
    def to_display(self) -> Matrix:
        x0, y0, x1, y1 = self.crop
        w, h = x1 - x0, y1 - y0
        return {
            0: (1.0, 0.0, 0.0, 1.0, -x0, -y0),
            90: (0.0, -1.0, 1.0, 0.0, -y0, x0 + w),
            180: (-1.0, 0.0, 0.0, -1.0, x0 + w, y0 + h),
            270: (0.0, 1.0, -1.0, 0.0, y0 + h, -x0),
        }[self.rotation]


def geometry(page: PageObject) -> Geometry:
    """The page's visible box and rotation, normalised (a CropBox outside the MediaBox is cut to it)."""
    media = _box(page.get("/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = intersect(_box(page.get("/CropBox")) or media, media)
    assert crop is not None
    if crop[2] - crop[0] < 1 or crop[3] - crop[1] < 1:
        crop = media
    try:
        rotation = int(number(page.get("/Rotate", 0))) % 360
    except (TypeError, ValueError):
        rotation = 0
    rotation = rotation - rotation % 90
    return Geometry(crop=crop, rotation=rotation)


def _box(value: Any) -> Box | None:
    if value is None:
        return None
    try:
        items = [number(v) for v in value.get_object()]
    except (TypeError, AttributeError):
        return None
    if len(items) != 4:
        return None
    x0, y0, x1, y1 = items
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


# --- fonts: how wide a shown string is -------------------------------------------------------------------------------


@dataclass
class FontMetrics:
    """Just enough of a font resource to measure a string: byte width of a code and each code's width (em)."""

    two_byte: bool = False
    widths: dict[int, float] = field(default_factory=dict)
    default: float = UNKNOWN_WIDTH_EM

    def codes(self, data: bytes) -> Iterator[int]:
        if self.two_byte:
            for i in range(0, len(data) - 1, 2):
                yield data[i] << 8 | data[i + 1]
        else:
            yield from data

    def width(self, code: int) -> float:
        return self.widths.get(code, self.default)


def font_metrics(font: Any) -> FontMetrics:
    try:
        font = font.get_object()
        subtype = font.get("/Subtype")
        if subtype == "/Type0":
            descendant = font["/DescendantFonts"].get_object()[0].get_object()
            metrics = FontMetrics(two_byte=True, default=number(descendant.get("/DW", 1000), 1000) / 1000)
            _cid_widths(descendant.get("/W"), metrics.widths)
            return metrics
        scale = 1 / 1000
        if subtype == "/Type3":
            font_matrix = matrix_of(font.get("/FontMatrix") or ())
            scale = abs(font_matrix[0]) if font_matrix else scale
        metrics = FontMetrics()
        first = int(number(font.get("/FirstChar", 0)))
        widths = font.get("/Widths")
        if widths is not None:
            for i, w in enumerate(widths.get_object()):
                metrics.widths[first + i] = abs(number(w) * scale)
        descriptor = font.get("/FontDescriptor")
        if descriptor is not None and "/MissingWidth" in descriptor.get_object():
            metrics.default = max(abs(number(descriptor.get_object()["/MissingWidth"]) * scale), 0.0) or metrics.default
        return metrics
    except (KeyError, IndexError, TypeError, AttributeError, ValueError):
        return FontMetrics()


def _cid_widths(w: Any, into: dict[int, float]) -> None:
    """A CIDFont's /W array: ``c [w1 w2 ...]`` or ``c_first c_last w`` runs."""
    if w is None:
        return
    items = list(w.get_object())
    i = 0
    while i < len(items) and len(into) < 70_000:
        first = int(number(items[i]))
        nxt = items[i + 1].get_object() if i + 1 < len(items) else None
        if isinstance(nxt, ArrayObject):
            for k, value in enumerate(nxt):
                into[first + k] = abs(number(value)) / 1000
            i += 2
        elif i + 2 < len(items):
            last = min(int(number(nxt)), first + 70_000)
            value = abs(number(items[i + 2])) / 1000
            for code in range(first, last + 1):
                into[code] = value
            i += 3
        else:
            break


# --- the interpreter ------------------------------------------------------------------------------------------------


@dataclass
class _State:
    ctm: Matrix = IDENTITY
    clip: Box | None = None  # user space; None: the whole page
    line_width: float = 1.0
    fill_white: bool = False
    font: FontMetrics = field(default_factory=FontMetrics)
    font_size: float = 0.0
    char_spacing: float = 0.0
    word_spacing: float = 0.0
    scale: float = 1.0
    leading: float = 0.0
    rise: float = 0.0

    def copy(self) -> _State:
        return _State(**self.__dict__)


class _Scanner:
    def __init__(self, page_box: Box, pdf: Any) -> None:
        self.page_box = page_box
        self.pdf = pdf
        self.boxes: list[Box] = []
        self.operations = 0
        self.fonts: dict[int, FontMetrics] = {}

    def add(self, state: _State, box: Box | None) -> None:
        box = intersect(box, state.clip)
        if box is not None and box[2] > box[0] - 1e-9 and box[3] > box[1] - 1e-9:
            self.boxes.append(box)

    def metrics(self, font: Any) -> FontMetrics:
        key = id(font.get_object()) if font is not None else 0
        if key not in self.fonts:
            self.fonts[key] = font_metrics(font) if font is not None else FontMetrics()
        return self.fonts[key]

    def run(self, content: Any, resources: Any, state: _State, depth: int, seen: frozenset[int]) -> None:
        resources = resources.get_object() if resources is not None else DictionaryObject()
        if not isinstance(resources, DictionaryObject):
            resources = DictionaryObject()
        stack: list[_State] = []
        path: list[tuple[float, float]] = []
        clipping = False
        text_m = line_m = IDENTITY
        for operands, op in content.operations:
            self.operations += 1
            if self.operations > MAX_OPERATIONS:
                raise TooComplex
            if op == b"q":
                stack.append(state.copy())
            elif op == b"Q":
                if stack:
                    state = stack.pop()
            elif op == b"cm":
                m = matrix_of(operands)
                if m is not None:
                    state.ctm = multiply(m, state.ctm)
            elif op == b"w" and operands:
                state.line_width = abs(number(operands[0], 1.0))
            # paths: kept in user space (the CTM cannot change while one is built)
            elif op in (b"m", b"l") and len(operands) >= 2:
                path.append(apply(state.ctm, number(operands[0]), number(operands[1])))
            elif op in (b"c", b"v", b"y") and len(operands) >= 4:
                values = [number(v) for v in operands]
                for i in range(0, len(values) - 1, 2):
                    path.append(apply(state.ctm, values[i], values[i + 1]))
            elif op == b"re" and len(operands) >= 4:
                x, y, w, h = (number(v) for v in operands[:4])
                path.extend(apply(state.ctm, px, py) for px, py in ((x, y), (x + w, y), (x, y + h), (x + w, y + h)))
            elif op in (b"W", b"W*"):
                clipping = True
            elif op in PAINT_OPS or op == b"n":
                box = box_of(path)
                if box is not None and op != b"n":
                    if op in STROKE_OPS:
                        grow = state.line_width * math.sqrt(
                            abs(state.ctm[0] * state.ctm[3] - state.ctm[1] * state.ctm[2])
                        )
                        grow = max(grow / 2, 0.5)
                        box = (box[0] - grow, box[1] - grow, box[2] + grow, box[3] + grow)
                    if not (op in FILL_OPS and op not in STROKE_OPS and state.fill_white and self.is_background(box)):
                        self.add(state, box)
                if clipping:  # W/W* takes effect once the path is ended
                    state.clip = intersect(state.clip, box if box is not None else (0.0, 0.0, 0.0, 0.0))
                    clipping = False
                path = []
            # colour: only "is the fill white" matters (a white page background is not content)
            elif op == b"g" and operands:
                state.fill_white = number(operands[0]) >= 0.999
            elif op == b"rg" and len(operands) >= 3:
                state.fill_white = all(number(v) >= 0.999 for v in operands[:3])
            elif op == b"k" and len(operands) >= 4:
                state.fill_white = all(number(v) <= 0.001 for v in operands[:4])
            elif op in (b"cs", b"sc", b"scn"):
                state.fill_white = False
            # text
            elif op == b"BT":
                text_m = line_m = IDENTITY
            elif op == b"Tf" and len(operands) >= 2:
                fonts = resources.get("/Font")
                fonts = fonts.get_object() if fonts is not None else None
                font = fonts.get(operands[0]) if isinstance(fonts, DictionaryObject) else None
                state.font = self.metrics(font)
                state.font_size = number(operands[1])
            elif op == b"Tc" and operands:
                state.char_spacing = number(operands[0])
            elif op == b"Tw" and operands:
                state.word_spacing = number(operands[0])
            elif op == b"Tz" and operands:
                state.scale = number(operands[0], 100.0) / 100
            elif op == b"TL" and operands:
                state.leading = number(operands[0])
            elif op == b"Ts" and operands:
                state.rise = number(operands[0])
            elif op in (b"Td", b"TD") and len(operands) >= 2:
                tx, ty = number(operands[0]), number(operands[1])
                if op == b"TD":
                    state.leading = -ty
                line_m = text_m = multiply((1.0, 0.0, 0.0, 1.0, tx, ty), line_m)
            elif op == b"Tm":
                m = matrix_of(operands)
                if m is not None:
                    line_m = text_m = m
            elif op == b"T*":
                line_m = text_m = multiply((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), line_m)
            elif op in SHOW_OPS:
                if op in (b"'", b'"'):
                    if op == b'"' and len(operands) >= 3:
                        state.word_spacing, state.char_spacing = number(operands[0]), number(operands[1])
                    line_m = text_m = multiply((1.0, 0.0, 0.0, 1.0, 0.0, -state.leading), line_m)
                parts = operands[0] if op == b"TJ" and operands else operands[-1:] if operands else []
                text_m = self.show(state, text_m, parts)
            elif op == b"Do" and operands:
                self.draw_xobject(resources, operands[0], state, depth, seen)
            elif op == b"INLINE IMAGE":
                self.add(state, transform_box(state.ctm, (0.0, 0.0, 1.0, 1.0)))
            elif op == b"sh":
                self.add(state, state.clip or self.page_box)

    def is_background(self, box: Box) -> bool:
        """A white fill over (nearly) the whole page: paper colour, not content."""
        px0, py0, px1, py1 = self.page_box
        return box[0] <= px0 + 2 and box[1] <= py0 + 2 and box[2] >= px1 - 2 and box[3] >= py1 - 2

    def show(self, state: _State, text_m: Matrix, parts: Any) -> Matrix:
        """Add the box of one text-showing operation; returns the text matrix after it (advanced by its width)."""
        size = state.font_size
        advance = 0.0
        items = parts if isinstance(parts, list) else [parts]
        for item in items:
            if isinstance(item, (bytes, str)):
                data = item.encode("latin-1", "replace") if isinstance(item, str) else bytes(item)
                if hasattr(item, "original_bytes"):
                    data = item.original_bytes
                for code in state.font.codes(data):
                    advance += state.font.width(code) * size + state.char_spacing
                    if code == 32 and not state.font.two_byte:
                        advance += state.word_spacing
            else:
                advance -= number(item) / 1000 * size
        advance *= state.scale
        height_box = (
            min(0.0, advance),
            DESCENT_EM * abs(size) + state.rise,
            max(0.0, advance),
            ASCENT_EM * abs(size) + state.rise,
        )
        self.add(state, transform_box(multiply(text_m, state.ctm), height_box))
        return multiply((1.0, 0.0, 0.0, 1.0, advance, 0.0), text_m)

    def draw_xobject(
        self, resources: DictionaryObject, name: Any, state: _State, depth: int, seen: frozenset[int]
    ) -> None:
        xobjects = resources.get("/XObject")
        xobjects = xobjects.get_object() if xobjects is not None else None
        if not isinstance(xobjects, DictionaryObject) or name not in xobjects:
            return
        xobject = xobjects[name].get_object()
        if not isinstance(xobject, StreamObject):
            return
        if xobject.get("/Subtype") != "/Form":
            self.add(state, transform_box(state.ctm, (0.0, 0.0, 1.0, 1.0)))
            return
        inner = state.copy()
        m = matrix_of(xobject.get("/Matrix") or IDENTITY) or IDENTITY
        inner.ctm = multiply(m, state.ctm)
        bbox = _box(xobject.get("/BBox"))
        if bbox is not None:
            inner.clip = intersect(state.clip, transform_box(inner.ctm, bbox))
        key = id(xobject)
        if depth >= MAX_FORM_DEPTH or key in seen:
            self.add(state, inner.clip or self.page_box)
            return
        try:
            content = ContentStream(xobject, self.pdf)
            self.run(content, xobject.get("/Resources") or resources, inner, depth + 1, seen | {key})
        except TooComplex:
            raise
        except Exception:  # a broken form: its whole box is taken, as if it were full
            self.add(state, inner.clip or self.page_box)


def ink_boxes(page: PageObject) -> tuple[Geometry, list[Box]]:
    """The page's geometry and the display-space boxes of everything it shows (clipped to the visible page).

    Raises TooComplex for a page not worth reading to the end (the caller treats the page as full)."""
    geo = geometry(page)
    scanner = _Scanner(geo.crop, page.pdf)
    contents = page.get_contents()
    if contents is not None:
        scanner.run(contents, page.get("/Resources"), _State(), 0, frozenset())
    for annotation in _visible_annotations(page):
        scanner.boxes.append(annotation)
    result: list[Box] = []
    for box in scanner.boxes:
        visible = intersect(box, geo.crop)
        if visible is None or (visible[2] - visible[0] <= 0 and visible[3] - visible[1] <= 0):
            continue
        result.append(transform_box(geo.to_display, visible))
    return geo, result


def _visible_annotations(page: PageObject) -> Iterator[Box]:
    annotations = page.get("/Annots")
    if annotations is None:
        return
    try:
        items = list(annotations.get_object())
    except TypeError:
        return
    for item in items:
        try:
            annotation = item.get_object()
            flags = int(number(annotation.get("/F", 0)))
            if flags & (2 | 32) or annotation.get("/Subtype") == "/Popup":  # Hidden, NoView
                continue
            box = _box(annotation.get("/Rect"))
        except (AttributeError, TypeError):
            continue
        if box is not None:
            yield box
