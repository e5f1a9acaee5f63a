"""Property tests of path payments over random pools, amounts, modes and paths (one to three hops):
a payment that goes through never delivers less than deliver_min (or other than deliver_amount)
and never spends more than send_max; every token is conserved (the sum over all holders, the
pools' reserves included, is unchanged) and the payments contract keeps nothing; a refused
payment changes nothing at all."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.vm.payments_world import UNIT, balances, make_world, pay_args, reserves, token_totals

reserve = st.integers(min_value=10**4, max_value=10**6 * UNIT)
pools = st.tuples(*[st.tuples(reserve, reserve) for _ in range(4)])
paths = st.sampled_from([[0, 1], [1, 0], [0, 1, 2], [2, 1, 0], [0, 3], [3, 0, 1, 2], [1, 0, 3], [0, 0]])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pools=pools, path=paths, amount=st.integers(min_value=1, max_value=10**5 * UNIT),
       bound=st.integers(min_value=1, max_value=10**5 * UNIT), exact=st.booleans(), explicit=st.booleans())
def test_path_payment_bounds_and_conservation(pools, path, amount, bound, exact, explicit):
    links = [(0, 1), (1, 2), (0, 3), (2, 3)]
    w = make_world(users=2, pools=tuple((i, j, ri, rj) for (i, j), (ri, rj) in zip(links, pools, strict=True)))
    toks = w.tokens
    alice, bob = w.users
    route = [toks[i] for i in path] if path[0] != path[-1] else []
    send, deliver = toks[path[0]], toks[path[-1]]
    if exact:
        args = pay_args(bob, send, deliver, bound, deliver_amount=amount, path=route if explicit else None)
    else:
        args = pay_args(bob, send, deliver, amount, deliver_min=bound, path=route if explicit else None)
    if not explicit and len(path) > 2:
        args[6] = route  # no direct pair for these: the path is needed
    totals, before, pools_before = token_totals(w), balances(w), reserves(w)
    res = w.chain.call(alice, w.pay, "pay", args)
    event("ok" if res.ok else res.error)
    after = balances(w)
    assert token_totals(w) == totals
    if not res.ok:
        assert after == before and reserves(w) == pools_before and not res.events
        return
    spent = before[(bytes(send), bytes(alice))] - after[(bytes(send), bytes(alice))]
    got = after[(bytes(deliver), bytes(bob))] - before[(bytes(deliver), bytes(bob))]
    if send == deliver:
        assert spent == got
    assert spent == res.output["spent"] and got == res.output["delivered_amount"]
    if exact:
        assert got == amount and spent <= bound
    else:
        assert got >= bound and spent == amount
    for tok in toks:
        assert after[(bytes(tok), bytes(w.pay))] == 0
        # the swap holds exactly the reserves of every pool of that token
        t = bytes(tok)
        held = sum(r[0] if k[:20] == t else r[1] for k, r in reserves(w).items() if t in (k[:20], k[20:]))
        assert held == after[(bytes(tok), bytes(w.swap))]
