"""Session command signatures: newest key signs, every key of the ring verifies."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydantic import SecretStr

from schemas.codec import decode_as, encode
from schemas.errors import SigningError
from schemas.events import SessionCommand
from schemas.signing import CommandSigner, SigningKey, SigningSettings, load_ring

OLD = ("k-old", b"old-key-0123456789abcdef")
NEW = ("k-new", b"new-key-0123456789abcdef")


def cmd(**kw: object) -> SessionCommand:
    fields: dict[str, object] = {
        "source": "test",
        "session_id": "s1",
        "command": "kill",
        "block_mode": "permanent",
        "issuer": "op",
        "decision_id": "d1",
    }
    return SessionCommand.model_validate(fields | kw)


def test_signature_survives_the_wire_and_covers_every_field() -> None:
    signer = CommandSigner((NEW,))
    signed = signer.sign(cmd())
    assert signed.signature is not None and signed.signature.startswith("v1:k-new:")
    assert signer.verify(decode_as(SessionCommand, encode(signed))) == "ok"
    for change in ({"command": "resume"}, {"session_id": "s2"}, {"block_mode": "duration"}):
        assert signer.verify(signed.model_copy(update=change)) == "bad_signature", change
    assert signer.verify(cmd()) == "unsigned"
    assert signer.verify(cmd(signature="v1:k-new:00")) == "bad_signature"
    assert signer.verify(cmd(signature="garbage")) == "bad_signature"
    assert signer.verify(CommandSigner((("x", b"y" * 20),)).sign(cmd())) == "unknown_key"


def test_rotation_newest_signs_all_verify() -> None:
    before = CommandSigner((OLD,)).sign(cmd())
    rotated = CommandSigner((NEW, OLD))
    assert rotated.verify(before) == "ok"
    assert rotated.sign(cmd()).signature.startswith("v1:k-new:")  # type: ignore[union-attr]
    assert CommandSigner((NEW,)).verify(before) == "unknown_key"  # old key retired


def test_weak_or_empty_rings_are_refused() -> None:
    with pytest.raises(SigningError):
        CommandSigner(())
    with pytest.raises(SigningError, match="shorter"):
        CommandSigner((("k", b"short"),))


def test_key_file_is_created_private_once_and_shared(tmp_path: Path) -> None:
    path = tmp_path / "data" / "command-keys.json"
    settings = SigningSettings(key_file=path)
    with ThreadPoolExecutor(8) as pool:  # the services of one `up` racing to create it
        signers = list(pool.map(lambda _: load_ring(settings), range(16)))
    assert len({s.ring for s in signers}) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["command-keys.json"]
    path.chmod(0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        load_ring(settings)


def test_explicit_keys_win_over_the_file(tmp_path: Path) -> None:
    keys = [SigningKey(id="k1", key=SecretStr("x" * 32))]
    signer = load_ring(SigningSettings(keys=keys, key_file=tmp_path / "absent.json"))
    assert signer.key_id == "k1" and not (tmp_path / "absent.json").exists()
