"""Price oracle: authorised reporters post prices, readers get the median of the fresh ones.

A price is the value of ONE smallest unit of the asset in the common quote unit, scaled by
10**18: a token whose smallest unit is worth 2 quote units has price 2 * 10**18. The median
makes one dishonest or broken reporter harmless as long as most reporters are honest.

A report counts while ctx.time - report time <= max_age. Each reporter gets a new epoch
every time it is added; a report only counts in the epoch it was made in, so removing a
reporter drops its reports at once (storage cannot be iterated to delete them) and adding
it back does not revive them.
"""

# Bounds the loop in price(): every reader pays for one storage read per reporter.
MAX_REPORTERS = 32


@constructor
def init(reporters: list[address], max_age: int):
    check_max_age(max_age)
    storage["admin"] = ctx.sender
    storage["max_age"] = max_age
    storage["reporters"] = []
    for reporter in reporters:
        enrol(reporter)


@public
def report(asset: address, price: int):
    reporter = ctx.sender
    require(reporter in storage["reporters"], "not a reporter")
    require(price > 0, "price must be positive")
    storage["report", asset, reporter] = {"price": price, "time": ctx.time, "epoch": storage["epoch", reporter]}
    emit("PriceReported", asset, reporter, price, ctx.time)


@public
def add_reporter(a: address):
    require_admin()
    enrol(a)


@public
def remove_reporter(a: address):
    require_admin()
    current = storage["reporters"]
    require(a in current, "not a reporter")
    current.remove(a)
    storage["reporters"] = current
    emit("ReporterRemoved", a)


@public
def set_max_age(seconds: int):
    require_admin()
    check_max_age(seconds)
    storage["max_age"] = seconds
    emit("MaxAgeSet", seconds)


@public
def set_admin(a: address):
    require_admin()
    require(a != ZERO_ADDRESS, "admin is the zero address")
    emit("AdminChanged", storage["admin"], a)
    storage["admin"] = a


@view
def price(asset: address) -> int:
    oldest = ctx.time - storage["max_age"]
    fresh = []
    for reporter in storage["reporters"]:
        last = storage.get(("report", asset, reporter), None)
        if last is not None and last["time"] >= oldest and last["epoch"] == storage["epoch", reporter]:
            fresh.append(last["price"])
    count = len(fresh)
    require(count > 0, "stale price")
    fresh = sorted(fresh)
    middle = count // 2
    if count % 2 == 1:
        return fresh[middle]
    # Both middle prices are >= 1, so the floored mean is never 0.
    return (fresh[middle - 1] + fresh[middle]) // 2


@view
def reporters() -> list:
    return storage["reporters"]


@view
def max_age() -> int:
    return storage["max_age"]


@view
def admin() -> address:
    return storage["admin"]


@view
def latest(asset: address, reporter: address) -> dict:
    # The raw last report, fresh or not; {"price": 0, "time": 0} when there is none.
    last = storage.get(("report", asset, reporter), None)
    if last is None:
        return {"price": 0, "time": 0}
    return {"price": last["price"], "time": last["time"]}


def require_admin():
    require(ctx.sender == storage["admin"], "only the admin")


def check_max_age(seconds):
    require(seconds > 0, "max_age must be positive")


def enrol(a):
    require(a != ZERO_ADDRESS, "reporter is the zero address")
    current = storage["reporters"]
    require(a not in current, "already a reporter")
    require(len(current) < MAX_REPORTERS, "too many reporters")
    current.append(a)
    storage["reporters"] = current
    storage["epoch", a] = storage.get(("epoch", a), 0) + 1
    emit("ReporterAdded", a)
