"""The path finder's quote (node/rpc/paths.py) is what the payments contract then does: over random
pools and amounts, in both modes, the best route's amounts, rate and price impact equal the
contract's output and the swap's `quote` view, and the payment goes through at exactly the quoted
bounds."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.rpc.paths import Pool, find_routes
from tests.vm.payments_world import UNIT, make_world, pay_args

reserve = st.integers(min_value=10**6, max_value=10**7 * UNIT)
LINKS = [(0, 1), (1, 2), (0, 2), (0, 3), (2, 3)]


def read_pools(w):
    return [Pool(bytes(t0), bytes(t1), r0, r1) for t0, t1, r0, r1 in w.chain.query(w.swap, "pools", [0, 100])]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(res=st.tuples(*[st.tuples(reserve, reserve) for _ in LINKS]),
       ends=st.sampled_from([(0, 1), (1, 3), (3, 1), (2, 0), (1, 1)]),
       amount=st.integers(min_value=1, max_value=10**5 * UNIT), exact=st.booleans())
def test_quote_equals_execution(res, ends, amount, exact):
    w = make_world(users=2, pools=tuple((i, j, ri, rj) for (i, j), (ri, rj) in zip(LINKS, res, strict=True)))
    alice, bob = w.users
    send, deliver = w.tokens[ends[0]], w.tokens[ends[1]]
    routes = find_routes(read_pools(w), bytes(send), bytes(deliver),
                         amount_out=amount if exact else None, amount_in=None if exact else amount, limit=3)
    if not routes:
        return
    if exact:
        assert [r.spent for r in routes] == sorted(r.spent for r in routes)
    else:
        assert [r.delivered for r in routes] == sorted((r.delivered for r in routes), reverse=True)
    best = routes[0]
    path = [t for t in w.tokens if bytes(t) in best.path]
    path.sort(key=lambda t: best.path.index(bytes(t)))
    if len(path) > 1:
        q = w.chain.query(w.swap, "quote", [best.spent, path])
        assert list(q["amounts"])[-1] >= best.delivered
        if not exact:
            assert list(q["amounts"]) == list(best.amounts) and q["price_impact_bps"] == best.impact_bps
    if exact:
        args = pay_args(bob, send, deliver, best.spent, deliver_amount=best.delivered, path=path if len(path) > 1
                        else None)
    else:
        args = pay_args(bob, send, deliver, best.spent, deliver_min=best.delivered, path=path if len(path) > 1
                        else None)
    out = w.chain.call(alice, w.pay, "pay", args)
    assert out.ok, out.error
    assert out.output["spent"] == best.spent and out.output["delivered_amount"] == best.delivered
    assert list(out.output["amounts"]) == list(best.amounts) and out.output["rate"] == best.rate
