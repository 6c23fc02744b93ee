"""CI-sized variants of bench.payments and bench.scale on real servers (no mocks).

Only that the figures exist and add up is asserted, never how fast: the machine is
shared. Together they take well under a minute on 2 cores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench import payments, scale


def test_payments_against_baseline(tmp_path: Path) -> None:
    out = tmp_path / "payments.json"
    # eager_start also runs the in-process payments worker (it must host the ledger).
    args = ["--count", "20", "--shards", "1", "--tune", "eager_start", "--tune-count", "10"]
    figures = payments.main([*args, "--json", str(out)])

    assert figures["lost"] == []  # every payment reached its terminal state
    pay, base, after = figures["payments"], figures["baseline"], figures["baseline_after"]
    assert pay["completed"] == base["completed"] == after["completed"] == 20
    # 4 activities (route, hold, authorize, capture), 2 more for the refunded ones.
    assert 4 <= figures["activities_per_payment"] <= 6
    for run in (pay, base, after):
        assert run["per_s"] > 0
        assert all(math.isfinite(run[k]) for k in ("p50_s", "p95_s", "p99_s"))
        assert run["p50_s"] <= run["p95_s"] <= run["p99_s"]
        assert run["cpu_s_per_item"] > 0
    # The ratio is to the mean of the baselines before and after the payments.
    mean_base = (base["per_s"] + after["per_s"]) / 2
    assert figures["ratio"] == round(pay["per_s"] / mean_base, 3)
    assert figures["peak_worker_rss_mb"] > 0
    assert json.loads(out.read_text())["ratio"] == figures["ratio"]
    assert set(figures["tunings"]) == {"default", "eager_start"}
    for tuned in figures["tunings"].values():
        assert tuned["lost"] == []
        assert tuned["payments"]["completed"] == 10
        assert tuned["retries"] == 0  # no failed workflow tasks (e.g. unregistered activities)


def test_scale_with_one_and_two_workers(tmp_path: Path) -> None:
    out = tmp_path / "scale.json"
    plot = tmp_path / "scale.png"
    figures = scale.main(
        [
            "--workers",
            "1,2",
            "--shards",
            "1",
            "--count",
            "12",
            "--json",
            str(out),
            "--plot",
            str(plot),
        ]
    )

    cells = figures["cells"]
    assert [(c["workers"], c["shards"]) for c in cells] == [(1, 1), (2, 1)]
    for cell in cells:
        assert cell["completed"] == 12 and cell["lost"] == 0
        assert cell["payments_per_s"] > 0
        assert cell["peak_in_flight"] >= 1
    assert json.loads(out.read_text())["cells"] == cells
    if "plot" in figures:  # matplotlib is an optional extra
        assert plot.stat().st_size > 0
