"""RFC 6962 Merkle trees: the batch root filed with the court, and inclusion proofs.

Leaf hash = SHA-256(0x00 ‖ leaf), node hash = SHA-256(0x01 ‖ left ‖ right); the root of the
empty tree is SHA-256 of nothing. A tree of n > 1 leaves splits at the largest power of two
smaller than n (RFC 6962 §2.1). Inclusion proofs follow §2.1.1 and are verified as in
RFC 9162 §2.1.3.2.

>>> root([]).hex()[:16]
'e3b0c44298fc1c14'
>>> root([b"", b"\\x00"]).hex()[:16]
'fac54203e7cc696c'
"""

from __future__ import annotations

import hashlib
from typing import Sequence


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_from_hashes(hashes: Sequence[bytes]) -> bytes:
    """Merkle tree hash over already-hashed leaves."""
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_hashes(hashes[:k]), root_from_hashes(hashes[k:]))


def root(leaves: Sequence[bytes]) -> bytes:
    """Merkle tree hash (MTH) of the leaf inputs."""
    return root_from_hashes([leaf_hash(x) for x in leaves])


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """Audit path for leaf ``index`` in a tree over leaf ``hashes`` (RFC 6962 PATH)."""
    n = len(hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return inclusion_proof(index, hashes[:k]) + [root_from_hashes(hashes[k:])]
    return inclusion_proof(index - k, hashes[k:]) + [root_from_hashes(hashes[:k])]


def verify_inclusion(index: int, size: int, leaf_hash_: bytes, proof: Sequence[bytes],
                     expected_root: bytes) -> bool:
    """True when ``proof`` shows leaf ``index`` (hash given) is in the tree of ``size`` with
    ``expected_root``. Any malformed input is simply False."""
    if not 0 <= index < size or any(len(p) != 32 for p in proof) or len(leaf_hash_) != 32:
        return False
    fn, sn = index, size - 1
    r = leaf_hash_
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
