"""Generated clinic data for the federated example: one DuckDB database per domain, non-IID.

Each clinic's patients differ in age, weight and smoking rates (and size), the label follows one
shared logistic model, so a federation helps and a central model on the pooled data is the baseline.
Deterministic from the seed; nothing is downloaded.
"""

from __future__ import annotations

import duckdb
import numpy as np

COLUMNS = ("patient_id", "age", "bmi", "systolic_bp", "glucose", "smoker", "full_name", "email", "readmitted")
# (age shift, BMI shift, smoking rate, patients): tens of thousands of patients per clinic, as a
# regional hospital's readmission table would hold — not a toy of a few thousand rows
SHIFTS = {"north": (8.0, 1.5, 0.35, 36_000), "central": (0.0, 0.0, 0.25, 48_000),
          "south": (-6.0, -1.0, 0.15, 30_000)}


def clinic_frame(name: str, seed: int) -> dict[str, np.ndarray]:
    age_shift, bmi_shift, smoke_rate, n = SHIFTS[name]
    rng = np.random.default_rng([seed, sorted(SHIFTS).index(name)])
    age = np.clip(rng.normal(55 + age_shift, 14, n), 18, 95).round()
    bmi = np.clip(rng.normal(27 + bmi_shift, 5, n), 12, 60)
    sbp = np.clip(rng.normal(128 + 0.4 * (age - 55), 16, n), 80, 220)
    glucose = np.clip(rng.normal(105 + 1.5 * (bmi - 27), 28, n), 50, 400)
    smoker = (rng.random(n) < smoke_rate).astype(int)
    logit = -0.6 + 0.05 * (age - 55) + 0.09 * (bmi - 27) + 0.02 * (sbp - 128) + 0.015 * (glucose - 105) + 0.9 * smoker
    readmitted = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    ids = np.arange(1, n + 1)
    return {"patient_id": ids, "age": age, "bmi": bmi, "systolic_bp": sbp, "glucose": glucose, "smoker": smoker,
            "full_name": np.array([f"patient {name} {i}" for i in ids]),
            "email": np.array([f"p{i}@{name}.example" for i in ids]), "readmitted": readmitted}


def clinic_database(name: str, seed: int, *,
                    holdout: float = 0.2) -> tuple[duckdb.DuckDBPyConnection, dict[str, np.ndarray]]:
    """An in-memory DuckDB with ``clinic_<name>.patients`` (the training rows) and the held-out rows."""
    frame = clinic_frame(name, seed)
    n = len(frame["patient_id"])
    cut = int(n * (1 - holdout))
    train = {k: v[:cut] for k, v in frame.items()}
    test = {k: v[cut:] for k, v in frame.items()}
    con = duckdb.connect()
    con.execute(f"CREATE SCHEMA clinic_{name}")
    con.execute(f"CREATE TABLE clinic_{name}.patients (patient_id BIGINT, age INTEGER, bmi DOUBLE, systolic_bp DOUBLE, "
                "glucose DOUBLE, smoker INTEGER, full_name TEXT, email TEXT, readmitted INTEGER)")
    con.register("generated", train)  # DuckDB scans the dict of numpy columns directly
    con.execute(f"INSERT INTO clinic_{name}.patients SELECT {', '.join(COLUMNS)} FROM generated")
    con.unregister("generated")
    return con, test
