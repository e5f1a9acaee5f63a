"""The commitment and disclosure rules, as properties over random documents, and every refusal's code."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance.errors import (
    BadDisclosure,
    BadDocument,
    BadHolderSignature,
    ChallengeMismatch,
    ClaimInvalid,
    DisclosureMismatch,
    PredicateFalse,
)
from finance.identity.commitment import SaltedDocument
from finance.identity.disclosure import Disclosure, Predicate, create_disclosure, verify_disclosure
from node.types.crypto import PrivateKey

KEY = PrivateKey((5).to_bytes(32, "big"))
names = st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True)
documents = st.dictionaries(names, st.text(max_size=30), min_size=1, max_size=20)


def claim(doc: SaltedDocument, status: str = "ok") -> dict:
    return {"status": status, "commitment": "0x" + doc.root().hex(), "issuer": "0x" + "22" * 20,
            "expiry_height": "1000"}


@settings(max_examples=60, deadline=None)
@given(documents, st.data())
def test_every_field_discloses_and_verifies(document, data):
    doc = SaltedDocument.create(document)
    field = data.draw(st.sampled_from(sorted(document)))
    d = create_disclosure(doc, field, KEY, "kyc.basic", "c")
    again = Disclosure.from_json(d.to_json())
    assert again == d
    assert verify_disclosure(again, claim(doc), "c").value == document[field]


@settings(max_examples=60, deadline=None)
@given(documents, st.data())
def test_a_tampered_disclosure_never_verifies(document, data):
    doc = SaltedDocument.create(document)
    field = data.draw(st.sampled_from(sorted(document)))
    proof = create_disclosure(doc, field, KEY, "kyc.basic").to_json()
    what = data.draw(st.sampled_from(["value", "salt", "index", "count", "path", "field"]))
    if what == "value":
        proof["value"] += "x"
    elif what == "salt":
        proof["salt"] = "0x" + bytes(16).hex() if proof["salt"] != "0x" + bytes(16).hex() else "0x" + "01" * 16
    elif what == "index":
        proof["index"] = (proof["index"] + 1) % proof["count"] if proof["count"] > 1 else 1
    elif what == "count":
        proof["count"] += 1
    elif what == "path":
        proof["path"] = [*proof["path"], "0x" + "ab" * 32]
    else:
        proof["field"] = "zz" + proof["field"]
    with pytest.raises((DisclosureMismatch, BadDisclosure)):
        verify_disclosure(Disclosure.from_json(proof), claim(doc))


def test_documents_of_other_sizes_never_share_a_root():
    # The root binds the leaf count: a carried-up last node does not make {a, b, c} equal {a, b, c, c}.
    a = SaltedDocument.create({"a": "1", "b": "2", "c": "3"}, {n: b"\x01" * 16 for n in "abc"})
    b = SaltedDocument.create({"a": "1", "b": "2", "c": "3", "d": "3"}, {n: b"\x01" * 16 for n in "abcd"})
    assert a.root() != b.root()


@pytest.mark.parametrize("document", [
    {}, {"Name": "x"}, {"a": 5}, {"a": "x" * 1025}, {"1a": "x"}, {f"f{i}": "x" for i in range(65)},
    {"a": "\ud800"}, [],
])
def test_bad_documents_are_refused(document):
    with pytest.raises(BadDocument):
        SaltedDocument.create(document)


def test_refusals_have_their_codes():
    doc = SaltedDocument.create({"birth_date": "2010-03-01", "country": "DE"})
    d = create_disclosure(doc, "birth_date", KEY, "kyc.basic", "n1", Predicate("before", "2008-01-01"))
    with pytest.raises(PredicateFalse):
        verify_disclosure(d, claim(doc))
    plain = create_disclosure(doc, "country", KEY, "kyc.basic", "n1")
    with pytest.raises(ChallengeMismatch):
        verify_disclosure(plain, claim(doc), "n2")
    for status in ("not_verified", "claim_expired", "claim_revoked", "issuer_removed"):
        with pytest.raises(ClaimInvalid) as info:
            verify_disclosure(plain, claim(doc, status))
        assert info.value.to_data()["reason"] == status
    other = SaltedDocument.create({"birth_date": "2010-03-01", "country": "DE"})  # fresh salts
    with pytest.raises(DisclosureMismatch):
        verify_disclosure(plain, claim(other))
    forged = Disclosure.from_json({**plain.to_json(), "subject": "0x" + "33" * 20})
    with pytest.raises(BadHolderSignature):
        verify_disclosure(forged, claim(doc))
    stolen = create_disclosure(doc, "country", PrivateKey((6).to_bytes(32, "big")), "kyc.basic", "n1")
    with pytest.raises(BadHolderSignature):
        verify_disclosure(Disclosure.from_json({**stolen.to_json(), "subject": plain.to_json()["subject"]}),
                          claim(doc))


@pytest.mark.parametrize("change", [
    {"version": 2}, {"salt": "0x00"}, {"index": "0"}, {"path": "x"}, {"signature": "zz"}, {"subject": "0x12"},
    {"predicate": {"op": "older", "value": "x"}}, {"predicate": {"op": "before", "value": "2008-13-01"}},
    {"extra": 1},
])
def test_malformed_disclosures_are_refused(change):
    doc = SaltedDocument.create({"country": "DE"})
    proof = {**create_disclosure(doc, "country", KEY, "kyc.basic").to_json(), **change}
    with pytest.raises(BadDisclosure):
        Disclosure.from_json(proof)
