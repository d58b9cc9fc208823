"""Structure-aware mutations for the fuzz harness: ASN.1 DER, XML, PHP-style forms, JSON, multipart bodies.

Plain byte flips mostly produce input the first length check refuses, so the code behind it is never reached.
Each mutator here knows its format well enough to keep the outer layers intact while it damages an inner one
(an ASN.1 value deep in a certificate, a field of a JSON-RPC call, one part of a multipart body), and also
knows the classic hostile forms of that format (entity bombs, deep nesting, huge lengths). Every mutator is a
pure function of ``(rng, data, seeds)``, so a finding is reproduced from the seed number alone.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

Mutator = Callable[[random.Random, bytes, Sequence[bytes]], bytes]

INTERESTING_INTS = [0, 1, -1, 127, 128, 255, 256, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63, -(2**63), 10**30]
INTERESTING_TEXT = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "null",
    "true",
    "[]",
    "{}",
    "%00",
    "\x00",
    "\ud800",
    "А" * 300,
    "x" * 70_000,
    "../../etc/passwd",
    "<script>alert(1)</script>",
    '{"ID":"1"}',
    '{"ID":-5}',
    '{"ID":"1e999"}',
    '{"ID":[1]}',
    '{"ID":' + "[" * 5000 + "]" * 5000 + "}",
    "9" * 5000,
    "2026-02-30",
]


# --- bytes ------------------------------------------------------------------------------------------------


def havoc(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """Format-blind edits (flip, set, insert, delete, truncate, duplicate, splice): the fallback every format
    also gets now and then, because the byte level is where framing bugs live."""
    buf = bytearray(data)
    for _ in range(1 + rng.randrange(4)):
        if not buf:
            buf += bytes([rng.randrange(256)])
            continue
        i = rng.randrange(len(buf))
        op = rng.randrange(8)
        if op == 0:
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            buf[i] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:
            buf[i:i] = bytes(rng.randrange(256) for _ in range(1 + rng.randrange(8)))
        elif op == 3:
            del buf[i : i + 1 + rng.randrange(16)]
        elif op == 4:
            del buf[i:]
        elif op == 5:
            j = min(len(buf), i + 1 + rng.randrange(64))
            buf[i:i] = buf[i:j]
        elif op == 6 and seeds:
            other = rng.choice(seeds)
            if other:
                k = rng.randrange(len(other))
                buf[i:] = other[k:]
        else:
            buf[i:i] = buf[i : i + 1] * rng.choice((2, 100, 5000))
    return bytes(buf)


# --- ASN.1 DER --------------------------------------------------------------------------------------------


@dataclass
class Node:
    """One TLV: identifier octets, then either primitive contents or children (also for an OCTET/BIT STRING
    that wraps DER, as extnValue, eContent and OCSP responseBytes do: ``prefix`` is the unused-bits octet)."""

    tag: bytes
    content: bytes = b""
    children: list[Node] | None = None
    prefix: bytes = b""
    length_form: str = "der"  # "der", "long" (non-minimal), "indefinite" (BER), or a raw override
    raw_length: bytes | None = None
    trailer: bytes = b""
    subtree_ok: bool = field(default=True, repr=False)


def _header(buf: bytes, pos: int, end: int) -> tuple[bytes, int, int]:
    if pos >= end:
        raise ValueError("truncated")
    start = pos
    first = buf[pos]
    pos += 1
    if first & 0x1F == 0x1F:
        while True:
            if pos >= end:
                raise ValueError("truncated tag")
            b = buf[pos]
            pos += 1
            if not b & 0x80:
                break
    tag = buf[start:pos]
    if pos >= end:
        raise ValueError("truncated length")
    lb = buf[pos]
    pos += 1
    if lb == 0x80:
        raise ValueError("indefinite")
    if lb & 0x80:
        n = lb & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise ValueError("bad length")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    else:
        length = lb
    if pos + length > end:
        raise ValueError("beyond end")
    return tag, pos, length


def parse_der(buf: bytes, pos: int = 0, end: int | None = None, depth: int = 0) -> list[Node]:
    """Every TLV between ``pos`` and ``end``; raises ValueError when the bytes are not a clean TLV run."""
    end = len(buf) if end is None else end
    nodes = []
    while pos < end:
        tag, start, length = _header(buf, pos, end)
        content = buf[start : start + length]
        node = Node(tag=tag, content=content)
        if depth < 40:
            if tag[0] & 0x20:
                node.children = parse_der(buf, start, start + length, depth + 1)
            elif tag[0] in (0x04, 0x03) and len(content) > 2:
                prefix = content[:1] if tag[0] == 0x03 else b""
                inner = content[len(prefix) :]
                if (tag[0] == 0x04 or prefix == b"\x00") and inner[:1] in (b"\x30", b"\x31", b"\x04", b"\x02"):
                    try:
                        node.children = parse_der(inner, 0, len(inner), depth + 1)
                        node.prefix = prefix
                    except ValueError:
                        node.children = None
        nodes.append(node)
        pos = start + length
    return nodes


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def serialize(nodes: Sequence[Node]) -> bytes:
    out = bytearray()
    for node in nodes:
        if node.children is not None:
            body = node.prefix + serialize(node.children)
        else:
            body = node.content
        if node.raw_length is not None:
            header = node.raw_length
        elif node.length_form == "long":
            raw = len(body).to_bytes(max(1, (len(body).bit_length() + 7) // 8), "big")
            header = bytes([0x80 | (len(raw) + 1)]) + b"\x00" + raw
        elif node.length_form == "indefinite" and node.tag[0] & 0x20:
            out += node.tag + b"\x80" + body + b"\x00\x00" + node.trailer
            continue
        else:
            header = _length(len(body))
        out += node.tag + header + body + node.trailer
    return bytes(out)


def _walk(nodes: list[Node], parent: list[Node] | None = None) -> list[tuple[Node, list[Node]]]:
    found: list[tuple[Node, list[Node]]] = []
    for node in nodes:
        found.append((node, nodes))
        if node.children is not None:
            found.extend(_walk(node.children, node.children))
    return found


_TAGS = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x16, 0x17, 0x18, 0x1E, 0x30, 0x31, 0xA0, 0xA1, 0xA3, 0x80]


def _mutate_node(rng: random.Random, node: Node, siblings: list[Node], pool: list[Node]) -> None:
    op = rng.randrange(14)
    if op == 0 and node.children is None and node.content:
        content = bytearray(node.content)
        i = rng.randrange(len(content))
        content[i] ^= 1 << rng.randrange(8)
        node.content = bytes(content)
    elif op == 1 and node.children is None:
        node.content = rng.choice(
            [b"", b"\x00", b"\xff", b"\x80", b"\x00" * 9, b"\xff" * 40, b"\x7f" + b"\xff" * 200, node.content * 2]
        )
    elif op == 2:
        tag = rng.choice(_TAGS)
        node.tag = bytes([tag])
        if tag & 0x20 and node.children is None:
            try:
                node.children = parse_der(node.content)
            except ValueError:
                node.tag = bytes([tag & ~0x20])
        elif not tag & 0x20 and node.children is not None:
            node.content, node.children = node.prefix + serialize(node.children), None
    elif op == 3 and node in siblings:
        siblings.remove(node)
    elif op == 4:
        siblings.insert(rng.randrange(len(siblings) + 1), _copy(node))
    elif op == 5 and len(siblings) > 1:
        i, j = rng.randrange(len(siblings)), rng.randrange(len(siblings))
        siblings[i], siblings[j] = siblings[j], siblings[i]
    elif op == 6 and pool:
        donor = rng.choice(pool)
        siblings[siblings.index(node)] = _copy(donor)
    elif op == 7:
        node.length_form = rng.choice(["long", "indefinite"])
    elif op == 8:
        node.raw_length = rng.choice(
            [b"\x80", b"\x81", b"\x84\xff\xff\xff\xff", b"\x89" + b"\x01" * 9, b"\x00", b"\x7f", b"\x82\x00\x05"]
        )
    elif op == 9:
        node.trailer = rng.choice([b"\x00\x00", b"\x00", b"\x05\x00", b"\x30\x00"])
    elif op == 10 and node.children is None and node.tag[:1] == b"\x02":
        value = rng.choice(INTERESTING_INTS)
        size = max(1, (value.bit_length() + 8) // 8)
        node.content = value.to_bytes(size, "big", signed=True) if value < 2**63 else b"\x00" + b"\xff" * 40
    elif op == 11 and node.children is None and node.tag[:1] == b"\x06":
        node.content = rng.choice([b"", b"\x80", b"\x2a\x85\x03\x07\x01\x01\x01\x01", b"\xff" * 30, b"\x2b\x06"])
    elif op == 12 and node.children is not None:
        nest = Node(tag=node.tag, children=[_copy(node)])
        for _ in range(rng.choice((1, 10, 200))):
            nest = Node(tag=b"\x30", children=[nest])
        siblings[siblings.index(node)] = nest
    elif op == 13 and node.children is not None and node.children:
        node.children = node.children[: rng.randrange(len(node.children))]
    else:
        node.tag = bytes([(node.tag[0] ^ (1 << rng.randrange(8)))]) + node.tag[1:]
        if node.tag[0] & 0x1F == 0x1F:
            node.tag += b"\x01"


def _copy(node: Node) -> Node:
    return Node(
        tag=node.tag,
        content=node.content,
        children=[_copy(c) for c in node.children] if node.children is not None else None,
        prefix=node.prefix,
        length_form=node.length_form,
        raw_length=node.raw_length,
        trailer=node.trailer,
    )


def der(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """Mutate at the ASN.1 level (values, tags, lengths, BER forms, splices between seeds), re-encoding the
    enclosing lengths so the damage reaches the parser's inner layers; now and then a byte-level edit on top."""
    if rng.random() < 0.1:
        return havoc(rng, data, seeds)
    try:
        tree = parse_der(data)
    except ValueError:
        return havoc(rng, data, seeds)
    pool: list[Node] = []
    if seeds and rng.random() < 0.5:
        try:
            pool = [n for n, _ in _walk(parse_der(rng.choice(seeds)))]
        except ValueError:
            pool = []
    for _ in range(1 + min(6, int(rng.expovariate(0.8)))):
        nodes = _walk(tree)
        if not nodes:
            break
        node, siblings = rng.choice(nodes)
        _mutate_node(rng, node, siblings, pool or [n for n, _ in nodes])
    out = serialize(tree)
    if rng.random() < 0.15:
        out = havoc(rng, out, seeds)
    if rng.random() < 0.05:
        out = out[: rng.randrange(len(out) + 1)]
    return out


# --- XML --------------------------------------------------------------------------------------------------

_ELEMENT = re.compile(r"<([^\s>/!?]+)(\s[^>]*)?>([^<]*)</\1>")
_START = re.compile(r"<([^\s>/!?]+)(\s[^>]*)?>")

XML_TRICKS: list[Callable[[random.Random, str], str]] = [
    lambda rng, x: (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;'
        '&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        + _strip_declaration(x).replace(">", ">&d;", 2)
    ),
    lambda rng, x: (
        '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + _strip_declaration(x).replace(">", ">&xxe;", 2)
    ),
    lambda rng, x: '<!DOCTYPE r SYSTEM "http://127.0.0.1:9/evil.dtd">' + _strip_declaration(x),
    lambda rng, x: '<!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]>' + _strip_declaration(x),
    lambda rng, x: x.replace("<", "<\ufeff", 1),
    lambda rng, x: x.replace('encoding="UTF-8"', rng.choice(['encoding="UTF-16"', 'encoding="koi8-r"', ""]), 1),
    lambda rng, x: x + "<!-- trailing -->" + rng.choice(["", "<extra/>", "junk", "\x00"]),
    lambda rng, x: "\ufeff" + x,
    lambda rng, x: x.replace(">", "><?pi " + "x" * 100 + "?><!-- c --><![CDATA[<&]]>", 3),
    lambda rng, x: _nest(rng, x),
    lambda rng, x: _attribute_flood(rng, x),
    lambda rng, x: x.replace('xmlns="', 'xmlns:evil="', 1),
    lambda rng, x: x.replace(">", ' xmlns="urn:other">', 2),
    lambda rng, x: x.replace("&", "&amp;&#0;&#xD800;&#1114112;&lt", 1) if "&" in x else x + "&#0;",
]


def _strip_declaration(text: str) -> str:
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", text)


def _nest(rng: random.Random, text: str) -> str:
    depth = rng.choice((33, 100, 1000, 50_000))
    match = _ELEMENT.search(text)
    if match is None:
        return text
    tag = rng.choice([match.group(1), "x"])
    inner = f"<{tag}>" * depth + "t" + f"</{tag}>" * depth
    return text[: match.start(3)] + inner + text[match.end(3) :]


def _attribute_flood(rng: random.Random, text: str) -> str:
    match = _START.search(text, rng.randrange(max(1, len(text) // 2)))
    if match is None:
        return text
    count = rng.choice((50, 5_000, 30_000))
    attrs = "".join(f' a{i}="{"v" * (i % 7)}"' for i in range(count))
    if rng.random() < 0.3:
        attrs += ' a0="dup"'
    return text[: match.end() - 1] + attrs + text[match.end() - 1 :]


def xml(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """Mutate an XML document: hostile constructs (entities, DTDs, deep nesting, attribute floods), element
    removal, duplication and text swaps that keep it well-formed, and now and then raw byte damage."""
    if rng.random() < 0.1:
        return havoc(rng, data, seeds)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return havoc(rng, data, seeds)
    for _ in range(1 + min(4, int(rng.expovariate(1.0)))):
        op = rng.randrange(7)
        matches = list(_ELEMENT.finditer(text))
        if op == 0:
            text = rng.choice(XML_TRICKS)(rng, text)
        elif op == 1 and matches:
            m = rng.choice(matches)
            text = text[: m.start()] + text[m.end() :]
        elif op == 2 and matches:
            m = rng.choice(matches)
            text = text[: m.end()] + m.group(0) * rng.choice((1, 2, 300)) + text[m.end() :]
        elif op == 3 and matches:
            m = rng.choice(matches)
            value = rng.choice([*INTERESTING_TEXT, rng.choice(matches).group(3), "&lt;&gt;&amp;", "<x/>"])
            value = value if "<" not in value or value == "<x/>" else value.replace("<", "&lt;")
            text = text[: m.start(3)] + value + text[m.end(3) :]
        elif op == 4:
            starts = list(_START.finditer(text))
            if starts:
                m = rng.choice(starts)
                attrs = m.group(2) or ""
                pairs = re.findall(r'(\S+?)="([^"]*)"', attrs)
                if pairs:
                    name, value = rng.choice(pairs)
                    new = rng.choice([*INTERESTING_TEXT[:14], value * 50, ""]).replace("<", "").replace('"', "")
                    if rng.random() < 0.3:
                        attrs = attrs.replace(f'{name}="{value}"', "", 1)
                    else:
                        attrs = attrs.replace(f'{name}="{value}"', f'{name}="{new}"', 1)
                    text = text[: m.start()] + f"<{m.group(1)}{attrs}>" + text[m.end() :]
        elif op == 5 and seeds:
            other = rng.choice(seeds).decode("utf-8", errors="replace")
            donors = list(_ELEMENT.finditer(other))
            if donors and matches:
                m = rng.choice(matches)
                text = text[: m.start()] + rng.choice(donors).group(0) + text[m.end() :]
        else:
            cut = rng.randrange(len(text) + 1)
            text = text[:cut]
    out = text.encode("utf-8", errors="surrogatepass")
    return havoc(rng, out, seeds) if rng.random() < 0.1 else out


# --- forms ------------------------------------------------------------------------------------------------


def form(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """Mutate an urlencoded form with PHP bracket keys: fields removed, repeated, renamed, nested, given odd
    or huge values, spliced from other forms, broken percent escapes."""
    if rng.random() < 0.08:
        return havoc(rng, data, seeds)
    pairs = parse_qsl(data.decode("utf-8", errors="replace"), keep_blank_values=True)
    for _ in range(1 + min(5, int(rng.expovariate(0.8)))):
        op = rng.randrange(8)
        if op == 0 and pairs:
            del pairs[rng.randrange(len(pairs))]
        elif op == 1 and pairs:
            pairs.insert(rng.randrange(len(pairs) + 1), rng.choice(pairs))
        elif op == 2 and pairs:
            i = rng.randrange(len(pairs))
            pairs[i] = (pairs[i][0], rng.choice(INTERESTING_TEXT))
        elif op == 3 and pairs:
            i = rng.randrange(len(pairs))
            key = pairs[i][0]
            key = rng.choice(
                [
                    key + "[]",
                    key + "[x]",
                    key + "[0][1]",
                    key + "[" * 3,
                    key + "]",
                    key.split("[")[0],
                    key + "[a]" * rng.choice((10, 63, 64, 65, 500)),
                    "[" + key + "]",
                    "",
                ]
            )
            pairs[i] = (key, pairs[i][1])
        elif op == 4 and seeds:
            donor = parse_qsl(rng.choice(seeds).decode("utf-8", errors="replace"), keep_blank_values=True)
            if donor:
                pairs.append(rng.choice(donor))
        elif op == 5:
            pairs.extend((f"f{i}[]", "v") for i in range(rng.choice((100, 3000))))
        elif op == 6 and pairs:
            i = rng.randrange(len(pairs))
            pairs[i] = (pairs[i][0], pairs[i][1] * rng.choice((2, 1000)))
        else:
            rng.shuffle(pairs)
    body = "&".join(
        f"{quote(k, safe='[]', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}" for k, v in pairs
    ).encode()
    if rng.random() < 0.1:
        body += rng.choice([b"&%zz=%", b"&a=%ff%fe", b"&&&=", b"&a[=1", b";b=2", b"&\xff\xfe=\x00"])
    return body


# --- JSON -------------------------------------------------------------------------------------------------


def _json_values(rng: random.Random) -> Any:
    return rng.choice(
        [
            None,
            True,
            False,
            0,
            -1,
            2**63,
            10**400,
            1.5,
            "",
            "x" * 100_000,
            "\ud800",
            [],
            {},
            [1, "2"],
            {"id": None},
            "AAAA",
            "!!!notbase64",
            "MIIB" * 5000,
        ]
    )


def _json_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            found.extend(_json_paths(v, (*path, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.extend(_json_paths(v, (*path, i)))
    return found


def _set(root: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return root


def _dumps(value: Any) -> str:
    """JSON text that may carry what ``json.dumps`` refuses: lone surrogates (as escapes) and huge ints."""
    return json.dumps(value, ensure_ascii=True)


def jsonish(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """Mutate a JSON document: members removed or duplicated, types swapped, huge and deep values, values
    spliced from other seeds, then now and then raw damage to the text."""
    if rng.random() < 0.08:
        return havoc(rng, data, seeds)
    try:
        doc = json.loads(data)
    except ValueError:
        return havoc(rng, data, seeds)
    text = None
    for _ in range(1 + min(4, int(rng.expovariate(0.9)))):
        paths = _json_paths(doc)
        path = rng.choice(paths)
        op = rng.randrange(7)
        try:
            if op == 0 and path:
                parent = doc
                for step in path[:-1]:
                    parent = parent[step]
                del parent[path[-1]]
            elif op == 1:
                doc = _set(doc, path, _json_values(rng))
            elif op == 2 and seeds:
                donor = json.loads(rng.choice(seeds))
                doc = _set(doc, path, _get(donor, rng.choice(_json_paths(donor))))
            elif op == 3:
                depth = rng.choice((100, 10_000, 200_000))
                text = _dumps(doc).replace("null", "[" * depth + "]" * depth, 1) if "null" in _dumps(doc) else None
                doc = _set(doc, path, [[[[[]]]]])
            elif op == 4:
                current = _get(doc, path)
                if isinstance(current, str):
                    doc = _set(doc, path, rng.choice([len(current), [current], {"v": current}, current.encode().hex()]))
                elif isinstance(current, int | float) and not isinstance(current, bool):
                    doc = _set(doc, path, rng.choice([str(current), -current, [current], current * 10**30]))
                elif isinstance(current, list):
                    doc = _set(doc, path, rng.choice([{}, current * rng.choice((2, 600)), current[:0], "x"]))
                elif isinstance(current, dict):
                    doc = _set(doc, path, rng.choice([[], list(current.values()), "x", {**current, "": current}]))
            elif op == 5:
                body = _dumps(doc)
                if body.startswith("{") and len(body) > 2:
                    key = rng.choice(list(doc)) if isinstance(doc, dict) and doc else "id"
                    text = "{" + json.dumps(key) + ":" + _dumps(_json_values(rng)) + "," + body[1:]
            else:
                doc = rng.choice([doc, [doc], {"jsonrpc": "2.0"}, None, "x"])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    out = (text if text is not None else _dumps(doc)).encode()
    return havoc(rng, out, seeds) if rng.random() < 0.1 else out


def _get(root: Any, path: tuple[Any, ...]) -> Any:
    node = root
    for step in path:
        node = node[step]
    return node


# --- multipart --------------------------------------------------------------------------------------------


def multipart(boundary: bytes) -> Mutator:
    """Mutate a multipart/form-data body made with ``boundary``: parts removed, repeated, renamed, their
    headers damaged, files' bytes mutated as DER, closing boundary lost, line endings changed."""
    delimiter = b"--" + boundary

    def mutate(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
        if rng.random() < 0.08:
            return havoc(rng, data, seeds)
        chunks = data.split(delimiter)
        head, parts, tail = chunks[0], chunks[1:-1], chunks[-1] if len(chunks) > 1 else b""
        for _ in range(1 + min(4, int(rng.expovariate(0.9)))):
            op = rng.randrange(9)
            if op == 0 and parts:
                del parts[rng.randrange(len(parts))]
            elif op == 1 and parts:
                parts.insert(rng.randrange(len(parts) + 1), rng.choice(parts) * 1)
            elif op == 2 and parts:
                i = rng.randrange(len(parts))
                headers, sep, body = parts[i].partition(b"\r\n\r\n")
                parts[i] = headers + sep + der(rng, body.rstrip(b"\r\n"), ()) + b"\r\n"
            elif op == 3 and parts:
                i = rng.randrange(len(parts))
                parts[i] = re.sub(
                    rb'name="[^"]*"',
                    rng.choice([b'name="sig_x"', b'name="sig_-1"', b'name="sig_99999999999999999999"', b"name=",
                                b'name="' + b"n" * 5000 + b'"', b'name="\xff\xfe"', b'name="sig_9"']),
                    parts[i],
                    count=1,
                )  # fmt: skip
            elif op == 4 and parts:
                i = rng.randrange(len(parts))
                parts[i] = re.sub(
                    rb'filename="[^"]*"',
                    rng.choice([b'filename=""', b'filename="../../x"', b'filename="' + b"a" * 9000 + b'"',
                                b"filename*=UTF-8''%D0%90.sig", b'filename="\x00"']),
                    parts[i],
                    count=1,
                )  # fmt: skip
            elif op == 5 and parts:
                i = rng.randrange(len(parts))
                parts[i] = parts[i].replace(
                    b"Content-Disposition",
                    rng.choice([b"X-Nothing", b"Content-Disposition: attachment\r\nContent-Disposition", b""]),
                    1,
                )
            elif op == 6:
                tail = rng.choice([b"", b"--", b"--\r\nepilogue", tail])
            elif op == 7:
                parts.extend([b'\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n'] * rng.choice((10, 250)))
            else:
                head = rng.choice([b"", b"preamble\r\n", head])
        out = head + b"".join(delimiter + p for p in parts) + (delimiter + tail if tail or parts else b"")
        if rng.random() < 0.1:
            out = out.replace(b"\r\n", b"\n")
        return havoc(rng, out, seeds) if rng.random() < 0.1 else out

    return mutate


def text_bytes(rng: random.Random, data: bytes, seeds: Sequence[bytes] = ()) -> bytes:
    """A document's bytes: any change at all, however small (one bit, one byte more or less)."""
    buf = bytearray(data)
    op = rng.randrange(5)
    if op == 0 and buf:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    elif op == 1:
        buf.append(rng.randrange(256))
    elif op == 2 and buf:
        del buf[-1]
    elif op == 3:
        buf[:0] = b"\xef\xbb\xbf"
    else:
        return havoc(rng, data, seeds)
    return bytes(buf)
