from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from node.client.keystore import (
    DuplicateKey,
    KeyNotFound,
    Keystore,
    KeystoreError,
    MalformedKeystore,
    WrongPassword,
    decrypt_key,
    encrypt_key,
)
from node.types.crypto import PrivateKey, keccak256, to_checksum_address

FAST_N = 1 << 10  # the official parameters cost ~0.5 s per derivation; the tests need many

# The test vectors of the Web3 Secret Storage Definition (ethereum.org, "Web3 secret storage
# definition", Test vectors), also in go-ethereum's accounts/keystore/testdata/v3_test_vector.json.
# Note the scrypt vector's r=1, p=8: the reverse of the usual r=8, p=1.
VECTOR_PASSWORD = "testpassword"
VECTOR_PRIVATE_KEY = bytes.fromhex("7a28b5ba57c53603b0b07b56bba752f7784bf506fa95edc395f5cf6c7514fe9d")
VECTOR_ADDRESS = "008aeeda4d805471df9b2a5b0f38a0c3bcba786b"
VECTOR_PBKDF2: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "6087dab2f9fdbbfaddc31a909735c1e6"},
        "ciphertext": "5318b4d5bcd28de64ee5559e671353e16f075ecae9f99c7a79a38af5f869aa46",
        "kdf": "pbkdf2",
        "kdfparams": {
            "c": 262144,
            "dklen": 32,
            "prf": "hmac-sha256",
            "salt": "ae3cd4e7013836a3df6bd7241b12db061dbe2c6785853cce422d148a624ce0bd",
        },
        "mac": "517ead924a9d0dc3124507e3393d175ce3ff7c1e96529c6c555ce9e51205e9b2",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}
VECTOR_SCRYPT: dict[str, Any] = {
    "crypto": {
        "cipher": "aes-128-ctr",
        "cipherparams": {"iv": "83dbcc02d8ccb40e466191a123791e0e"},
        "ciphertext": "d172bf743a674da9cdad04534d56926ef8358534d458fffccd4e6ad2fbde479c",
        "kdf": "scrypt",
        "kdfparams": {
            "dklen": 32,
            "n": 262144,
            "p": 8,
            "r": 1,
            "salt": "ab0c7876052600dd703518d6fc3fe8984592145b591fc8fb5c6d43190334ba19",
        },
        "mac": "2103ac29920d71da29f15d75b4a16dbe95cfd7ff8faea1056c33131d846e3097",
    },
    "id": "3198bc9c-6672-5ab3-d995-4942343ae5b6",
    "version": 3,
}


@pytest.mark.parametrize("vector", [VECTOR_SCRYPT, VECTOR_PBKDF2], ids=["scrypt", "pbkdf2"])
def test_official_vectors(vector: dict[str, Any]) -> None:
    # The vectors carry no address; wallets add one, and it must match the key.
    with_address = {**vector, "address": VECTOR_ADDRESS}
    assert decrypt_key(with_address, VECTOR_PASSWORD) == VECTOR_PRIVATE_KEY
    assert PrivateKey(VECTOR_PRIVATE_KEY).address.hex() == VECTOR_ADDRESS


def test_official_vector_wrong_password() -> None:
    with pytest.raises(WrongPassword):
        decrypt_key(VECTOR_PBKDF2, "testpassword!")
    assert decrypt_key(VECTOR_PBKDF2, VECTOR_PASSWORD) == VECTOR_PRIVATE_KEY  # also without an address


def test_encrypt_round_trip_and_shape() -> None:
    key = PrivateKey.generate().secret
    document = encrypt_key(key, "pässwörd", n=FAST_N)
    assert decrypt_key(document, "pässwörd") == key
    assert document["version"] == 3
    assert document["address"] == PrivateKey(key).address.hex()
    assert len(document["id"]) == 36 and document["id"][14] == "4"  # a uuid4
    crypto = document["crypto"]
    assert crypto["cipher"] == "aes-128-ctr" and crypto["kdf"] == "scrypt"
    salt = crypto["kdfparams"]["salt"]
    assert crypto["kdfparams"] == {"dklen": 32, "n": FAST_N, "r": 8, "p": 1, "salt": salt}
    assert len(bytes.fromhex(crypto["kdfparams"]["salt"])) == 32
    assert len(bytes.fromhex(crypto["cipherparams"]["iv"])) == 16
    json.dumps(document)  # plain JSON types only
    # The defaults are geth's "standard" parameters.
    assert encrypt_key.__kwdefaults__ == {"n": 1 << 18, "r": 8, "p": 1}


def test_mac_is_keccak_of_derived_key_and_ciphertext() -> None:
    import hashlib

    document = encrypt_key(PrivateKey.generate().secret, "pw", n=FAST_N, r=1, p=1)
    params = document["crypto"]["kdfparams"]
    derived = hashlib.scrypt(b"pw", salt=bytes.fromhex(params["salt"]), n=FAST_N, r=1, p=1, dklen=32)
    ciphertext = bytes.fromhex(document["crypto"]["ciphertext"])
    assert keccak256(derived[16:32] + ciphertext).hex() == document["crypto"]["mac"]


def test_wrong_password() -> None:
    document = encrypt_key(PrivateKey.generate().secret, "right", n=FAST_N)
    with pytest.raises(WrongPassword, match="wrong password"):
        decrypt_key(document, "wrong")
    assert issubclass(WrongPassword, KeystoreError)


def _mutate(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(document)
    *parents, last = path.split(".")
    target = out
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("version", 1, "version 1"),
        ("version", _DELETE, "version None"),
        ("crypto", _DELETE, "no 'crypto'"),
        ("crypto", "x", "crypto must be a JSON object"),
        ("crypto.cipher", "aes-128-cbc", "unsupported cipher"),
        ("crypto.kdf", "argon2", "unsupported kdf"),
        ("crypto.mac", "zz", "crypto.mac is not valid hex"),
        ("crypto.mac", "00", "crypto.mac must be 32 bytes"),
        ("crypto.ciphertext", _DELETE, "no 'ciphertext'"),
        ("crypto.ciphertext", "00" * 31, "must be 32 bytes"),
        ("crypto.cipherparams.iv", "00" * 8, "iv must be 16 bytes"),
        ("crypto.kdfparams.n", 1000, "power of two"),
        ("crypto.kdfparams.n", 1 << 30, "MiB"),
        ("crypto.kdfparams.n", "1024", "positive integer"),
        ("crypto.kdfparams.dklen", 16, "dklen must be 32"),
        ("crypto.kdfparams.salt", 5, "salt must be a hex string"),
        ("address", "00" * 20, "does not match"),
    ],
)
def test_malformed(path: str, value: Any, message: str) -> None:
    document = encrypt_key(PrivateKey.generate().secret, "pw", n=FAST_N)
    with pytest.raises(MalformedKeystore, match=message):
        decrypt_key(_mutate(document, path, value), "pw")


def test_malformed_pbkdf2() -> None:
    with pytest.raises(MalformedKeystore, match="prf"):
        decrypt_key(_mutate(VECTOR_PBKDF2, "crypto.kdfparams.prf", "hmac-sha1"), VECTOR_PASSWORD)
    with pytest.raises(MalformedKeystore, match="iteration count"):
        decrypt_key(_mutate(VECTOR_PBKDF2, "crypto.kdfparams.c", 10**9), VECTOR_PASSWORD)
    with pytest.raises(MalformedKeystore, match="a keystore must be a JSON object"):
        decrypt_key([], VECTOR_PASSWORD)  # type: ignore[arg-type]


def test_old_geth_capitalised_crypto() -> None:
    key = PrivateKey.generate().secret
    document = encrypt_key(key, "pw", n=FAST_N)
    document["Crypto"] = document.pop("crypto")
    assert decrypt_key(document, "pw") == key


def test_encrypt_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        encrypt_key(b"\x01" * 31, "pw", n=FAST_N)
    with pytest.raises(ValueError, match="range"):
        encrypt_key(bytes(32), "pw", n=FAST_N)
    with pytest.raises(ValueError, match="power of two"):
        encrypt_key(b"\x01" * 32, "pw", n=1000)


# -- the folder ----------------------------------------------------------------------------


def test_keystore_folder(tmp_path: Path) -> None:
    folder = tmp_path / "keystore"
    store = Keystore(folder, scrypt_n=FAST_N)
    assert store.list() == []
    address = store.new("pw", name="alice")
    assert address == to_checksum_address(bytes.fromhex(address[2:]))
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (path,) = folder.iterdir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.name.startswith("UTC--") and path.name.endswith("--" + address[2:].lower())
    document = json.loads(path.read_text())
    assert document["address"] == address[2:].lower() and document["name"] == "alice"

    imported = store.import_key(VECTOR_PRIVATE_KEY, "other")
    assert imported.lower() == "0x" + VECTOR_ADDRESS
    listed = store.list()
    assert sorted(listed, key=lambda e: e[0].lower()) == listed
    assert {(a, n) for a, n, _ in listed} == {(address, "alice"), (imported, None)}
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temp files left

    all_caps = "0x" + address[2:].upper()
    for query in ["alice", address, address.lower(), address[2:].lower(), all_caps]:
        assert store.find(query) == path
    assert store.export_key("alice", "pw") == decrypt_key(document, "pw")
    assert store.export_key(imported, "other") == VECTOR_PRIVATE_KEY
    with pytest.raises(WrongPassword):
        store.export_key("alice", "nope")
    with pytest.raises(KeyNotFound):
        store.find("bob")
    with pytest.raises(KeyNotFound):
        store.find("0x" + "11" * 20)
    bad_checksum = address[:2] + "".join(c.swapcase() if c.isalpha() else c for c in address[2:])
    if bad_checksum != address and any(c.isalpha() for c in address[2:]):
        with pytest.raises(KeyNotFound, match="checksum"):
            store.find(bad_checksum)


def test_keystore_duplicates_and_names(tmp_path: Path) -> None:
    store = Keystore(tmp_path, scrypt_n=FAST_N)
    store.import_key(VECTOR_PRIVATE_KEY, "pw", name="main")
    with pytest.raises(DuplicateKey, match="already holds"):
        store.import_key(VECTOR_PRIVATE_KEY, "pw")
    with pytest.raises(DuplicateKey, match="name 'main'"):
        store.new("pw", name="main")
    for bad in ["", " x", "a/b", "x" * 65, "0x" + "ab" * 20, "ab" * 20]:
        with pytest.raises(ValueError):
            store.new("pw", name=bad)
    assert len(store.list()) == 1


def test_keystore_skips_foreign_files_and_reports_malformed(tmp_path: Path) -> None:
    store = Keystore(tmp_path, scrypt_n=FAST_N)
    address = store.import_key(VECTOR_PRIVATE_KEY, "pw")
    (tmp_path / "README").write_text("not a key")
    (tmp_path / ".tmp-123").write_text("{}")
    (tmp_path / "broken.json").write_text('{"address": "zz"}')
    assert [entry[0] for entry in store.list()] == [address]
    # A key file whose crypto section is damaged: a clear error naming the file and the field.
    path = store.find(address)
    document = json.loads(path.read_text())
    document["crypto"]["kdfparams"].pop("salt")
    path.write_text(json.dumps(document))
    with pytest.raises(MalformedKeystore, match=r"UTC--.*no 'salt' field"):
        store.export_key(address, "pw")
    path.write_text('{"address": "' + address[2:] + '", "crypto": ')
    # Truncated JSON is no longer listed, so it cannot be found either.
    with pytest.raises(KeyNotFound):
        store.export_key(address, "pw")
