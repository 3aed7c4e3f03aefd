"""Sealed chunks and envelopes: tampering of any kind is rejected."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from eth_account import Account

from ichain_tui.chain.wallet import public_key
from ichain_tui.transfer import crypto
from ichain_tui.transfer.errors import IntegrityError
from ichain_tui.transfer.locator import FileRef, decode_refs, encode_refs
from ichain_tui.transfer.manifest import Manifest, seal_folder, unseal_to_folder


@pytest.fixture
def sealed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "task.py").write_text("print(1)\n")
    (src / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return seal_folder(src, tmp_path / "sealed", chunks=3, segment_size=256 * 1024)


def chunk_paths(s):
    return [s.chunk_path(i) for i in range(len(s.manifest.chunks))]


def test_roundtrip(sealed, tmp_path):
    assert len(sealed.manifest.chunks) == 3
    assert unseal_to_folder(sealed.manifest, sealed.key, chunk_paths(sealed), tmp_path / "out") == 2
    assert (tmp_path / "out" / "data.bin").stat().st_size == 3 * 1024 * 1024 + 17


def test_every_segment_has_its_own_nonce(sealed):
    seg = sealed.manifest.segment_size + crypto.SEGMENT_OVERHEAD
    nonces = set()
    for path in chunk_paths(sealed):
        data = path.read_bytes()
        nonces.update(data[i : i + crypto.NONCE_BYTES] for i in range(0, len(data), seg))
    assert len(nonces) == sum(
        -(-c.plain_size // sealed.manifest.segment_size) for c in sealed.manifest.chunks
    )


def test_a_flipped_bit_is_rejected(sealed, tmp_path):
    path = sealed.chunk_path(1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=r"chunk 1 segment .* failed authentication"):
        unseal_to_folder(sealed.manifest, sealed.key, chunk_paths(sealed), tmp_path / "out")


def test_swapped_chunks_are_rejected(sealed, tmp_path):
    paths = chunk_paths(sealed)
    paths[0], paths[1] = paths[1], paths[0]
    with pytest.raises(IntegrityError, match="chunk 0"):
        unseal_to_folder(sealed.manifest, sealed.key, paths, tmp_path / "out")


def test_a_chunk_from_another_file_is_rejected(sealed, tmp_path):
    other_src = tmp_path / "other"
    other_src.mkdir()
    (other_src / "task.py").write_text("print(2)\n")
    other = seal_folder(other_src, tmp_path / "other_sealed", chunks=1)
    paths = chunk_paths(sealed)
    paths[2] = other.chunk_path(0)
    with pytest.raises(IntegrityError):
        unseal_to_folder(sealed.manifest, sealed.key, paths, tmp_path / "out")
    with pytest.raises(IntegrityError):  # and the wrong key opens nothing
        unseal_to_folder(sealed.manifest, other.key, chunk_paths(sealed), tmp_path / "out2")


def test_truncated_chunk_is_rejected(sealed, tmp_path):
    path = sealed.chunk_path(2)
    path.write_bytes(path.read_bytes()[: -crypto.TAG_BYTES])
    with pytest.raises(IntegrityError):
        unseal_to_folder(sealed.manifest, sealed.key, chunk_paths(sealed), tmp_path / "out")


def test_manifest_is_bound_to_its_root(sealed):
    raw = sealed.manifest.to_json()
    assert Manifest.from_json(raw, expected_root=sealed.root).root == sealed.root
    with pytest.raises(IntegrityError, match="commitment"):
        Manifest.from_json(raw, expected_root="00" * 32)
    tampered = raw.replace(sealed.manifest.chunks[0].sha256.encode(), b"0" * 64)
    with pytest.raises(IntegrityError, match="root does not match"):
        Manifest.from_json(tampered)
    with pytest.raises(IntegrityError, match="not valid JSON"):
        Manifest.from_json(b"{nonsense")


def _manifest_variant(sealed, **changes) -> bytes:
    data = json.loads(sealed.manifest.to_json())
    data.update(changes)
    # a float written as the literal 1e400 (what a hostile peer sends), not as "Infinity"
    return json.dumps(data).replace("Infinity", "1e400").encode()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"total_size": 1e400}, "total_size is not a size"),
        ({"total_size": 2**70}, "total_size is not a size"),
        ({"segment_size": -1}, "segment_size is not a size"),
        ({"file_id": "zz" * 16}, "file_id is not 16 bytes of hex"),
        ({"root": "ab"}, "root is not 32 bytes of hex"),
        (
            {"chunks": [{"index": 0, "plain_size": "1", "size": 2, "sha256": "00" * 32}]},
            "plain_size is not a size",
        ),
        ({"chunks": [[]]}, "malformed"),
        ({"chunks": []}, "unsupported shape"),
    ],
)
def test_hostile_manifest_fields_are_one_integrity_error(sealed, change, message):
    with pytest.raises(IntegrityError, match=message):
        Manifest.from_json(_manifest_variant(sealed, **change))


def test_deeply_nested_manifest_is_refused_even_with_the_agents_loaded(tmp_path):
    # py_ecc (loaded with the agents) raises the recursion limit to 100,000: a recursive parse of
    # 200 KB of "[" would overflow the C stack and kill the process instead of raising.
    script = (
        "import sys, ichain_tui.agents.provider\n"
        "from ichain_tui.transfer.manifest import Manifest\n"
        "from ichain_tui.transfer.errors import IntegrityError\n"
        "assert sys.getrecursionlimit() >= 100000\n"
        "for raw in (b'[' * 200_000, b'{\"a\":' * 100_000):\n"
        "    try:\n"
        "        Manifest.from_json(raw)\n"
        "    except IntegrityError as exc:\n"
        "        print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert done.stdout.count("nested more than 3 levels") == 2


def test_envelopes_open_only_with_the_recipients_eth_key():
    alice, bob = Account.create(), Account.create()
    ref = FileRef("ab" * 32, os.urandom(32), "tor", "x" * 56 + ".onion:80")
    payload = encode_refs([ref, FileRef("cd" * 32, os.urandom(32), "direct", "127.0.0.1:4000")])
    envelope = crypto.seal_envelope(public_key(alice), payload)
    assert decode_refs(crypto.open_envelope(alice.key, envelope))[0] == ref
    assert ref.key not in envelope and payload not in envelope
    with pytest.raises(IntegrityError, match="cannot be opened"):
        crypto.open_envelope(bob.key, envelope)
    flipped = bytearray(envelope)
    flipped[-1] ^= 1
    with pytest.raises(IntegrityError):
        crypto.open_envelope(alice.key, bytes(flipped))
    assert crypto.seal_envelope(public_key(alice), payload) != envelope  # fresh ephemeral key each time
    assert "key" not in repr(ref).lower().replace("filer", "")


def test_file_refs_reject_garbage():
    with pytest.raises(IntegrityError):
        decode_refs(b"\x01\x01" + b"\x00" * 10)
    with pytest.raises(IntegrityError):
        decode_refs(b"\x09")


def test_sealing_twice_uses_fresh_keys(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "task.py").write_text("print(1)\n")
    a = seal_folder(src, tmp_path / "a")
    b = seal_folder(src, tmp_path / "b")
    assert a.key != b.key and a.manifest.file_id != b.manifest.file_id and a.root != b.root
    shutil.rmtree(tmp_path / "a")


@pytest.mark.parametrize("field", ["chain_id", "market", "task_id", "role", "sender"])
def test_an_envelope_opens_only_in_the_context_it_was_sealed_for(field):
    """Issue 9: an envelope copied into another task, role, market, chain or from another sender
    does not open."""
    alice = Account.create()
    base = {
        "chain_id": 31337,
        "market": b"\x11" * 20,
        "task_id": 7,
        "role": "provider",
        "sender": b"\x22" * 20,
    }
    changed = {
        "chain_id": 1,
        "market": b"\x33" * 20,
        "task_id": 8,
        "role": "validator",
        "sender": b"\x44" * 20,
    }
    other = dict(base, **{field: changed[field]})
    envelope = crypto.seal_envelope(public_key(alice), b"refs", crypto.envelope_context(**base))
    assert crypto.open_envelope(alice.key, envelope, crypto.envelope_context(**base)) == b"refs"
    with pytest.raises(IntegrityError):
        crypto.open_envelope(alice.key, envelope, crypto.envelope_context(**other))
    with pytest.raises(IntegrityError):
        crypto.open_envelope(alice.key, envelope)  # no context at all


def test_the_result_key_needs_the_task_key_and_k2_of_this_task():
    task_key, k2, ctx = os.urandom(32), os.urandom(32), b"chain|market|task-7"
    key = crypto.result_key(task_key, k2, ctx)
    assert key == crypto.result_key(task_key, k2, ctx)  # requester and provider derive the same key
    assert key not in (task_key, k2)
    assert crypto.result_key(os.urandom(32), k2, ctx) != key  # K2 alone (public after a pass) is useless
    assert crypto.result_key(task_key, os.urandom(32), ctx) != key
    assert crypto.result_key(task_key, k2, b"chain|market|task-8") != key
