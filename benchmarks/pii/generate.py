"""Seeded benchmark warehouse for the PII scanner: 29 column kinds x 3 naming variants.

Each kind has a generator (Faker, seeded), the entity set a correct scanner must report, an honest
column name, and a type. The same values appear under three namings: `honest` (what the data is),
`misleading` (another kind's honest name, e.g. e-mails in a column called `amount`) and
`meaningless` (`col_7`). Every variant has TABLES tables generated with different seeds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
from faker import Faker

VARIANTS = ("honest", "misleading", "meaningless")
TABLES = 4
ROWS = 1000
START, END = datetime(2023, 1, 1), datetime(2025, 6, 30)


@dataclass(frozen=True)
class Kind:
    name: str  # the honest column name
    truth: frozenset[str]
    sql_type: str
    make: Callable[[Faker, random.Random], object]


def _note(f: Faker, rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"{f.sentence()} Please contact {f.name()} at {f.email()} about it."
    return f.paragraph(nb_sentences=2)


def _city(cities: list[str]) -> Callable[[Faker, random.Random], object]:
    return lambda f, rng: rng.choice(cities)


def kinds(seed: int) -> list[Kind]:
    # Real place names: Faker's en_US cities are invented ("Lake Jennifer"); these locales ship real ones.
    # it_IT's city() is not reproducible under a seed, so cities are drawn from the sorted lists.
    cities: list[str] = []
    rng = random.Random(seed)
    for locale in ("de_DE", "es_ES", "it_IT"):
        loc = Faker(locale)
        loc.seed_instance(seed)
        address = next(p for p in loc[locale].providers if "address" in type(p).__module__)
        listed = sorted(set(getattr(address, "cities", None) or ()))
        cities += rng.sample(listed, 200) if listed else [loc.city() for _ in range(200)]
    p = frozenset
    return [
        Kind("full_name", p({"PERSON"}), "VARCHAR", lambda f, r: f.name()),
        Kind("first_name", p({"PERSON"}), "VARCHAR", lambda f, r: f.first_name()),
        Kind("last_name", p({"PERSON"}), "VARCHAR", lambda f, r: f.last_name()),
        Kind("email", p({"EMAIL_ADDRESS"}), "VARCHAR", lambda f, r: f.email()),
        Kind("phone", p({"PHONE_NUMBER"}), "VARCHAR", lambda f, r: f.phone_number()),
        Kind("ssn", p({"US_SSN"}), "VARCHAR", lambda f, r: f.ssn()),
        Kind("card_number", p({"CREDIT_CARD"}), "VARCHAR", lambda f, r: f.credit_card_number()),
        Kind("iban", p({"IBAN_CODE"}), "VARCHAR", lambda f, r: f.iban()),
        Kind("ip_address", p({"IP_ADDRESS"}), "VARCHAR", lambda f, r: f.ipv4()),
        Kind("client_ipv6", p({"IP_ADDRESS"}), "VARCHAR", lambda f, r: f.ipv6()),
        Kind("street_address", p({"LOCATION"}), "VARCHAR", lambda f, r: f.street_address()),
        Kind("city", p({"LOCATION"}), "VARCHAR", _city(cities)),
        Kind(
            "birth_date",
            p({"DATE_OF_BIRTH"}),
            "DATE",
            lambda f, r: f.date_between(start_date=date(1940, 1, 1), end_date=date(2006, 12, 31)),
        ),
        Kind("support_note", p({"PERSON", "EMAIL_ADDRESS"}), "VARCHAR", _note),
        # look-alikes that are not PII
        Kind("order_id", p(), "BIGINT", lambda f, r: r.randint(10**6, 10**9)),
        Kind("amount", p(), "DECIMAL(12,2)", lambda f, r: Decimal(f"{r.uniform(1, 99_999_999):.2f}")),
        Kind("sku", p(), "VARCHAR", lambda f, r: f.bothify("???-#####").upper()),
        Kind(
            "created_at", p(), "TIMESTAMP", lambda f, r: f.date_time_between(start_date=START, end_date=END)
        ),
        Kind("status", p(), "VARCHAR", lambda f, r: r.choice(["placed", "shipped", "delivered", "returned"])),
        Kind("reference_number", p(), "VARCHAR", lambda f, r: str(r.randint(10**9, 10**10 - 1))),
        Kind("quantity", p(), "INTEGER", lambda f, r: r.randint(1, 20)),
        Kind("request_uuid", p(), "VARCHAR", lambda f, r: f.uuid4()),
        Kind("review_text", p(), "VARCHAR", lambda f, r: f.paragraph(nb_sentences=3)),
        Kind("country_code", p(), "VARCHAR", lambda f, r: f.country_code()),
        Kind("checksum", p(), "VARCHAR", lambda f, r: f.sha1()),
        Kind("discount_rate", p(), "DOUBLE", lambda f, r: round(r.random(), 4)),
        Kind("company", p(), "VARCHAR", lambda f, r: f.company()),  # "Johnson, Smith and Brown"
        Kind("job_title", p(), "VARCHAR", lambda f, r: f.job()),
        Kind("color_name", p(), "VARCHAR", lambda f, r: f.color_name()),  # Rose, Violet, Olive ...
    ]


def column_names(variant: str, ks: list[Kind]) -> list[str]:
    honest = [k.name for k in ks]
    if variant == "honest":
        return honest
    if variant == "meaningless":
        return [f"col_{i + 1}" for i in range(len(ks))]
    # Misleading: each column carries the honest name of the kind 7 places further on (a derangement),
    # so e-mails sit in `quantity`-like names and amounts in PII-like ones.
    return [honest[(i + 7) % len(honest)] for i in range(len(honest))]


def generate(path: Path, rows: int = ROWS, tables: int = TABLES) -> dict[str, dict[str, frozenset[str]]]:
    """Write the warehouse; return truth as {schema.table: {column: entities}}."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    truth: dict[str, dict[str, frozenset[str]]] = {}
    for t in range(tables):
        seed = 1000 + t
        ks = kinds(seed)
        fake = Faker("en_US")
        fake.seed_instance(seed)
        rng = random.Random(seed)
        data = [[k.make(fake, rng) for k in ks] for _ in range(rows)]
        for variant in VARIANTS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {variant}")
            names = column_names(variant, ks)
            ddl = ", ".join(f'"{n}" {k.sql_type}' for n, k in zip(names, ks, strict=True))
            rel = f"{variant}.t{t + 1}"
            con.execute(f"CREATE TABLE {rel} ({ddl})")
            con.executemany(f"INSERT INTO {rel} VALUES ({', '.join('?' for _ in ks)})", data)
            truth[rel] = {n: k.truth for n, k in zip(names, ks, strict=True)}
    con.close()
    return truth


if __name__ == "__main__":
    out = Path(__file__).with_name("data") / "bench.duckdb"
    generate(out)
    print(f"wrote {out}")
