"""Join letters' PDFs into one print file at the byte level, each font subset once.

A print file is the batch's letters one after the other (``letters.printshop``). The letters
are PDFs this tool wrote with ReportLab, whose layout is known and plain: one cross-reference
table, numbered objects one after the other, a flat page tree, dictionaries of pages and fonts
that hold no strings. :func:`join` copies each letter's pages, their content streams and their
fonts into the print file as the bytes they are in the retained copy (no decoding, no
re-encoding), renumbering references only, and keeps one copy of each object that is the same
in several letters: a batch's letters embed byte-identical font subsets (``letters.glyphs``),
so a print file holds each once, however many letters it carries.

Objects are compared by their content, references by what they point to (a digest of the
object with each reference replaced by the digest of its target). A font subset's six-letter
tag (``AAAAAA+DejaVuSans``) is drawn from that digest, so the same subset has the same tag in
every print file and two different subsets in one file never share a tag.

A PDF laid out otherwise (object streams, a nested page tree, annotations, form XObjects, an
incremental update...) is not joined here: :func:`join` returns None and the caller merges with
a general PDF library instead.
"""

from __future__ import annotations

import hashlib
import re

_REF = re.compile(rb"(?<![\w.+-])(\d+) 0 R(?![\w.])")
#: An ``R`` token: in a dictionary with no string, only a reference has one. A reference
#: written otherwise than ``N 0 R`` (``N 0\nR``) is refused rather than left unrenumbered.
_BARE_R = re.compile(rb"(?<![/\w#.])R(?![\w.])")
_TAGGED = re.compile(rb"(/(?:BaseFont|FontName) /)[A-Z]{6}\+")
_ANY_TAG = re.compile(rb"/[A-Z]{6}\+")
_STREAM = b"\nstream\n"
_END_STREAM = b"endstream\n"
_END_OBJ = b"endobj\n"
#: What a page may hold for :func:`join` to copy it as it is (and its resources).
_UNSAFE_IN_PAGE = (b"/Annots", b"/XObject", b"/B ", b"/Thumb", b"/AA", b"/StructParents")


def subset_tag(n: int) -> str:
    """The ``n``-th subset tag: six capital letters, AAAAAA, AAAAAB, ..."""
    letters = []
    for _ in range(6):
        n, d = divmod(n, 26)
        letters.append(chr(ord("A") + d))
    return "".join(reversed(letters))


class _Unsupported(Exception):
    """This PDF is not laid out as :func:`join` expects."""


class _Source:
    """One letter's PDF: its objects' dictionaries and streams, by number."""

    def __init__(self, data: bytes):
        self.data = data
        at = data.rfind(b"startxref")
        if at < 0:
            raise _Unsupported("no startxref")
        xref = int(data[at + 9:].split()[0])
        if data[xref:xref + 5] != b"xref\n":
            raise _Unsupported("no cross-reference table")
        lines = data[xref + 5:].split(b"\n", 1)
        first, count = (int(x) for x in lines[0].split())
        table = lines[1]
        if first != 0 or len(table) < 20 * count:
            raise _Unsupported("cross-reference table")
        offsets = {}
        for n in range(1, count):
            entry = table[20 * n:20 * n + 20]
            if entry[17:18] != b"n":
                raise _Unsupported("free object")
            offsets[n] = int(entry[:10])
        trailer = table[20 * count:]
        if not trailer.startswith(b"trailer") or b"/Prev" in trailer:
            raise _Unsupported("trailer")
        root = re.search(rb"/Root (\d+) 0 R", trailer)
        if root is None:
            raise _Unsupported("no root")
        ends = sorted(offsets.values()) + [xref]
        following = {start: ends[i + 1] for i, start in enumerate(ends[:-1])}
        self.offsets, self.following = offsets, following
        self.root = int(root.group(1))
        self.parts: dict[int, tuple[bytes, bytes]] = {}

    def part(self, n: int) -> tuple[bytes, bytes]:
        """Object ``n``'s dictionary (or other value) and its stream, with ``endstream``
        (empty for an object without one), as written."""
        kept = self.parts.get(n)
        if kept is not None:
            return kept
        start = self.offsets.get(n)
        if start is None:
            raise _Unsupported(f"object {n} missing")
        body = self.data[start:self.following[start]]
        head = b"%d 0 obj\n" % n
        if not body.startswith(head) or not body.endswith(_END_OBJ):
            raise _Unsupported(f"object {n}")
        body = body[len(head):-len(_END_OBJ)]
        at = body.find(_STREAM)
        if at < 0:
            kept = (body, b"")
        else:
            value, stream = body[:at], body[at:]
            length = re.search(rb"/Length (\d+)\b", value)
            if length is None or b"(" in value or \
                    len(stream) != len(_STREAM) + int(length.group(1)) + len(_END_STREAM) or \
                    not stream.endswith(_END_STREAM):
                raise _Unsupported(f"stream {n}")
            kept = (value, stream)
        self.parts[n] = kept
        return kept

    def pages(self) -> tuple[int, list[int]]:
        """The page tree's number and its pages' numbers, in order."""
        catalog, _ = self.part(self.root)
        tree = re.search(rb"/Pages (\d+) 0 R", catalog)
        if tree is None:
            raise _Unsupported("no page tree")
        tree_n = int(tree.group(1))
        value, stream = self.part(tree_n)
        kids = re.search(rb"/Kids \[([^\]]*)\]", value)
        rest = re.sub(rb"/Kids \[[^\]]*\]|/Count \d+|/Type /Pages|[<>\s]", b"", value)
        if stream or kids is None or rest:
            raise _Unsupported("page tree")  # inherited attributes, or nested
        return tree_n, [int(m.group(1)) for m in _REF.finditer(kids.group(1))]


class _Joined:
    """The print file being written."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.size = 0
        self.offsets: dict[int, int] = {}
        self.next = 3                    # 1: the catalog, 2: the page tree
        self.by_key: dict[bytes, int] = {}
        self.tags: set[bytes] = set()
        self.tag_of: dict[bytes, bytes] = {}
        self.header = b"%PDF-1.4\n%\x93\x8c\x8b\x9e letters print file\n"
        self._write(self.header)

    def _write(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)

    def put(self, n: int, value: bytes, stream: bytes = b"") -> None:
        if stream:  # a line break before ``endstream`` (not in /Length), as preflight expects
            stream = stream[:-len(_END_STREAM)] + b"\n" + _END_STREAM
        self.offsets[n] = self.size
        self._write(b"%d 0 obj\n" % n + value + stream + _END_OBJ)

    def tag(self, key: bytes) -> bytes:
        """The six capitals that tag the subset whose digest is ``key`` in this file: drawn
        from the digest, the next free one if another subset has it."""
        tag = self.tag_of.get(key)
        if tag is None:
            n = int(key[:16], 16) % 26 ** 6
            while subset_tag(n).encode() in self.tags:
                n = (n + 1) % 26 ** 6
            tag = subset_tag(n).encode()
            self.tags.add(tag)
            self.tag_of[key] = tag
        return tag

    def number(self) -> int:
        n, self.next = self.next, self.next + 1
        return n

    def finish(self, pages: list[int]) -> bytes:
        self.put(1, b"<<\n/Pages 2 0 R /Type /Catalog\n>>\n")
        kids = b" ".join(b"%d 0 R" % p for p in pages)
        self.put(2, b"<<\n/Count %d /Kids [ %s ] /Type /Pages\n>>\n" % (len(pages), kids))
        body = b"".join(self.chunks)
        xref_at = len(body)
        count = self.next
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % count]
        xref += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, count)]
        digest = hashlib.md5(body).hexdigest().encode()
        trailer = (b"trailer\n<<\n/ID [<%s><%s>] /Root 1 0 R /Size %d\n>>\nstartxref\n%d\n%%%%EOF\n"
                   % (digest, digest, count, xref_at))
        return body + b"".join(xref) + trailer


def join(sources: list[bytes]) -> bytes | None:
    """One PDF of all the pages of ``sources`` (letters' PDFs), in order, or None when one of
    them is not laid out as this tool's renderer lays PDFs out (see the module's text)."""
    try:
        return _join(sources)
    except (_Unsupported, ValueError, IndexError, KeyError, RecursionError):
        return None


def _references(value: bytes) -> list[int]:
    """The objects ``value`` (a dictionary or array, no string) refers to; refused when it
    holds a reference not written ``N 0 R``."""
    found = [int(m.group(1)) for m in _REF.finditer(value)]
    if len(_BARE_R.findall(value)) != len(found):
        raise _Unsupported("a reference written otherwise")
    return found


def _join(sources: list[bytes]) -> bytes:
    out = _Joined()
    pages: list[int] = []
    for data in sources:
        letter = _Letter(_Source(data), out)
        for page in letter.kids:
            value, stream = letter.src.part(page)
            if stream or b"/Type /Page" not in value or b"(" in value or \
                    any(word in value for word in _UNSAFE_IN_PAGE):
                raise _Unsupported("page")
            _references(value)
            value = _REF.sub(lambda m: b"%d 0 R" % letter.copy(int(m.group(1))), value)
            mine = out.number()
            out.put(mine, value)
            pages.append(mine)
    return out.finish(pages)


class _Letter:
    """One letter being copied into the print file. (A class, not closures that call
    themselves: such a closure is a reference cycle, which kept each letter's bytes and the
    print file's parts until the garbage collector's next full pass, and a process joining
    print file after print file grew by hundreds of megabytes.)"""

    def __init__(self, src: _Source, out: _Joined):
        self.src, self.out = src, out
        self.tree, self.kids = src.pages()
        self.keys: dict[int, bytes] = {}
        self.numbers: dict[int, int] = {self.tree: 2}

    def key_of(self, n: int, seen: tuple = ()) -> bytes:
        """A digest of object ``n`` by content, references by their targets' digests and
        font subset tags left out."""
        kept = self.keys.get(n)
        if kept is not None:
            return kept
        if n in seen or n == self.tree:
            raise _Unsupported("a reference back up the tree")
        value, stream = self.src.part(n)
        _references(value)
        value = _ANY_TAG.sub(b"/+", value)
        h = hashlib.sha256(_REF.sub(lambda m: b"<" + self.key_of(int(m.group(1)),
                                                                 seen + (n,)) + b">", value))
        h.update(stream)
        kept = self.keys[n] = h.hexdigest().encode()
        return kept

    def copy(self, n: int) -> int:
        """Object ``n`` in the print file: written there once (what it refers to first)."""
        done = self.numbers.get(n)
        if done is not None:
            return done
        out = self.out
        key = self.key_of(n)
        same = out.by_key.get(key)
        if same is not None:
            self.numbers[n] = same
            return same
        value, stream = self.src.part(n)
        if b"(" in value:
            raise _Unsupported("a string")  # its text could read like a reference
        tag = None
        if _TAGGED.search(value):
            # a font and its descriptor carry the same tag: the descriptor's
            descriptor = re.search(rb"/FontDescriptor (\d+) 0 R", value)
            tag = out.tag(self.key_of(int(descriptor.group(1))) if descriptor else key)
        value = _REF.sub(lambda m: b"%d 0 R" % self.copy(int(m.group(1))), value)
        if tag is not None:
            value = _TAGGED.sub(lambda m: m.group(1) + tag + b"+", value)
        self.numbers[n] = out.by_key[key] = mine = out.number()
        out.put(mine, value, stream)
        return mine
