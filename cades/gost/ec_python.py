"""Pure-Python GOST R 34.10-2012 / 2001 signatures.

The fallback where OpenSSL's gost engine is missing (a Windows agent) and the oracle the OpenSSL backend
is cross-checked against.  Speed matters because a server verifies every uploaded signature:

* points are kept in Jacobian coordinates, so no modular inversion happens inside the scalar loop;
* verification computes u1*G + u2*Q in one pass (Straus-Shamir interleaving) over width-w NAF digits,
  with the generator's odd multiples precomputed once per curve (affine, cached) and Q's per call;
* signing uses a fixed-base table (j * 16^i * G for every 4-bit window), so k*G costs only additions;
* ``gmpy2.mpz`` is used for the field arithmetic when it is importable (cades must work without it).

Scalars and coordinates are plain integers at the API boundary.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from cades.gost.curves import Curve

try:  # gmpy2 is optional: it makes field arithmetic roughly twice as fast for 512-bit curves.
    import gmpy2 as _gmpy2
except ImportError:  # pragma: no cover - depends on the environment
    _gmpy2 = None

__all__ = ["gmpy2_available", "verify", "sign", "public_key", "scalar_mult_base", "use_gmpy2_default"]

# Jacobian point: (X, Y, Z) with affine x = X/Z^2, y = Y/Z^3; Z == 0 is the point at infinity.
Jacobian = tuple[Any, Any, Any]
Affine = tuple[Any, Any]

_G_WINDOW = 7  # width of the generator's NAF table (2^(w-2) = 32 odd multiples)
_Q_WINDOW = 5  # width for the per-call public key table (8 odd multiples)
_FIXED_BASE_BITS = 4  # fixed-base window for k*G when signing


def gmpy2_available() -> bool:
    return _gmpy2 is not None


def gmpy2_version() -> str | None:
    return str(_gmpy2.version()) if _gmpy2 is not None else None


def use_gmpy2_default() -> bool:
    """gmpy2 unless KLIKDOK_GOST_GMPY2=0 says otherwise (benchmarks compare both)."""
    return _gmpy2 is not None and os.environ.get("KLIKDOK_GOST_GMPY2", "1") != "0"


def _wnaf(k: int, w: int) -> list[int]:
    """Width-w non-adjacent form, least significant digit first; digits are odd and |d| < 2^(w-1)."""
    digits: list[int] = []
    full = 1 << w
    half = 1 << (w - 1)
    while k:
        if k & 1:
            d = k & (full - 1)
            if d >= half:
                d -= full
            k -= d
        else:
            d = 0
        digits.append(d)
        k >>= 1
    return digits


class _CurveMath:
    """Field and group arithmetic for one curve, with its cached generator tables."""

    def __init__(self, curve: Curve, gmp: bool) -> None:
        self.curve = curve
        self.gmp = gmp
        conv: Callable[[int], Any] = _gmpy2.mpz if gmp else int
        self.conv = conv
        self.p = conv(curve.p)
        self.a = conv(curve.a)
        self.a_is_minus_3 = (curve.a + 3) % curve.p == 0
        self._lock = threading.Lock()
        self._g_naf: list[Affine] | None = None
        self._g_fixed: list[list[Affine]] | None = None

    # --- field -----------------------------------------------------------------------------------
    def inv(self, v: Any) -> Any:
        if self.gmp:
            return _gmpy2.invert(v, self.p)
        return pow(v, -1, self.p)

    # --- group -----------------------------------------------------------------------------------
    def dbl(self, pt: Jacobian) -> Jacobian:
        x, y, z = pt
        if not z or not y:
            return (1, 1, 0)
        p = self.p
        yy = y * y % p
        s = 4 * x * yy % p
        zz = z * z % p
        if self.a_is_minus_3:
            m = 3 * (x - zz) * (x + zz) % p
        else:
            m = (3 * x * x + self.a * zz * zz) % p
        x3 = (m * m - 2 * s) % p
        y3 = (m * (s - x3) - 8 * yy * yy) % p
        z3 = 2 * y * z % p
        return (x3, y3, z3)

    def add_affine(self, pt: Jacobian, x2: Any, y2: Any) -> Jacobian:
        """Jacobian + affine ("mixed") addition: 8M + 3S, the common case in both scalar loops."""
        x1, y1, z1 = pt
        if not z1:
            return (x2, y2, 1)
        p = self.p
        z1z1 = z1 * z1 % p
        h = (x2 * z1z1 - x1) % p
        r = (y2 * z1 * z1z1 - y1) % p
        if not h:
            if not r:
                return self.dbl(pt)
            return (1, 1, 0)
        hh = h * h % p
        hhh = h * hh % p
        v = x1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        y3 = (r * (v - x3) - y1 * hhh) % p
        return (x3, y3, z1 * h % p)

    def add(self, p1: Jacobian, p2: Jacobian) -> Jacobian:
        x1, y1, z1 = p1
        x2, y2, z2 = p2
        if not z1:
            return p2
        if not z2:
            return p1
        p = self.p
        z1z1 = z1 * z1 % p
        z2z2 = z2 * z2 % p
        u1 = x1 * z2z2 % p
        u2 = x2 * z1z1 % p
        s1 = y1 * z2 * z2z2 % p
        s2 = y2 * z1 * z1z1 % p
        h = (u2 - u1) % p
        r = (s2 - s1) % p
        if not h:
            if not r:
                return self.dbl(p1)
            return (1, 1, 0)
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        y3 = (r * (v - x3) - s1 * hhh) % p
        return (x3, y3, z1 * z2 * h % p)

    def to_affine_many(self, pts: list[Jacobian]) -> list[Affine]:
        """Batch conversion with a single inversion (Montgomery's trick); no point may be infinity."""
        p = self.p
        prefix = []
        acc = self.conv(1)
        for _, _, z in pts:
            prefix.append(acc)
            acc = acc * z % p
        inv_acc = self.inv(acc)
        out: list[Affine] = [(0, 0)] * len(pts)
        for i in range(len(pts) - 1, -1, -1):
            x, y, z = pts[i]
            zi = inv_acc * prefix[i] % p
            inv_acc = inv_acc * z % p
            zi2 = zi * zi % p
            out[i] = (x * zi2 % p, y * zi2 * zi % p)
        return out

    def to_affine(self, pt: Jacobian) -> Affine | None:
        x, y, z = pt
        if not z:
            return None
        p = self.p
        zi = self.inv(z)
        zi2 = zi * zi % p
        return (int(x * zi2 % p), int(y * zi2 * zi % p))

    def odd_multiples(self, x: Any, y: Any, w: int) -> list[Affine]:
        """[1P, 3P, 5P, ..., (2^(w-1) - 1)P] in affine coordinates."""
        base: Jacobian = (x, y, self.conv(1))
        twice = self.dbl(base)
        pts = [base]
        for _ in range((1 << (w - 2)) - 1):
            pts.append(self.add(pts[-1], twice))
        return self.to_affine_many(pts)

    # --- cached generator tables -----------------------------------------------------------------
    def g_naf_table(self) -> list[Affine]:
        table = self._g_naf
        if table is None:
            with self._lock:
                if self._g_naf is None:
                    c = self.curve
                    self._g_naf = self.odd_multiples(self.conv(c.x), self.conv(c.y), _G_WINDOW)
                table = self._g_naf
        return table

    def g_fixed_table(self) -> list[list[Affine]]:
        """table[i][j - 1] = j * 2^(4 i) * G for j in 1..15, covering every window of a scalar < 2^bits."""
        table = self._g_fixed
        if table is None:
            with self._lock:
                if self._g_fixed is None:
                    self._g_fixed = self._build_fixed()
                table = self._g_fixed
        return table

    def _build_fixed(self) -> list[list[Affine]]:
        c = self.curve
        width = 1 << _FIXED_BASE_BITS
        windows = (c.q.bit_length() + _FIXED_BASE_BITS - 1) // _FIXED_BASE_BITS
        flat: list[Jacobian] = []
        base: Jacobian = (self.conv(c.x), self.conv(c.y), self.conv(1))
        for _ in range(windows):
            row = [base]
            for _ in range(width - 2):
                row.append(self.add(row[-1], base))
            flat.extend(row)
            # next window's base = 2^4 * base = 16 * base, which is row[-1] + base
            base = self.add(row[-1], base)
        affine = self.to_affine_many(flat)
        step = width - 1
        return [affine[i : i + step] for i in range(0, len(affine), step)]

    # --- scalar multiplication -------------------------------------------------------------------
    def mul_base(self, k: int) -> Jacobian:
        """k * G with the fixed-base table: one mixed addition per non-zero 4-bit window."""
        table = self.g_fixed_table()
        acc: Jacobian = (1, 1, 0)
        mask = (1 << _FIXED_BASE_BITS) - 1
        i = 0
        while k:
            d = k & mask
            if d:
                x, y = table[i][d - 1]
                acc = self.add_affine(acc, x, y)
            k >>= _FIXED_BASE_BITS
            i += 1
        return acc

    def mul_double(self, u1: int, u2: int, qx: Any, qy: Any) -> Jacobian:
        """u1 * G + u2 * Q in one doubling chain (Straus-Shamir over wNAF digits).

        The doubling and mixed addition are written inline with plain locals because this loop is all
        of a verification's cost (the gain is small, ~2-5%: big-integer products and reductions dominate).
        """
        g_table = self.g_naf_table()
        q_table = self.odd_multiples(qx, qy, _Q_WINDOW) if u2 else []
        p = self.p
        naf1 = _wnaf(u1, _G_WINDOW)
        naf2 = _wnaf(u2, _Q_WINDOW)
        n = max(len(naf1), len(naf2))
        # adds[i]: the affine points (sign already applied) to add after the doubling at bit i
        adds: list[list[Affine]] = [[] for _ in range(n)]
        for naf, table in ((naf1, g_table), (naf2, q_table)):
            for i, d in enumerate(naf):
                if d > 0:
                    adds[i].append(table[d >> 1])
                elif d < 0:
                    x, y = table[(-d) >> 1]
                    adds[i].append((x, p - y))
        a_minus_3 = self.a_is_minus_3
        a = self.a
        X, Y, Z = self.conv(1), self.conv(1), self.conv(0)
        for i in range(n - 1, -1, -1):
            if Z:
                # doubling, "dbl-2001-b" shape: 3M + 5S
                delta = Z * Z % p
                gamma = Y * Y % p
                beta = X * gamma % p
                if a_minus_3:
                    alpha = 3 * (X - delta) * (X + delta) % p
                else:
                    alpha = (3 * X * X + a * delta * delta) % p
                X3 = (alpha * alpha - 8 * beta) % p
                Z = ((Y + Z) * (Y + Z) - gamma - delta) % p
                Y = (alpha * (4 * beta - X3) - 8 * gamma * gamma) % p
                X = X3
                if not Z:  # reached the point at infinity (only for multiples of the order)
                    X, Y = self.conv(1), self.conv(1)
            for x2, y2 in adds[i]:
                if not Z:
                    X, Y, Z = x2, y2, self.conv(1)
                    continue
                z1z1 = Z * Z % p
                h = (x2 * z1z1 - X) % p
                r = (y2 * Z * z1z1 - Y) % p
                if not h:
                    if r:
                        X, Y, Z = self.conv(1), self.conv(1), self.conv(0)
                    else:
                        X, Y, Z = self.dbl((X, Y, Z))
                    continue
                hh = h * h % p
                hhh = h * hh % p
                v = X * hh % p
                X3 = (r * r - hhh - 2 * v) % p
                Y = (r * (v - X3) - Y * hhh) % p
                Z = Z * h % p
                X = X3
        return (X, Y, Z)

    def on_curve(self, x: int, y: int) -> bool:
        c = self.curve
        return 0 <= x < c.p and 0 <= y < c.p and (y * y - (x * x + c.a) * x - c.b) % c.p == 0


@lru_cache(maxsize=64)
def _math(curve: Curve, gmp: bool) -> _CurveMath:
    return _CurveMath(curve, gmp)


def _resolve_gmp(gmp: bool | None) -> bool:
    if gmp is None:
        return use_gmpy2_default()
    return gmp and _gmpy2 is not None


def digest_to_e(digest: bytes, q: int) -> int:
    """e = digest read as a little-endian integer, mod q; 0 becomes 1 (GOST R 34.10-2012, 6.1 step 3)."""
    e = int.from_bytes(digest, "little") % q
    return e or 1


def verify(curve: Curve, qx: int, qy: int, digest: bytes, signature: bytes, gmp: bool | None = None) -> bool:
    """Check a GOST R 34.10 signature s||r (big-endian halves) over a digest; never raises for bad input."""
    size = curve.size
    if len(signature) != 2 * size or len(digest) != size:
        return False
    s = int.from_bytes(signature[:size], "big")
    r = int.from_bytes(signature[size:], "big")
    q = curve.q
    if not (0 < r < q and 0 < s < q):
        return False
    m = _math(curve, _resolve_gmp(gmp))
    if not m.on_curve(qx, qy):
        return False
    e = digest_to_e(digest, q)
    v = pow(e, -1, q)
    z1 = s * v % q
    z2 = (q - r) * v % q
    point = m.mul_double(z1, z2, m.conv(qx), m.conv(qy))
    aff = m.to_affine(point)
    if aff is None:
        return False
    return aff[0] % q == r


def sign(curve: Curve, private_key: int, digest: bytes, k: int | None = None, gmp: bool | None = None) -> bytes:
    """Make s||r (big-endian halves). k is for known-answer tests only; normally it is drawn at random."""
    q = curve.q
    if not 0 < private_key < q:
        raise ValueError("private key out of range")
    if len(digest) != curve.size:
        raise ValueError(f"a {curve.bits}-bit key signs a {curve.size}-byte digest, got {len(digest)} bytes")
    m = _math(curve, _resolve_gmp(gmp))
    e = digest_to_e(digest, q)
    while True:
        nonce = k if k is not None else secrets.randbelow(q - 1) + 1
        if not 0 < nonce < q:
            raise ValueError("k out of range")
        aff = m.to_affine(m.mul_base(nonce))
        if aff is None:  # cannot happen for 0 < k < q, but never sign with r = 0
            raise ValueError("k * G is the point at infinity")
        r = aff[0] % q
        s = (r * private_key + nonce * e) % q
        if r and s:
            size = curve.size
            return s.to_bytes(size, "big") + r.to_bytes(size, "big")
        if k is not None:
            raise ValueError("the given k yields r = 0 or s = 0")


def scalar_mult_base(curve: Curve, k: int, gmp: bool | None = None) -> tuple[int, int] | None:
    """k * G in affine coordinates (None for the point at infinity)."""
    m = _math(curve, _resolve_gmp(gmp))
    return m.to_affine(m.mul_base(k % curve.q)) if k % curve.q else None


def public_key(curve: Curve, private_key: int, gmp: bool | None = None) -> tuple[int, int]:
    """Q = d * G."""
    if not 0 < private_key < curve.q:
        raise ValueError("private key out of range")
    point = scalar_mult_base(curve, private_key, gmp)
    assert point is not None
    return point


def scalar_mult(curve: Curve, k: int, x: int, y: int, gmp: bool | None = None) -> tuple[int, int] | None:
    """k * P for any point P (no reduction of k: used to check orders such as q * G = O)."""
    m = _math(curve, _resolve_gmp(gmp))
    if k == 0:
        return None
    return m.to_affine(m.mul_double(0, k, m.conv(x), m.conv(y)))
