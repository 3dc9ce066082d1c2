"""The module matrix of a QR code (error correction M), as ReportLab's encoder makes it, faster.

ReportLab's ``QRCode.make`` (``reportlab.graphics.barcode.qrencoder``) builds the whole matrix
in pure Python nine times: once for each of the 8 mask patterns, to score it
(``QRUtil.getLostPoint``), then once more with the best. :func:`modules` gives the same matrix,
module for module, from the same pieces:

- the mode, version and data codewords still come from ReportLab (``addData``,
  ``calculate_version``, and ``createData``'s bit buffer and padding, :func:`_codewords`); the
  Reed–Solomon codewords are the remainder of the same division by ReportLab's generator
  polynomial in the same field, done with its log and exp tables in one pass per block
  (:func:`_remainder`) instead of one polynomial object per step;
- the function patterns, data positions and mask bits of each version come from ReportLab's
  ``makeImpl`` too, once per version per process (:func:`_layout`), with no data: a data
  module is then its mask's bit alone, so XOR with the data bits gives the module;
- the 8 masked matrices are scored together with numpy (:func:`_lost_points`), by the rules
  as ReportLab implements them, which are not quite the standard's: see there.

The same mask wins (the first of the lowest scores, as in ReportLab), so a PDF that draws the
code keeps its bytes.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
from reportlab.graphics.barcode import qrencoder

LEVEL = qrencoder.QRErrorCorrectLevel.M
MASKS = 8


@dataclass(frozen=True)
class _Layout:
    """One version's matrices with no data, one per mask: ``scored`` as ReportLab scores them
    (format and version information left light), ``final`` as it draws them; and the data
    modules' ``rows`` and ``cols``, in the order the codewords' bits fill them."""

    scored: np.ndarray   # (MASKS, n, n) bool
    final: np.ndarray    # (MASKS, n, n) bool
    rows: np.ndarray
    cols: np.ndarray


@functools.lru_cache(maxsize=8)
def _layout(version: int) -> _Layout:
    code = qrencoder.QRCode(version, LEVEL)
    code.dataCache = []  # no codewords: each data module keeps its mask's bit

    def matrices(test: bool) -> np.ndarray:
        out = []
        for mask in range(MASKS):
            code.makeImpl(test, mask)
            out.append(code.modules)
        return np.array(out, dtype=bool)

    scored, final = matrices(True), matrices(False)
    cols, rows = zip(*code.dataPosIterator())  # ReportLab's (col, row) pairs, once it is laid out
    return _Layout(scored, final, np.array(rows), np.array(cols))


def modules(value: str) -> list[list[bool]]:
    """The dark (True) and light modules of the QR code of ``value``, row by row, without the
    quiet zone: exactly ReportLab's ``QRCode(None, M)``, ``addData(value)``, ``make()``.
    Raises as ReportLab does for what it cannot encode (e.g. too long)."""
    code = qrencoder.QRCode(None, LEVEL)
    code.addData(value)
    version = code.calculate_version()
    codewords = _codewords(version, code.dataList)
    layout = _layout(version)
    bits = np.unpackbits(np.array(codewords, dtype=np.uint8)).view(bool)
    data = np.zeros(layout.final.shape[1:], dtype=bool)
    data[layout.rows[:bits.size], layout.cols[:bits.size]] = bits  # the rest stay light
    mask = int(np.argmin(_lost_points(layout.scored ^ data)))  # the first lowest, as ReportLab
    return (layout.final[mask] ^ data).tolist()


def _codewords(version: int, data_list: list) -> list[int]:
    """``qrencoder.QRCode.createData(version, LEVEL, data_list)``: the data codewords (mode,
    length, data, terminator and padding, in ReportLab's bit buffer), each block's
    Reed–Solomon codewords after them, interleaved as ReportLab interleaves them."""
    blocks = qrencoder.QRRSBlock.getRSBlocks(version, LEVEL)
    buffer = qrencoder.QRBitBuffer()
    for data in data_list:
        data.write(buffer, version)
    capacity = 8 * sum(block.dataCount for block in blocks)
    if buffer.getLengthInBits() > capacity:
        raise Exception("code length overflow. (%d > %d)" % (buffer.getLengthInBits(), capacity))
    if buffer.getLengthInBits() + 4 <= capacity:
        buffer.put(0, 4)
    while buffer.getLengthInBits() % 8:
        buffer.putBit(False)
    pads = itertools.cycle((qrencoder.QRCode.PAD0, qrencoder.QRCode.PAD1))
    while buffer.getLengthInBits() < capacity:
        buffer.put(next(pads), 8)
    data_blocks, ec_blocks, offset = [], [], 0
    for block in blocks:
        data_blocks.append(buffer.buffer[offset:offset + block.dataCount])
        offset += block.dataCount
        ec_blocks.append(_remainder(data_blocks[-1], block.totalCount - block.dataCount))
    return [d for row in itertools.chain(itertools.zip_longest(*data_blocks),
                                         itertools.zip_longest(*ec_blocks))
            for d in row if d is not None]


@functools.lru_cache(maxsize=32)
def _generator_logs(ec_count: int) -> tuple[int, ...]:
    """The logs of ReportLab's generator polynomial's coefficients after the leading 1."""
    poly = qrencoder.QRUtil.getErrorCorrectPolynomial(ec_count)
    return tuple(qrencoder.LOG_TABLE[c] for c in poly.num[1:])


def _remainder(data: list[int], ec_count: int) -> list[int]:
    """The ``ec_count`` coefficients of data·x^ec_count mod the generator polynomial over
    GF(256) (what ReportLab's ``QRPolynomial.mod`` leaves, zeros in front included)."""
    exp, log = qrencoder.EXP_TABLE, qrencoder.LOG_TABLE
    generator = _generator_logs(ec_count)
    rest = [0] * ec_count
    for byte in data:
        factor = byte ^ rest[0]
        del rest[0]
        rest.append(0)
        if factor:
            shift = log[factor]
            rest = [r ^ exp[(shift + g) % 255] for r, g in zip(rest, generator)]
    return rest


#: ReportLab's rule-3 pattern, dark-light-dark-dark-dark-light-dark then 4 light; it matches
#: no shifted copy of itself, so counting every match is ReportLab's skip-ahead count.
_FINDER_LIKE = (True, False, True, True, True, False, True, False, False, False, False)


def _lost_points(m: np.ndarray) -> np.ndarray:
    """ReportLab's ``QRUtil.getLostPoint`` of each matrix in ``m`` (masks, n, n).

    As ReportLab scores (reportlab 5.1; tests/test_qr.py checks the installed one), which
    differs from ISO/IEC 18004 in rule 3:

    1. each run of L >= 5 modules of one colour, in a row or a column: L - 2;
    2. each 2x2 block of one colour (overlapping blocks count each): 3;
    3. each 1011101 0000 in a row, starting before column n - 11: 40. Not the reversed
       pattern, and nothing for columns (ReportLab compares a column's tuple with its list
       pattern, never equal);
    4. 10 per full 5 % that the dark share, in whole percent rounded down, is off 50 %.
    """
    n = m.shape[-1]
    score = _run_points(m) + _run_points(m.transpose(0, 2, 1))
    same = m[:, :, 1:] == m[:, :, :-1]  # each module as its right neighbour
    blocks = same[:, 1:] & same[:, :-1] & (m[:, 1:, 1:] == m[:, :-1, 1:])
    score += 3 * blocks.sum(axis=(1, 2))
    found = np.ones((m.shape[0], n, n - 11), dtype=bool)  # starts 0 .. n - 12
    for k, dark in enumerate(_FINDER_LIKE):
        window = m[:, :, k:k + n - 11]
        found &= window if dark else ~window
    score += 40 * found.sum(axis=(1, 2))
    dark = m.sum(axis=(1, 2))
    score += 10 * (np.abs(100 * dark // (n * n) - 50) // 5)
    return score


def _run_points(m: np.ndarray) -> np.ndarray:
    """Rule 1 along the last axis: L - 2 per run of L >= 5, that is one per window of 5 equal
    modules (L - 4 of them) and 2 more for the run's first window."""
    same = m[..., 1:] == m[..., :-1]
    five = same[..., :-3] & same[..., 1:-2] & same[..., 2:-1] & same[..., 3:]
    first = five.copy()
    first[..., 1:] &= ~same[..., :-4]  # the module before the window differs
    return five.sum(axis=(-2, -1)) + 2 * first.sum(axis=(-2, -1))
