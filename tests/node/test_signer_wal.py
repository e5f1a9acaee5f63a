import logging

import pytest

from node.host.signer import DoubleSignRefused, Signer, SignerStateError
from node.host.wal import WAL, read_records
from node.types.block import PRECOMMIT, PREVOTE
from tests.node.helpers import CHAIN_ID, key


def test_signer_refuses_conflicts_across_restarts(tmp_path):
    path = tmp_path / "state.json"
    s = Signer(key(1), CHAIN_ID, path)
    a = s.sign_vote(PREVOTE, 5, 0, b"\x01" * 32)
    assert s.sign_vote(PREVOTE, 5, 0, b"\x01" * 32) == a  # same message: same signature
    with pytest.raises(DoubleSignRefused):
        s.sign_vote(PREVOTE, 5, 0, b"\x02" * 32)
    s.sign_vote(PRECOMMIT, 5, 0, None)
    again = Signer(key(1), CHAIN_ID, path)
    with pytest.raises(DoubleSignRefused):
        again.sign_vote(PRECOMMIT, 5, 0, b"\x01" * 32)
    with pytest.raises(DoubleSignRefused):
        again.sign_vote(PREVOTE, 5, 0, b"\x01" * 32)  # lower step
    with pytest.raises(DoubleSignRefused):
        again.sign_proposal(4, 9, b"\x01" * 32, -1)  # lower height
    again.sign_proposal(5, 1, b"\x03" * 32, -1)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"height": 1}',  # fields missing
        '{"height": "x", "round": 0, "step": 1, "digest": "", "signature": ""}',  # not a number
        "[]",  # not an object
    ],
)
def test_signer_refuses_to_start_on_a_corrupt_state(tmp_path, content):
    path = tmp_path / "state.json"
    path.write_text(content)
    with pytest.raises(SignerStateError, match="refusing to sign"):
        Signer(key(1), CHAIN_ID, path)


def test_signer_refuses_to_start_on_a_state_it_cannot_read(tmp_path):
    path = tmp_path / "state.json"
    path.mkdir()  # exists, but is no file
    with pytest.raises(SignerStateError, match="refusing to sign"):
        Signer(key(1), CHAIN_ID, path)


def test_wal_cuts_a_torn_tail_and_keeps_appending(tmp_path, caplog):
    path = tmp_path / "wal"
    wal = WAL(path)
    wal.start_height(3)
    wal.append(["V", 1, 3, 0, None, b"a" * 20, b"s" * 65])
    wal.append(["T", 1, 3, 0], sync=True)
    wal.close()
    good = path.read_bytes()
    path.write_bytes(good + b"\x00\x00\x01\x00garbage")
    with caplog.at_level(logging.WARNING):
        wal = WAL(path)
    assert "cutting" in caplog.text
    assert wal.records == [["H", 3], ["V", 1, 3, 0, None, b"a" * 20, b"s" * 65], ["T", 1, 3, 0]]
    wal.append(["T", 2, 3, 0], sync=True)
    wal.close()
    assert read_records(path)[0][-1] == ["T", 2, 3, 0]


def test_wal_corrupt_record_in_the_middle(tmp_path):
    path = tmp_path / "wal"
    wal = WAL(path)
    wal.start_height(1)
    wal.append(["T", 1, 1, 0])
    wal.append(["T", 2, 1, 0], sync=True)
    wal.close()
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF  # flip a byte of the last record: its checksum fails
    path.write_bytes(bytes(data))
    records, _ = read_records(path)
    assert records == [["H", 1], ["T", 1, 1, 0]]
