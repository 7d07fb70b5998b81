#!/usr/bin/env python3
"""Write config/elasticsearch/country-centroids.json (ISO 3166-1 alpha-2 -> [lat, lon]) from the
countryinfo package's data, for the geo_point field that Kibana maps use. Run once when the data
should be refreshed: `pip install countryinfo && python scripts/build_centroids.py`."""

import json
from pathlib import Path

import pycountry
from countryinfo import CountryInfo, CountryNotFoundError

# Not in countryinfo's data.
EXTRA = {
    "PS": [31.9, 35.2],
    "CW": [12.17, -68.99],
    "SX": [18.04, -63.07],
    "TC": [21.75, -71.58],
    "VG": [18.43, -64.62],
    "VI": [18.34, -64.9],
    "AX": [60.12, 19.92],
    "BL": [17.9, -62.83],
    "MF": [18.08, -63.05],
    "BQ": [12.18, -68.24],
}
OUT = Path(__file__).resolve().parent.parent / "config" / "elasticsearch" / "country-centroids.json"


def main() -> None:
    centroids = {}
    for country in pycountry.countries:
        try:
            latlng = CountryInfo(country.alpha_2).latlng()
        except (CountryNotFoundError, KeyError, ValueError):
            continue
        if latlng and len(latlng) == 2:
            centroids[country.alpha_2] = [round(float(latlng[0]), 3), round(float(latlng[1]), 3)]
    centroids.update(EXTRA)
    OUT.write_text(json.dumps(dict(sorted(centroids.items())), indent=0) + "\n")
    print(f"{len(centroids)} countries -> {OUT}")


if __name__ == "__main__":
    main()
