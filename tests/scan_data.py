"""Deterministic sample data for the scan tests (no Faker: tests must not need the bench extra).

Names come from the same census lists the scanner uses only for the first/last name columns;
everything else is generated from formats, so the tests exercise recognizers, not lookups.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
]
CITIES = [
    "Berlin",
    "Madrid",
    "Chicago",
    "Houston",
    "Phoenix",
    "Lyon",
    "Hamburg",
    "Seattle",
    "Denver",
    "Boston",
    "Dallas",
    "Austin",
    "Toronto",
    "Vancouver",
    "Munich",
    "Milan",
    "Naples",
    "Porto",
    "Lisbon",
    "Dublin",
]
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park"]
TYPES = ["St", "Ave", "Road", "Blvd", "Lane", "Drive", "Court", "Way"]


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def customers(n: int = 200, seed: int = 7) -> dict[str, list[object]]:
    rng = random.Random(seed)
    rows: dict[str, list[object]] = {
        k: []
        for k in (
            "customer_id",
            "full_name",
            "email",
            "phone",
            "ssn",
            "birth_date",
            "street_address",
            "city",
            "card_number",
            "ip_address",
            "segment",
            "amount",
            "order_ref",
            "status",
            "consent_marketing",
        )
    }
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows["customer_id"].append(1000 + i)
        rows["full_name"].append(f"{first} {last}")
        rows["email"].append(f"{first.lower()}.{last.lower()}{i}@example.com")
        rows["phone"].append(f"({rng.randint(201, 989)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}")
        rows["ssn"].append(f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}")
        rows["birth_date"].append(date(1950, 1, 1) + timedelta(days=rng.randrange(50 * 365)))
        rows["street_address"].append(f"{rng.randint(1, 9999)} {rng.choice(STREETS)} {rng.choice(TYPES)}")
        rows["city"].append(rng.choice(CITIES))
        rows["card_number"].append(_luhn_card(rng))
        rows["ip_address"].append(".".join(str(rng.randint(1, 254)) for _ in range(4)))
        rows["segment"].append(rng.choice(["consumer", "smb", "enterprise"]))
        rows["amount"].append(round(rng.uniform(1, 5000), 2))
        rows["order_ref"].append(str(rng.randint(10**9, 10**10 - 1)))
        rows["status"].append(rng.choice(["placed", "shipped", "delivered", "returned"]))
        rows["consent_marketing"].append(rng.random() < 0.5)
    return rows


EXPECTED = {
    "full_name": {"PERSON"},
    "email": {"EMAIL_ADDRESS"},
    "phone": {"PHONE_NUMBER"},
    "ssn": {"US_SSN"},
    "birth_date": {"DATE_OF_BIRTH"},
    "street_address": {"LOCATION"},
    "city": {"LOCATION"},
    "card_number": {"CREDIT_CARD"},
    "ip_address": {"IP_ADDRESS"},
    "customer_id": set(),
    "segment": set(),
    "amount": set(),
    "order_ref": set(),
    "status": set(),
    "consent_marketing": set(),
}


DUCK_TYPES = {
    "customer_id": "BIGINT",
    "birth_date": "DATE",
    "amount": "DECIMAL(10,2)",
    "consent_marketing": "BOOLEAN",
}


def write_duckdb(con: object, relation: str, rows: dict[str, list[object]]) -> None:
    """Create ``relation`` in a DuckDB connection and fill it (executemany: no pandas needed)."""
    cols = list(rows)
    ddl = ", ".join(f'"{c}" {DUCK_TYPES.get(c, "VARCHAR")}' for c in cols)
    con.execute(f"CREATE TABLE {relation} ({ddl})")  # type: ignore[attr-defined]
    marks = ", ".join("?" for _ in cols)
    con.executemany(
        f"INSERT INTO {relation} VALUES ({marks})",  # type: ignore[attr-defined]
        list(zip(*(rows[c] for c in cols), strict=True)),
    )
