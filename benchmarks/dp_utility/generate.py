"""Seeded benchmark warehouse: 100k users, ~1M orders with heavy-tailed counts per user, public products.

One ``random.Random(seed)`` drives every value, so the same seed gives the same file. The shape is
chosen to stress what DP SQL engines get wrong:

- orders per user are log-normal (median ~5, mean ~10, a tail of users with hundreds of orders):
  contribution bounding matters;
- public keys (country, plan, status, category) have declared domains in the catalog;
- private keys (city: Zipf over ``cities`` names; coupon: Zipf over ``coupons`` codes; brand; order
  year) do not, so a DP engine must select partitions, and the long tail is where keys are lost.

Two named key settings (``SETTINGS``): ``stress`` (3,000 cities, 1,500 coupons: most keys have fewer
persons than any (1, 1e-6)-DP partition selection can release) and ``realistic`` (300 cities, 100
coupons, see RESULTS.md for why).

Usage: ``python benchmarks/dp_utility/generate.py PATH [--data stress|realistic] [--cities N] [--coupons N]
[--users N] [--seed S]``.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import itertools
import random
import tempfile
import time
from pathlib import Path

COUNTRIES = (("US", 30), ("GB", 12), ("DE", 12), ("FR", 9), ("CA", 8), ("BR", 8), ("JP", 7), ("ES", 6), ("IT", 5),
             ("NL", 3))
PLANS = (("free", 70), ("plus", 24), ("pro", 6))
STATUSES = (("delivered", 62), ("shipped", 14), ("placed", 10), ("returned", 9), ("cancelled", 5))
CATEGORIES = ("books", "games", "garden", "kitchen", "toys", "music", "sports", "beauty")
EPOCH = dt.date(2024, 1, 1)
# Sizes of the private key distributions (Zipf exponents unchanged): name -> (cities, coupons).
SETTINGS = {"stress": (3000, 1500), "realistic": (300, 100)}

TABLES = {
    "goods.products": "product_id BIGINT, category TEXT, brand TEXT, price DOUBLE",
    "shop.users": "user_id BIGINT, country TEXT, plan TEXT, city TEXT, age INTEGER, signup_year INTEGER",
    "shop.orders": "order_id BIGINT, user_id BIGINT, product_id BIGINT, order_date DATE, status TEXT, "
                   "amount DOUBLE, quantity INTEGER, coupon TEXT",
}


class Picker:
    """Weighted choice by bisecting cumulative weights (O(log n) per draw)."""

    def __init__(self, values: list[str] | tuple[str, ...], weights: list[float]) -> None:
        self.values = list(values)
        self.cum = list(itertools.accumulate(weights))

    def __call__(self, rng: random.Random) -> str:
        return self.values[bisect.bisect_right(self.cum, rng.random() * self.cum[-1])]


def zipf(values: list[str], s: float) -> Picker:
    return Picker(values, [1 / (i + 1) ** s for i in range(len(values))])


def weighted(pairs: tuple[tuple[str, int], ...]) -> Picker:
    return Picker([p[0] for p in pairs], [float(p[1]) for p in pairs])


def generate(folder: Path, users: int, seed: int, cities: int = 3000, coupons: int = 1500) -> dict[str, int]:
    """Write one CSV per table into ``folder``; returns row counts."""
    rng = random.Random(seed)
    counts: dict[str, int] = {}
    brands = [f"brand_{i:03d}" for i in range(400)]
    brand = zipf(brands, 1.0)
    products = []
    for pid in range(1, 2001):
        price = round(min(max(rng.lognormvariate(3.0, 0.9), 1.0), 450.0), 2)
        products.append((pid, CATEGORIES[(pid * 7919) % len(CATEGORIES)], brand(rng), price))
    with (folder / "goods.products.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(products)
    counts["goods.products"] = len(products)

    country, plan, status = weighted(COUNTRIES), weighted(PLANS), weighted(STATUSES)
    city = zipf([f"city_{i:04d}" for i in range(cities)], 1.05)
    coupon = zipf([f"C{i:04d}" for i in range(coupons)], 1.1)
    product = zipf([str(p[0]) for p in products], 0.9)
    prices = {p[0]: p[3] for p in products}
    order_id = 0
    with (folder / "shop.users.csv").open("w", newline="") as uf, \
            (folder / "shop.orders.csv").open("w", newline="") as of:
        uw, ow = csv.writer(uf), csv.writer(of)
        for uid in range(1, users + 1):
            uw.writerow((uid, country(rng), plan(rng), city(rng), 18 + min(int(rng.gammavariate(4, 5)), 77),
                         2015 + rng.randrange(10)))
            # log-normal orders per user: median ~5, mean ~10, a long tail (a few users with 500+)
            k = min(int(rng.lognormvariate(1.5, 1.2)) + 1, 5000)
            for _ in range(k):
                order_id += 1
                pid = int(product(rng))
                quantity = min(int(rng.expovariate(0.8)) + 1, 10)
                ow.writerow((order_id, uid, pid, EPOCH + dt.timedelta(days=rng.randrange(731)), status(rng),
                             round(min(prices[pid] * quantity, 500.0), 2), quantity,
                             coupon(rng) if rng.random() < 0.35 else ""))
    counts["shop.users"] = users
    counts["shop.orders"] = order_id
    return counts


def write(path: Path | str, users: int = 100_000, seed: int = 20261127, cities: int = 3000,
          coupons: int = 1500) -> dict[str, int]:
    """(Re)create the benchmark tables in a DuckDB file."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        counts = generate(Path(tmp), users, seed, cities, coupons)
        con = duckdb.connect(str(path))
        try:
            for name, ddl in TABLES.items():
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {name.split('.')[0]}")
                con.execute(f"DROP TABLE IF EXISTS {name}")
                con.execute(f"CREATE TABLE {name} ({ddl})")
                con.execute(f"COPY {name} FROM '{Path(tmp) / (name + '.csv')}' (HEADER false, NULLSTR '')")
            con.execute("CHECKPOINT")
        finally:
            con.close()
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=20261127)
    ap.add_argument("--data", choices=sorted(SETTINGS), default="stress", help="named key-size setting")
    ap.add_argument("--cities", type=int, help="distinct cities (overrides --data)")
    ap.add_argument("--coupons", type=int, help="distinct coupon codes (overrides --data)")
    args = ap.parse_args()
    cities, coupons = SETTINGS[args.data]
    t0 = time.perf_counter()
    counts = write(args.path, args.users, args.seed, args.cities or cities, args.coupons or coupons)
    print(f"{counts} in {time.perf_counter() - t0:.1f}s -> {args.path}")


if __name__ == "__main__":
    main()
