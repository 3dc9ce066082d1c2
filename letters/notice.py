"""Notice IDs: short, typable, stable for (batch, defendant), with a check character.

An ID is 8 symbols from a 29-symbol alphabet without look-alikes (no 0/O, 1/I/L, U, Z) and a
check symbol, printed in groups of three: ``K7M-2QX-9PT``. The check makes the weighted sum
Σ i·v(sᵢ) (i = 1..9) divisible by 29. Because 29 is prime and the weights 1..9 are distinct and
non-zero, every single-symbol substitution and every transposition of two adjacent symbols
changes that sum modulo 29, so the check catches all of them.

>>> nid = notice_id("2026-fall", "D0000001")
>>> nid, is_valid(nid), is_valid(nid.replace("-", "").lower())
('DYV-SK8-VKF', True, True)
>>> is_valid("DYV-SK8-VK2")
False
"""

from __future__ import annotations

import hashlib

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXY"
MODULUS = len(ALPHABET)  # 29, prime
DATA_LENGTH = 8
LENGTH = DATA_LENGTH + 1
_VALUE = {c: i for i, c in enumerate(ALPHABET)}

assert MODULUS == 29


def check_symbol(data: str) -> str:
    """The symbol that completes ``data`` (8 symbols) to a valid ID."""
    total = sum((i + 1) * _VALUE[c] for i, c in enumerate(data))
    weight = len(data) + 1
    # weight · v ≡ −total (mod 29)  →  v = −total · weight⁻¹
    return ALPHABET[(-total * pow(weight, -1, MODULUS)) % MODULUS]


def compact(text: str) -> str:
    """An ID as typed ('dyv sk8-vkf') in canonical compact form ('DYVSK8VKF')."""
    return "".join(ch for ch in text.upper() if ch not in " -")


def format_id(symbols: str) -> str:
    return "-".join(symbols[i:i + 3] for i in range(0, len(symbols), 3))


def is_valid(text: str) -> bool:
    s = compact(text)
    if len(s) != LENGTH or any(c not in _VALUE for c in s):
        return False
    return sum((i + 1) * _VALUE[c] for i, c in enumerate(s)) % MODULUS == 0


def notice_id(batch: str, defendant_id: str, attempt: int = 0) -> str:
    """The notice ID of a defendant in a batch. ``attempt`` > 0 only to step past a collision."""
    seed = f"letters-notice-id\x00{batch}\x00{defendant_id}\x00{attempt}".encode("utf-8")
    n = int.from_bytes(hashlib.sha256(seed).digest(), "big")
    data = []
    for _ in range(DATA_LENGTH):
        n, r = divmod(n, MODULUS)
        data.append(ALPHABET[r])
    symbols = "".join(data)
    return format_id(symbols + check_symbol(symbols))


def one_edit_away(text: str) -> list[str]:
    """Valid IDs one typing slip from ``text``: a wrong, swapped, missing or extra symbol."""
    s = compact(text)
    candidates = set()
    for i in range(len(s)):
        for c in ALPHABET:
            candidates.add(s[:i] + c + s[i + 1:])          # substitution
        candidates.add(s[:i] + s[i + 1:])                  # extra symbol typed
    for i in range(len(s) - 1):
        candidates.add(s[:i] + s[i + 1] + s[i] + s[i + 2:])  # adjacent swap
    for i in range(len(s) + 1):
        for c in ALPHABET:
            candidates.add(s[:i] + c + s[i:])              # symbol left out
    candidates.discard(s)
    return sorted(format_id(c) for c in candidates if is_valid(c))
