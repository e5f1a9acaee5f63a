"""Identity registry: trusted issuers attest claims about addresses; other contracts ask `check`.

The admin (the deployer, or whom it hands the role to) registers issuers, each with the claim
topics it may attest. A claim is one current record per (subject, topic): its value, its
issuer, a 32-byte commitment to the identity document (a Merkle root over salted fields, see
docs/finance.md; never the personal data itself), an expiry height and a reference the issuer
chose, which it can never use again. A claim counts while it is not revoked, has not expired,
its issuer is still active and still allowed that topic: removing an issuer, or a topic from
it, ends the effect of its claims at once without touching them one by one.

Every refusal reverts with a reason code from the table in docs/finance.md, and `check`
returns the same codes, so a product contract can pass them on unchanged.
"""

MAX_TOPICS = 32  # per issuer, and per check: bounds every loop here
MAX_TEXT = 128  # bytes of a name, topic, value or revocation reason
REF_BYTES = 32
COMMITMENT_BYTES = 32


@constructor
def init(issuers: list[address], topics: list[str]):
    """The deployer is the admin; `issuers` (possibly none) start registered for `topics`."""
    storage["admin"] = ctx.sender
    for issuer in issuers:
        register(issuer, "genesis issuer", topics)


@view
def admin() -> address:
    return storage["admin"]


@public
def transfer_admin(new_admin: address):
    require_admin()
    storage["admin"] = new_admin
    emit("AdminChanged", ctx.sender, new_admin)


@public
def add_issuer(issuer: address, name: str, topics: list[str]):
    """Register an issuer, or replace the name and topics of one (re-activating it)."""
    require_admin()
    register(issuer, name, topics)


@public
def remove_issuer(issuer: address):
    require_admin()
    info = storage.get(("issuer", issuer), None)
    require(info is not None and info["active"], "not_issuer")
    info["active"] = False
    storage["issuer", issuer] = info
    emit("IssuerRemoved", issuer)


@view
def issuer(issuer: address) -> dict:
    return storage.get(("issuer", issuer), {"name": "", "topics": [], "active": False})


@public
def attest(subject: address, topic: str, value: str, commitment: bytes, expiry_height: int, ref: bytes):
    info = storage.get(("issuer", ctx.sender), None)
    require(info is not None and info["active"], "not_issuer")
    require(topic in info["topics"], "topic_not_allowed")
    check_text(value)
    require(len(commitment) == COMMITMENT_BYTES, "bad_commitment")
    require(len(ref) == REF_BYTES, "bad_ref")
    # A claim always expires: an issuer's attestation is only as good as its last review.
    require(expiry_height > ctx.height, "claim_expired")
    require(not storage.get(("ref", ctx.sender, ref), False), "ref_used")
    storage["ref", ctx.sender, ref] = True
    claim = {"subject": subject, "topic": topic, "value": value, "issuer": ctx.sender, "commitment": commitment,
             "expiry_height": expiry_height, "revoked": False, "ref": ref, "height": ctx.height}
    storage["claim", subject, topic] = claim
    storage["byref", ctx.sender, ref] = [subject, topic]
    emit("ClaimAttested", subject, topic, ctx.sender, value, commitment, expiry_height, ref)


@public
def revoke(subject: address, topic: str, reason: str):
    """The claim's issuer, or the admin, ends a claim for good (a new attestation replaces it)."""
    check_text(reason)
    claim = storage.get(("claim", subject, topic), None)
    require(claim is not None, "not_verified")
    require(ctx.sender == claim["issuer"] or ctx.sender == storage["admin"], "not_issuer")
    require(not claim["revoked"], "claim_revoked")
    claim["revoked"] = True
    storage["claim", subject, topic] = claim
    emit("ClaimRevoked", subject, topic, claim["issuer"], reason)


@view
def get_claim(subject: address, topic: str) -> dict:
    claim = storage.get(("claim", subject, topic), None)
    if claim is None:
        return {"topic": topic, "status": "not_verified"}
    out = dict(claim)
    out["status"] = claim_status(claim)
    return out


@view
def claim_by_ref(issuer: address, ref: bytes) -> dict:
    """The claim an issuer attested with `ref`, as it is now ({} if the ref was never used).

    After a crash the issuer's service asks this before signing again. A claim since replaced
    by a newer attestation answers {"status": "replaced", ...}: the ref was used all the same.
    """
    where = storage.get(("byref", issuer, ref), None)
    if where is None:
        return {}
    claim = storage["claim", where[0], where[1]]
    if claim["ref"] != ref or claim["issuer"] != issuer:
        return {"subject": where[0], "topic": where[1], "ref": ref, "status": "replaced"}
    out = dict(claim)
    out["status"] = claim_status(claim)
    return out


@view
def is_verified(subject: address, topics: list[str]) -> bool:
    return check(subject, topics) == ""


@view
def check(subject: address, topics: list[str]) -> str:
    """"" when every topic has a claim that counts, else the reason code of the first that fails."""
    require(len(topics) <= MAX_TOPICS, "bad_topics")
    for topic in topics:
        claim = storage.get(("claim", subject, topic), None)
        if claim is None:
            return "not_verified"
        status = claim_status(claim)
        if status != "ok":
            return status
    return ""


def claim_status(claim):
    if claim["revoked"]:
        return "claim_revoked"
    info = storage.get(("issuer", claim["issuer"]), None)
    if info is None or not info["active"]:
        return "issuer_removed"
    if claim["topic"] not in info["topics"]:
        return "topic_not_allowed"
    if claim["expiry_height"] <= ctx.height:
        return "claim_expired"
    return "ok"


def register(issuer, name, topics):
    check_text(name)
    require(0 < len(topics) <= MAX_TOPICS, "bad_topics")
    for topic in topics:
        require(0 < len(topic) and len(topic.encode()) <= MAX_TEXT, "bad_topics")
    storage["issuer", issuer] = {"name": name, "topics": topics, "active": True}
    emit("IssuerAdded", issuer, name, topics)


def require_admin():
    require(ctx.sender == storage["admin"], "not_admin")


def check_text(text):
    require(len(text.encode()) <= MAX_TEXT, "text_too_long")
