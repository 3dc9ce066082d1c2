"""RFC 6962 roots and inclusion proofs against published test vectors (tests/data/rfc6962)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from letters import merkle
from tests.conftest import ROOT

VECTORS = ROOT / "tests" / "data" / "rfc6962"


def test_roots_reproduce_every_published_value():
    data = json.loads((VECTORS / "roots.json").read_text())
    leaves = [bytes.fromhex(x) for x in data["leaf_inputs_hex"]]
    for n, expected in enumerate(data["roots_hex_by_size"]):
        assert merkle.root(leaves[:n]).hex() == expected, n


INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))


def test_every_vector_file_is_there():
    # an empty folder would leave the test below with no cases, passing vacuously
    assert len(INCLUSION) == 98
    assert sum(json.loads(p.read_text())["wantErr"] is False for p in INCLUSION) == 6


@pytest.mark.parametrize("path", INCLUSION, ids=lambda p: str(p.relative_to(VECTORS)))
def test_inclusion_vectors(path: Path):
    v = json.loads(path.read_text())

    def b64(x):
        return base64.b64decode(x) if x else b""

    ok = merkle.verify_inclusion(v["leafIdx"], v["treeSize"], b64(v["leafHash"]),
                                 [b64(p) for p in v["proof"] or []], b64(v["root"]))
    assert ok is (not v["wantErr"]), v["desc"]


def test_every_proof_we_emit_verifies_and_a_wrong_one_does_not():
    for n in range(1, 40):
        leaves = [f"leaf {i}".encode() for i in range(n)]
        hashes = [merkle.leaf_hash(x) for x in leaves]
        r = merkle.root(leaves)
        for i in range(n):
            proof = merkle.inclusion_proof(i, hashes)
            assert merkle.verify_inclusion(i, n, hashes[i], proof, r)
            if n > 1:
                assert not merkle.verify_inclusion((i + 1) % n, n, hashes[i], proof, r)
