"""letters.qr gives ReportLab's QR matrix module for module: same version, same mask, same bits
(the letters' PDFs keep their bytes), for notice IDs and for whatever else ReportLab encodes."""

from __future__ import annotations

import random
import string

import numpy as np
import pytest
from reportlab.graphics.barcode import qrencoder

from letters import qr

M = qrencoder.QRErrorCorrectLevel.M


def reportlab(value: str) -> list[list[bool]]:
    """What letters.pdf drew before letters.qr: ReportLab's own encoder, end to end."""
    code = qrencoder.QRCode(None, M)
    code.addData(value)
    code.make()
    return [[bool(m) for m in row] for row in code.modules]


def mask_of(matrix: list[list[bool]]) -> int:
    """The mask pattern a matrix says it uses, from its format information along row 8 (where
    ReportLab's ``setupTypeInfo`` writes it)."""
    n = len(matrix)
    cols = [n - 1 - i for i in range(8)] + [7] + [14 - i for i in range(9, 15)]
    bits = sum(matrix[8][c] << i for i, c in enumerate(cols))
    (mask,) = [k for k in range(8) if qrencoder.QRUtil.getBCHTypeInfo(M << 3 | k) == bits]
    return mask


def notice_ids(count: int, seed: int = 20270104) -> list[str]:
    """Notice-ID-like values: the office's formats, and any run of capitals, digits and
    dashes from 1 to 45 characters (QR versions 1 to 3 at level M)."""
    rng = random.Random(seed)
    alphabet = string.ascii_uppercase + string.digits + "-"
    out = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            out.append(f"ND{rng.randrange(10 ** 7):07d}")
        elif kind == 1:
            out.append(f"{rng.randrange(100):02d}{rng.choice('ABC')}-{rng.randrange(10 ** 7):07d}"
                       f"-{rng.choice(string.ascii_uppercase)}")
        elif kind == 2:
            out.append("".join(rng.choices(alphabet, k=rng.randint(1, 45))))
        else:
            out.append("".join(rng.choices(string.digits, k=rng.randint(1, 70))))
    return out


def test_notice_ids_give_reportlabs_matrix():
    values = notice_ids(3000)
    masks, sizes = set(), set()
    for value in values:
        expected = reportlab(value)
        assert qr.modules(value) == expected, value
        masks.add(mask_of(expected))
        sizes.add(len(expected))
    # the sample makes every mask win somewhere, and crosses versions 1 -> 2 -> 3
    assert masks == set(range(8))
    assert sizes == {21, 25, 29}


EDGES = [
    "", "0", "A", "-", "a", " ", "Ñ", "ñandú", "日本", "Straße", "22A-2JV-3BQ", "nd0000001",
    # the last length of a version at level M, and the first of the next: alphanumeric,
    # numeric, bytes
    "A" * 20, "A" * 21, "A" * 38, "A" * 39, "A" * 61, "A" * 62,
    "7" * 34, "7" * 35, "7" * 63, "7" * 64,
    "a" * 14, "a" * 15, "a" * 26, "a" * 27,
    # version information (7 and up) and the longer character counts (10 and up)
    "ND-" * 60, "x" * 200, "9" * 700,
]


@pytest.mark.parametrize("value", EDGES, ids=lambda v: f"{len(v)}:{v[:12]!r}")
def test_edge_cases_give_reportlabs_matrix(value):
    assert qr.modules(value) == reportlab(value)


def test_codewords_are_reportlabs_in_every_version():
    """Data and Reed-Solomon codewords, interleaved, as ``QRCode.createData`` makes them, for
    texts of every version ReportLab picks at level M (one to many blocks of two sizes)."""
    rng = random.Random(7)
    versions = set()
    for length in [*range(0, 200, 3), *range(200, 2400, 23)]:
        value = "".join(rng.choice(string.printable) for _ in range(length))
        code = qrencoder.QRCode(None, qr.LEVEL)
        code.addData(value)
        version = code.calculate_version()
        try:
            expected = qrencoder.QRCode.createData(version, qr.LEVEL, code.dataList)
        except Exception as exc:  # noqa: BLE001 - too long for ReportLab: too long here
            with pytest.raises(Exception, match="code length overflow"):
                qr._codewords(version, code.dataList)
            assert "code length overflow" in str(exc)
            continue
        assert qr._codewords(version, code.dataList) == expected, length
        versions.add(version)
    assert versions >= set(range(1, 40))


def test_what_reportlab_cannot_encode_fails_the_same_way():
    too_long = "x" * 3000
    with pytest.raises(Exception, match="code length overflow"):
        reportlab(too_long)
    with pytest.raises(Exception, match="code length overflow"):
        qr.modules(too_long)
    with pytest.raises(ValueError):  # a lone surrogate has no UTF-8
        qr.modules("\ud800")


class _Matrix:
    """What ``QRUtil.getLostPoint`` reads of a QRCode: its modules."""

    def __init__(self, modules):
        self.modules = modules


def test_lost_points_are_reportlabs_for_any_matrix():
    # random matrices of every darkness, some with runs and finder-like patterns planted in
    # rows and in columns: each score rule, not only the codes' argmin, agrees
    rng = random.Random(5)
    pattern = [True, False, True, True, True, False, True] + [False] * 4
    for _ in range(400):
        n = rng.choice((21, 25, 29, 45))
        dark = rng.random()
        m = [[rng.random() < dark for _ in range(n)] for _ in range(n)]
        for _ in range(rng.randint(0, 3)):
            r, c = rng.randrange(n), rng.randrange(n - 10)
            if rng.random() < 0.5:
                m[r][c:c + 11] = pattern
            else:
                for k, bit in enumerate(pattern):
                    m[c + k][r] = bit
        expected = qrencoder.QRUtil.getLostPoint(_Matrix(m))
        assert qr._lost_points(np.array([m], dtype=bool)).tolist() == [expected]


@pytest.mark.parametrize("value", ["ND0000101", "AAA-AAA-001", "PROOF-D9", "X"])
def test_the_drawn_code_is_one_rectangle_per_dark_run_as_reportlab_writes_it(value):
    """The letter's QR code writes, for each run of dark modules in a row, the rectangle
    ReportLab's path writes (``PDFPathObject.rect``), in the same order: the same operators,
    byte for byte, as drawing them one by one."""
    import io
    import itertools

    from reportlab.pdfgen.canvas import Canvas

    from letters import pdf

    def drawn(draw) -> str:
        canv = Canvas(io.BytesIO())
        code = canv._code
        start = len(code)
        draw(canv)
        return "\n".join(code[start:])

    code = pdf.notice_qr(value)

    def letters_way(canv):
        code.canv = canv
        code.draw()

    def one_by_one(canv):  # the rectangles drawn one at a time, as ReportLab's path has them
        n = len(code.modules)
        box = pdf.QR_SIZE / (n + 2 * code.BORDER)
        path = canv.beginPath()
        for r, row in enumerate(code.modules):
            y = pdf.QR_SIZE - (r + code.BORDER + 1) * box
            c = 0
            for dark, run in itertools.groupby(row):
                count = len(list(run))
                if dark:
                    path.rect((c + code.BORDER) * box, y, count * box, box)
                c += count
        canv.saveState()
        canv.setFillColor(pdf.colors.black)
        canv.drawPath(path, stroke=0, fill=1)
        canv.restoreState()

    ours = drawn(letters_way)
    assert ours == drawn(one_by_one)
    assert ours.count(" re") == sum(1 for row in code.modules
                                    for dark, _ in itertools.groupby(row) if dark)
