"""The identity registry's interface (the methods the issuer service and the wallet call), as a
contract source for the service tests until the standard registry lands in vm/contracts/."""

SOURCE = '''
@constructor
def init():
    storage["admin"] = ctx.sender


@public
def add_issuer(issuer: address, name: str, topics: list):
    require(ctx.sender == storage["admin"], "not_admin")
    storage[("issuer", issuer)] = {"name": name, "topics": topics, "active": True}


@view
def issuer(issuer: address) -> dict:
    return storage.get(("issuer", issuer), {"name": "", "topics": [], "active": False})


@public
def attest(subject: address, topic: str, value: str, commitment: bytes, expiry_height: int, ref: bytes):
    info = storage.get(("issuer", ctx.sender), {"active": False, "topics": []})
    require(info["active"], "not_issuer")
    require(topic in info["topics"], "topic_not_allowed")
    require(len(commitment) == 32, "bad_commitment")
    require(expiry_height > ctx.height, "claim_expired")
    require(not storage.get(("ref", ctx.sender, ref), False), "ref_used")
    storage[("ref", ctx.sender, ref)] = True
    claim = {"topic": topic, "value": value, "issuer": ctx.sender, "commitment": commitment,
             "expiry_height": expiry_height, "revoked": False, "ref": ref}
    storage[("claim", subject, topic)] = claim
    storage[("byref", ctx.sender, ref)] = claim
    emit("ClaimAttested", subject, topic, ctx.sender, value, commitment, expiry_height, ref)


@view
def get_claim(subject: address, topic: str) -> dict:
    claim = storage.get(("claim", subject, topic), {})
    if len(claim) == 0:
        return {"status": "not_verified"}
    out = dict(claim)
    out["status"] = "claim_expired" if claim["expiry_height"] <= ctx.height else "ok"
    return out


@view
def claim_by_ref(issuer: address, ref: bytes) -> dict:
    return storage.get(("byref", issuer, ref), {})


@view
def check(subject: address, topics: list) -> str:
    for topic in topics:
        status = get_claim(subject, topic)["status"]
        if status != "ok":
            return status
    return ""
'''
