"""``privgate demo-data PATH``: a seeded demo warehouse matching examples/demo/catalog exactly.

Tables and column order come from the catalog (so the data and the catalog cannot drift); values
come from one ``random.Random(seed)``, so the same seed gives byte-identical data. Names, emails,
SSNs, cards and IPs are synthetic (reserved ranges: SSN area 9xx, 555 phone numbers, test card
prefix 4000, private 10.0.0.0/8 addresses) and generated offline, without Faker.

Shape worth knowing for DP experiments: orders per customer are heavy-tailed (Pareto, a few
customers with hundreds of orders), cities and campaigns are Zipf-distributed unknown keys (a long
tail of rare values for partition selection to suppress), and every public-key column only takes
values from its declared domain.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from privgate.engine.catalog import Catalog, Table
from privgate.engine.errors import PrivgateError

Row = dict[str, Any]

FIRST = (
    "Ada", "Alan", "Alice", "Amir", "Ana", "Ben", "Carla", "Chen", "Dana", "David", "Elena", "Emma", "Fatima",
    "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jack", "Jana", "Jonas", "Julia", "Kai", "Lena", "Leo",
    "Lina", "Luca", "Maya", "Mia", "Nils", "Noah", "Nora", "Omar", "Paula", "Priya", "Rosa", "Sam", "Sara", "Tom",
    "Una", "Vera", "Yara", "Yusuf", "Zoe"
)
LAST = (
    "Adams", "Bauer", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jansen",
    "Kim", "Kowalski", "Lambert", "Lopez", "Martin", "Meyer", "Moreau", "Muller", "Nakamura", "Novak", "Okafor",
    "Olsen", "Patel", "Perez", "Rossi", "Santos", "Schmidt", "Silva", "Smith", "Suzuki", "Tanaka", "Weber",
    "Wilson", "Wong", "Young", "Zhang"
)
STREETS = ["Oak", "Maple", "Cedar", "Pine", "Elm", "Lake", "Hill", "Park", "River", "Mill", "Church", "High", "Station"]
CITIES = (
    "Springfield", "Riverside", "Franklin", "Greenville", "Bristol", "Clinton", "Fairview", "Salem", "Madison",
    "Georgetown", "Arlington", "Ashland", "Burlington", "Manchester", "Milton", "Newport", "Oxford", "Dover",
    "Hudson", "Kingston", "Lexington", "Marion", "Mount_Vernon", "Oakland", "Richmond", "Winchester", "Auburn",
    "Clayton", "Dayton", "Jackson", "Lebanon", "Milford", "Shelby", "Troy", "Union", "Warren", "Chester",
    "Hamilton", "Lancaster", "Monroe", "Plymouth", "Princeton", "Quincy", "Sheffield", "Stratford", "Windsor",
    "Yorktown", "Avondale", "Bedford", "Camden", "Eastwood", "Hollis", "Ivydale", "Juniper", "Kenwood", "Lakewood",
    "Norwood"
)
COUNTRIES = (("US", 40), ("CA", 10), ("GB", 14), ("DE", 12), ("FR", 9), ("NL", 5), ("ES", 6), ("IT", 4))
SEGMENTS = (("consumer", 70), ("smb", 25), ("enterprise", 5))
STATUSES = (("delivered", 62), ("shipped", 14), ("placed", 10), ("returned", 9), ("cancelled", 5))
CATEGORIES = ("books", "games", "garden", "kitchen", "toys")
CHANNELS = (("email", 45), ("web", 30), ("social", 15), ("sms", 10))
PRIORITIES = (("normal", 55), ("low", 25), ("high", 15), ("urgent", 5))
CAMPAIGNS = ("spring_sale", "summer_sale", "back_to_school", "black_friday", "cyber_monday", "holiday_gifts",
             "new_year", "valentines", "loyalty_bonus", "referral", "app_launch", "clearance", "vip_preview",
             "garden_week", "book_club", "toy_drive", "kitchen_fest", "gamer_days")
EPOCH = dt.date(2023, 1, 1)


class DemoDataError(PrivgateError):
    code = "demo_data_error"


def _weighted(rng: random.Random, pairs: Sequence[tuple[str, int]]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _zipf(rng: random.Random, values: Sequence[str], s: float = 1.1) -> str:
    return rng.choices(values, weights=[1 / (i + 1) ** s for i in range(len(values))])[0]


def _luhn(prefix: str, rng: random.Random) -> str:
    digits = prefix + "".join(str(rng.randrange(10)) for _ in range(15 - len(prefix)))
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return digits + str((10 - total % 10) % 10)


def _products(rng: random.Random, n: int) -> list[Row]:
    adjectives = ["Classic", "Deluxe", "Mini", "Eco", "Smart", "Family", "Travel", "Pro", "Vintage", "Cozy"]
    rows = []
    for i in range(1, n + 1):
        category = CATEGORIES[(i - 1) % len(CATEGORIES)]
        price = round(min(max(rng.lognormvariate(3.3, 0.8), 2.0), 480.0), 2)
        rows.append({"product_id": i, "name": f"{rng.choice(adjectives)} {category[:-1].title()} {i}",
                     "category": category, "price": price})
    return rows


def _customers(rng: random.Random, n: int) -> list[Row]:
    rows = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        birth = dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(365 * 55))
        rows.append({
            "customer_id": i, "full_name": f"{first} {last}", "email": f"{first}.{last}{i}@example.com".lower(),
            "phone": f"+1-555-{rng.randrange(100, 1000):03d}-{rng.randrange(10000):04d}",
            "ssn": f"9{rng.randrange(10, 100):02d}-{rng.randrange(10, 100):02d}-{rng.randrange(1000, 10000):04d}",
            "birth_date": birth.isoformat(),
            "street_address": f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} St",
            "city": _zipf(rng, CITIES).replace("_", " "), "country": _weighted(rng, COUNTRIES),
            "segment": _weighted(rng, SEGMENTS),
            "signup_date": (dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(365 * 7))).isoformat(),
            "consent_marketing": rng.random() < 0.6, "consent_analytics": rng.random() < 0.85,
        })
    return rows


def _orders(rng: random.Random, customers: list[Row], products: list[Row]) -> Iterator[Row]:
    order_id = 0
    ids = [p["product_id"] for p in products]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(ids))]
    for c in customers:
        # Pareto(1.6): most customers order once or twice, a few order a hundred times or more.
        k = min(int(rng.paretovariate(1.6)) - 1 + (rng.random() < 0.7), 300)
        for _ in range(k):
            order_id += 1
            product = products[rng.choices(ids, weights=weights)[0] - 1]
            quantity = min(int(rng.expovariate(0.7)) + 1, 12)
            yield {
                "order_id": order_id, "customer_id": c["customer_id"], "product_id": product["product_id"],
                "order_date": (EPOCH + dt.timedelta(days=rng.randrange(730))).isoformat(),
                "status": _weighted(rng, STATUSES), "amount": round(product["price"] * quantity, 2),
                "quantity": quantity, "card_number": _luhn("4000", rng),
                "ip_address": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            }


def _events(rng: random.Random, customers: list[Row]) -> Iterator[Row]:
    event_id = 0
    for c in customers:
        for _ in range(int(rng.expovariate(0.35))):
            event_id += 1
            at = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
            yield {"event_id": event_id, "customer_id": c["customer_id"], "campaign": _zipf(rng, CAMPAIGNS, 1.3),
                   "channel": _weighted(rng, CHANNELS), "event_time": at.isoformat(sep=" "),
                   "consented": c["consent_marketing"], "device_id": f"dev-{rng.getrandbits(64):016x}"}


def _tickets(rng: random.Random, customers: list[Row]) -> Iterator[Row]:
    ticket_id = 0
    templates = ("My order has not arrived, please help. {name}", "Please update my email to {email}",
                 "Refund request for a damaged item", "Hi, this is {name}, I was charged twice",
                 "How do I change my delivery address?", "Contact me at {email} about the return")
    for c in customers:
        if rng.random() >= 0.3:
            continue
        for _ in range(1 + int(rng.expovariate(1.2))):
            ticket_id += 1
            at = dt.datetime(2024, 1, 1) + dt.timedelta(minutes=rng.randrange(365 * 24 * 60))
            minutes = min(int(rng.lognormvariate(5.5, 1.3)), 20000)
            yield {"ticket_id": ticket_id, "customer_id": c["customer_id"], "opened_at": at.isoformat(sep=" "),
                   "priority": _weighted(rng, PRIORITIES),
                   "body": rng.choice(templates).format(name=c["full_name"], email=c["email"]),
                   "resolution_minutes": minutes}


def generate(customers: int = 20_000, seed: int = 7) -> dict[str, list[Row]]:
    """All demo tables as rows keyed by ``schema.table`` (catalog names), deterministic for a seed."""
    rng = random.Random(seed)
    products = _products(rng, 200)
    people = _customers(rng, customers)
    return {
        "products.products": products, "sales.customers": people,
        "sales.orders": list(_orders(rng, people, products)),
        "marketing.campaign_events": list(_events(rng, people)), "support.tickets": list(_tickets(rng, people)),
    }


def _layout(catalog: Catalog, schemas: Mapping[str, str] | None) -> dict[str, tuple[str, Table]]:
    """``schema.table`` (catalog) -> (target qualified name, table), honouring schema renames."""
    out: dict[str, tuple[str, Table]] = {}
    for qname, domain, table in catalog.iter_tables():
        schema = (schemas or {}).get(domain.sql_schema, domain.sql_schema)
        out[qname] = (f"{schema}.{table.name.lower()}", table)
    return out


def _write_csvs(data: dict[str, list[Row]], layout: dict[str, tuple[str, Table]], folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for qname, rows in data.items():
        if qname not in layout:
            raise DemoDataError(f"catalog has no table {qname}; demo-data generates the demo catalog "
                                "(examples/demo/catalog)")
        table = layout[qname][1]
        names = [c.name for c in table.columns]
        extra = set(rows[0]) ^ set(names) if rows else set()
        if extra:
            raise DemoDataError(f"{qname}: generator columns and catalog columns differ: {sorted(extra)}")
        path = folder / f"{qname}.csv"
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(names)
            writer.writerows([r[n] for n in names] for r in rows)
        files[qname] = path
    return files


def _ddl(target: str, table: Table) -> str:
    cols = ", ".join(f"{c.name} {c.type}" for c in table.columns)
    return f"CREATE TABLE {target} ({cols})"


def write_duckdb(path: Path | str, catalog: Catalog, *, customers: int = 20_000, seed: int = 7,
                 schemas: Mapping[str, str] | None = None) -> dict[str, int]:
    """(Re)create the demo tables in a DuckDB file; returns row counts per table."""
    import duckdb

    data = generate(customers, seed)
    layout = _layout(catalog, schemas)
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_csvs(data, layout, Path(tmp))
        con = duckdb.connect(str(path))
        try:
            for qname, file in files.items():
                target, table = layout[qname]
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {target.split('.')[0]}")
                con.execute(f"DROP TABLE IF EXISTS {target}")
                con.execute(_ddl(target, table))
                con.execute(f"COPY {target} FROM '{file}' (HEADER true)")
        finally:
            con.close()
    return {q: len(rows) for q, rows in data.items()}


def write_postgres(url: str, catalog: Catalog, *, customers: int = 20_000, seed: int = 7,
                   schemas: Mapping[str, str] | None = None) -> dict[str, int]:
    """(Re)create the demo tables in PostgreSQL (COPY FROM STDIN); returns row counts per table."""
    import psycopg

    data = generate(customers, seed)
    layout = _layout(catalog, schemas)
    with tempfile.TemporaryDirectory() as tmp:
        files = _write_csvs(data, layout, Path(tmp))
        with psycopg.connect(url) as con, con.cursor() as cur:
            for qname, file in files.items():
                target, table = layout[qname]
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {target.split('.')[0]}")
                cur.execute(f"DROP TABLE IF EXISTS {target}")
                cur.execute(_ddl(target, table))
                with cur.copy(f"COPY {target} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy:
                    copy.write(file.read_bytes())
    return {q: len(rows) for q, rows in data.items()}


def demo_data(path: Path | str, catalog: Catalog, *, customers: int = 20_000, seed: int = 7,
              postgres_url: str | None = None, echo: Callable[[str], None] = print) -> dict[str, int]:
    """What ``privgate demo-data PATH [--customers N] [--seed S] [--postgres URL]`` runs."""
    counts = write_duckdb(path, catalog, customers=customers, seed=seed)
    if postgres_url:
        write_postgres(postgres_url, catalog, customers=customers, seed=seed)
    for name, n in counts.items():
        echo(f"{name}: {n} rows")
    return counts
