import pytest

from node.types.crypto import (
    HALF_N,
    SECP256K1_N,
    AddressError,
    PrivateKey,
    SignatureError,
    parse_address,
    recover_address,
    sha256,
    to_checksum_address,
)


def test_known_address_vector():
    # The private key / address pair of the Ethereum keystore documentation.
    k = PrivateKey.from_hex("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
    assert to_checksum_address(k.address) == "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@pytest.mark.parametrize(
    "addr",
    [
        "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
        "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
        "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
        "0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
    ],
)
def test_eip55_vectors(addr):
    assert to_checksum_address(parse_address(addr)) == addr


def test_bad_checksum_rejected():
    with pytest.raises(AddressError, match="checksum"):
        parse_address("0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD")
    with pytest.raises(AddressError):
        parse_address("0x1234")


def test_sign_recover_and_low_s():
    k = PrivateKey.generate()
    d = sha256(b"message")
    sig = k.sign(d)
    assert int.from_bytes(sig[32:64], "big") <= HALF_N
    assert recover_address(d, sig) == k.address


def test_high_s_rejected():
    k = PrivateKey.generate()
    d = sha256(b"message")
    sig = k.sign(d)
    s = int.from_bytes(sig[32:64], "big")
    high = sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([sig[64] ^ 1])
    with pytest.raises(SignatureError, match="high-S"):
        recover_address(d, high)
