"""Encrypted key files in the Web3 Secret Storage format (version 3), as geth, MetaMask,
MyEtherWallet and ethers read and write them, so keys move between those wallets and ours.

A file is a JSON object::

    {"address": "<20 bytes, lowercase hex, no 0x>", "id": "<uuid4>", "version": 3,
     "crypto": {"cipher": "aes-128-ctr", "cipherparams": {"iv": "<16 bytes hex>"},
                "ciphertext": "<hex>", "kdf": "scrypt",
                "kdfparams": {"dklen": 32, "n": N, "r": R, "p": P, "salt": "<hex>"},
                "mac": "<hex of keccak256(derived_key[16:32] + ciphertext)>"}}

The AES-128 key is derived_key[:16]. We write scrypt; we also read kdf "pbkdf2" with prf
"hmac-sha256" (kdfparams c, dklen, prf, salt), which older tools wrote. We add an optional
"name" field (other wallets ignore unknown fields). The format's own test vectors are in
tests/node/test_keystore.py.

A Keystore is a folder of such files named as geth names them,
``UTC--<ISO 8601 time with '-' for ':'>--<address hex>``, written with mode 0600 in a 0700
folder, each atomically (temp file, fsync, rename) so a crash never leaves half a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from Crypto.Protocol.KDF import scrypt as crypto_scrypt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from node.types.crypto import (
    SECP256K1_N,
    AddressError,
    PrivateKey,
    keccak256,
    parse_address,
    to_checksum_address,
)

DEFAULT_SCRYPT_N = 1 << 18
DEFAULT_SCRYPT_R = 8
DEFAULT_SCRYPT_P = 1
DKLEN = 32
# A key file is untrusted input: bound the work and memory its KDF parameters can demand.
# 1 GiB of scrypt memory admits geth's "standard" (n=2**18, r=8: 256 MiB) with room to spare.
MAX_SCRYPT_MEMORY = 1 << 30
MAX_PBKDF2_ITERATIONS = 10_000_000
MAX_NAME_LENGTH = 64
_NAME_SHAPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_FILE_PREFIX = "UTC--"


class KeystoreError(Exception):
    """Base class of keystore errors."""


class WrongPassword(KeystoreError):
    """The MAC does not match: the password is wrong (or the file was altered)."""


class MalformedKeystore(KeystoreError):
    """The key file is not a valid or supported version-3 keystore."""


class KeyNotFound(KeystoreError):
    """No key in the keystore has that address or name."""


class DuplicateKey(KeystoreError):
    """The keystore already holds a key with that address or name."""


# -- the file format -----------------------------------------------------------------------


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    # pycryptodome, not OpenSSL (hashlib.scrypt, cryptography): OpenSSL enforces RFC 7914's
    # n < 2**(16 r), which the format's own test vector (n=2**18, r=1) and files written by
    # other wallets break. It is also ~3x faster here on geth's standard parameters.
    derived = crypto_scrypt(password, salt, DKLEN, N=n, r=r, p=p)  # type: ignore[arg-type]
    return bytes(derived)  # type: ignore[arg-type]


def _aes_128_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    # CTR mode: encryption and decryption are the same operation.
    transform = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return transform.update(data) + transform.finalize()


def _validate_scrypt_params(n: int, r: int, p: int, error: type[Exception]) -> None:
    for label, value in (("n", n), ("r", r), ("p", p)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise error(f"scrypt {label} must be a positive integer, got {value!r}")
    if n < 2 or n & (n - 1):
        raise error(f"scrypt n must be a power of two >= 2, got {n}")
    if 128 * r * n > MAX_SCRYPT_MEMORY or r * p >= 1 << 30:
        raise error(f"scrypt parameters n={n}, r={r}, p={p} need more than {MAX_SCRYPT_MEMORY >> 20} MiB")


def _validate_private_key(private_key: bytes) -> None:
    if not isinstance(private_key, bytes) or len(private_key) != 32:
        raise ValueError("a private key is 32 bytes")
    if not 0 < int.from_bytes(private_key, "big") < SECP256K1_N:
        raise ValueError("a private key must be in the range 1..n-1 of secp256k1")


def encrypt_key(
    private_key: bytes,
    password: str,
    *,
    n: int = DEFAULT_SCRYPT_N,
    r: int = DEFAULT_SCRYPT_R,
    p: int = DEFAULT_SCRYPT_P,
) -> dict[str, Any]:
    """The version-3 keystore JSON object (a dict) holding `private_key` under `password`."""
    _validate_private_key(private_key)
    _validate_scrypt_params(n, r, p, ValueError)
    salt = os.urandom(32)
    iv = os.urandom(16)
    derived = _scrypt(password.encode("utf-8"), salt, n, r, p)
    ciphertext = _aes_128_ctr(derived[:16], iv, private_key)
    mac = keccak256(derived[16:32] + ciphertext)
    return {
        "address": PrivateKey(private_key).address.hex(),
        "crypto": {
            "cipher": "aes-128-ctr",
            "cipherparams": {"iv": iv.hex()},
            "ciphertext": ciphertext.hex(),
            "kdf": "scrypt",
            "kdfparams": {"dklen": DKLEN, "n": n, "r": r, "p": p, "salt": salt.hex()},
            "mac": mac.hex(),
        },
        "id": str(uuid.uuid4()),
        "version": 3,
    }


def _field(obj: Any, name: str, where: str) -> Any:
    if not isinstance(obj, dict):
        raise MalformedKeystore(f"{where} must be a JSON object")
    if name not in obj:
        raise MalformedKeystore(f"{where} has no {name!r} field")
    return obj[name]


def _hex_field(obj: Any, name: str, where: str, length: int | None = None) -> bytes:
    text = _field(obj, name, where)
    if not isinstance(text, str):
        raise MalformedKeystore(f"{where}.{name} must be a hex string")
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise MalformedKeystore(f"{where}.{name} is not valid hex") from None
    if length is not None and len(raw) != length:
        raise MalformedKeystore(f"{where}.{name} must be {length} bytes, got {len(raw)}")
    return raw


def _int_field(obj: Any, name: str, where: str) -> int:
    value = _field(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MalformedKeystore(f"{where}.{name} must be a positive integer, got {value!r}")
    return value


def _derive_key(crypto: Any, password: bytes) -> bytes:
    kdf = _field(crypto, "kdf", "crypto")
    params = _field(crypto, "kdfparams", "crypto")
    if _int_field(params, "dklen", "crypto.kdfparams") != DKLEN:
        raise MalformedKeystore(f"crypto.kdfparams.dklen must be {DKLEN}")
    salt = _hex_field(params, "salt", "crypto.kdfparams")
    if kdf == "scrypt":
        n, r, p = (_int_field(params, k, "crypto.kdfparams") for k in ("n", "r", "p"))
        _validate_scrypt_params(n, r, p, MalformedKeystore)
        return _scrypt(password, salt, n, r, p)
    if kdf == "pbkdf2":
        prf = _field(params, "prf", "crypto.kdfparams")
        if prf != "hmac-sha256":
            raise MalformedKeystore(f"unsupported pbkdf2 prf {prf!r} (only hmac-sha256)")
        iterations = _int_field(params, "c", "crypto.kdfparams")
        if iterations > MAX_PBKDF2_ITERATIONS:
            raise MalformedKeystore(f"pbkdf2 iteration count {iterations} is above {MAX_PBKDF2_ITERATIONS}")
        return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, DKLEN)
    raise MalformedKeystore(f"unsupported kdf {kdf!r} (expected 'scrypt' or 'pbkdf2')")


def decrypt_key(keystore: dict[str, Any], password: str) -> bytes:
    """The 32-byte private key in a version-3 keystore object.

    Raises WrongPassword when the MAC does not match, MalformedKeystore when the object is
    not a valid keystore this code supports."""
    if not isinstance(keystore, dict):
        raise MalformedKeystore("a keystore must be a JSON object")
    version = keystore.get("version")
    if version != 3 or isinstance(version, bool):
        raise MalformedKeystore(f"unsupported keystore version {version!r} (expected 3)")
    # geth wrote "Crypto" before 1.4; both spellings are in the wild.
    crypto = keystore.get("crypto", keystore.get("Crypto"))
    if crypto is None:
        raise MalformedKeystore("keystore has no 'crypto' field")
    cipher = _field(crypto, "cipher", "crypto")
    if cipher != "aes-128-ctr":
        raise MalformedKeystore(f"unsupported cipher {cipher!r} (expected 'aes-128-ctr')")
    iv = _hex_field(_field(crypto, "cipherparams", "crypto"), "iv", "crypto.cipherparams", 16)
    ciphertext = _hex_field(crypto, "ciphertext", "crypto")
    mac = _hex_field(crypto, "mac", "crypto", 32)
    if len(ciphertext) != 32:
        raise MalformedKeystore(
            f"crypto.ciphertext must be 32 bytes (a secp256k1 key), got {len(ciphertext)}"
        )
    derived = _derive_key(crypto, password.encode("utf-8"))
    if not hmac.compare_digest(keccak256(derived[16:32] + ciphertext), mac):
        raise WrongPassword("wrong password: the keystore MAC does not match")
    private_key = _aes_128_ctr(derived[:16], iv, ciphertext)
    try:
        _validate_private_key(private_key)
    except ValueError as exc:
        raise MalformedKeystore(f"the decrypted key is invalid: {exc}") from None
    address = keystore.get("address")
    if address is not None:
        if not isinstance(address, str):
            raise MalformedKeystore("address must be a hex string")
        if address.lower().removeprefix("0x") != PrivateKey(private_key).address.hex():
            raise MalformedKeystore("the address field does not match the decrypted key")
    return private_key


# -- a folder of key files -----------------------------------------------------------------


def _looks_like_address(text: str) -> bool:
    body = text[2:] if text[:2] in ("0x", "0X") else text
    return len(body) == 40 and all(ch in "0123456789abcdefABCDEF" for ch in body)


def _normalize_address(text: str) -> bytes | None:
    """The 20 bytes of `text` if it is an address (with or without 0x; mixed case must pass
    EIP-55), else None. Raises KeyNotFound for an address with a bad checksum, rather than
    silently searching for it as a name."""
    if not _looks_like_address(text):
        return None
    body = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        return parse_address("0x" + body)
    except AddressError as exc:
        raise KeyNotFound(f"{text}: {exc}") from None


class Keystore:
    """A folder of version-3 key files, addressed by EIP-55 address or by name."""

    def __init__(self, folder: Path, *, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self.folder = Path(folder)
        # Tests and devnets lower n: the default costs about a second and 256 MiB per key.
        self.scrypt_n = scrypt_n

    def new(self, password: str, name: str | None = None) -> str:
        """Generate a key, store it encrypted, and return its EIP-55 address."""
        return self.import_key(PrivateKey.generate().secret, password, name)

    def import_key(self, private_key: bytes, password: str, name: str | None = None) -> str:
        """Store `private_key` encrypted under `password`; returns its EIP-55 address."""
        _validate_private_key(private_key)
        if name is not None:
            self._validate_name(name)
        address = PrivateKey(private_key).address
        for existing_address, existing_name, path in self.list():
            if parse_address(existing_address) == address:
                raise DuplicateKey(f"the keystore already holds {existing_address} ({path.name})")
            if name is not None and existing_name == name:
                raise DuplicateKey(f"the name {name!r} is already used by {existing_address}")
        document = encrypt_key(private_key, password, n=self.scrypt_n)
        if name is not None:
            document["name"] = name
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%S.%fZ")
        self._write_atomically(f"{_FILE_PREFIX}{stamp}--{address.hex()}", json.dumps(document, indent=2))
        return to_checksum_address(address)

    def list(self) -> list[tuple[str, str | None, Path]]:
        """(EIP-55 address, name or None, path) of every key file, sorted. Files that are not
        keystores (other names, unreadable JSON, no valid address) are skipped, as geth does."""
        if not self.folder.is_dir():
            return []
        found: list[tuple[str, str | None, Path]] = []
        for path in self.folder.iterdir():
            if path.name.startswith(".") or not path.is_file():
                continue  # our temp files start with "."
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                address = bytes.fromhex(str(document["address"]).lower().removeprefix("0x"))
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if len(address) != 20:
                continue
            name = document.get("name")
            found.append((to_checksum_address(address), name if isinstance(name, str) else None, path))
        return sorted(found, key=lambda item: (item[0].lower(), item[1] or "", str(item[2])))

    def find(self, address_or_name: str) -> Path:
        """The file of the key with this address (0x optional, EIP-55 checked if mixed case)
        or name. Raises KeyNotFound."""
        address = _normalize_address(address_or_name)
        for entry_address, entry_name, path in self.list():
            if address is not None and parse_address(entry_address) == address:
                return path
            if address is None and entry_name == address_or_name:
                return path
        raise KeyNotFound(f"no key {address_or_name!r} in {self.folder}")

    def export_key(self, address_or_name: str, password: str) -> bytes:
        """The decrypted private key. Raises KeyNotFound, WrongPassword or MalformedKeystore."""
        path = self.find(address_or_name)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MalformedKeystore(f"{path}: not a readable JSON file: {exc}") from None
        try:
            return decrypt_key(document, password)
        except MalformedKeystore as exc:
            raise MalformedKeystore(f"{path}: {exc}") from None

    @staticmethod
    def _validate_name(name: str) -> None:
        if not isinstance(name, str) or not _NAME_SHAPE.fullmatch(name) or len(name) > MAX_NAME_LENGTH:
            raise ValueError(
                f"a key name is 1 to {MAX_NAME_LENGTH} letters, digits, '.', '_' or '-', "
                f"starting with a letter or digit; got {name!r}"
            )
        if _looks_like_address(name):
            raise ValueError("a key name must not look like an address")

    def _write_atomically(self, filename: str, text: str) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600, so the key is never readable by others.
        fd, temp_name = tempfile.mkstemp(prefix=".tmp-", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, self.folder / filename)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        # Make the rename itself durable.
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
