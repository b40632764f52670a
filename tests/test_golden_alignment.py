"""Numbers unchanged by the refactor: three rows of the alignment-rates experiment
(experiments/alignment_rates.py: Nash-MP β = 0.3, |Y| = 16; INPO τ = 0.5; Nash-MD η = 4) and
their trajectories, recomputed through today's solver API, equal the values computed by the code
before it (to 1e-12).

The golden file and its recipe: tests/golden/README.md.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from alignment.tabular import INPO, INPOConfig, NashMD, NashMDConfig, NashMP, NashMPConfig
from games.preference import make_game, regularized_exploitability, regularized_nash
from gtlearn.core.driver import drive
from gtlearn.core.metrics import kl_divergence

GOLDEN = json.loads((Path(__file__).resolve().parent / "golden" / "alignment_rates.json").read_text())["rows"]
TOL = 1e-12
KL_FLOOR = 1e-13


def _kl(game, nash, pi) -> float:
    return float(game.rho @ kl_divergence(nash, pi))


def _fit_rate(xs, ys) -> float:
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    keep = ys > KL_FLOOR
    return float(np.exp(np.polyfit(xs[keep], np.log(ys[keep]), 1)[0])) if keep.sum() >= 3 else float("nan")


def _loglog_slope(xs, ys) -> float:
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    keep = ys > KL_FLOOR
    return float(np.polyfit(np.log(xs[keep]), np.log(ys[keep]), 1)[0])


def _assert_row(row: dict, golden: dict) -> None:
    assert set(row) == set(golden)
    for key, value in golden.items():
        if isinstance(value, bool) or value is None:
            assert row[key] == value, key
        else:
            assert row[key] == pytest.approx(value, abs=TOL, rel=0), key


def test_nash_mp_row():
    beta, n = 0.3, 16
    game = make_game(f"random:{n},contexts=4,seed={n},ref=1.0")
    nash = regularized_nash(game, beta)
    alg = NashMP(game, NashMPConfig(beta=beta))
    kl0 = _kl(game, nash, alg.current_policy())
    Ns, kls, worst = [0], [kl0], 0.0
    while kls[-1] > KL_FLOOR and alg.iteration < 5000:
        alg.step()
        Ns.append(alg.queries)
        kls.append(_kl(game, nash, alg.current_policy()))
        if kls[-1] > KL_FLOOR:
            worst = max(worst, kls[-1] / (kl0 * (1 + 2 * beta) ** (-alg.queries / 2)))
    golden = GOLDEN["nash_mp"]
    assert Ns == golden["trajectory"]["queries"] and alg.iteration == golden["trajectory"]["iterations_run"]
    np.testing.assert_allclose(kls, golden["trajectory"]["kl"], rtol=0, atol=TOL)
    row = {"beta": beta, "n": n, "kl0": kl0, "measured_rate_per_query": _fit_rate(Ns, kls),
           "theory_rate_per_query": (1 + 2 * beta) ** -0.5, "worst_ratio_to_bound": worst,
           "queries_to_kl_1e-8": next((N for N, k in zip(Ns, kls) if k < 1e-8), None),
           "theory_queries_to_kl_1e-8": math.ceil(2 * math.log(kl0 / 1e-8) / math.log(1 + 2 * beta))}
    _assert_row(row, golden["row"])


def test_inpo_row():
    tau = 0.5
    game = make_game("random:8,contexts=4,seed=21,ref=1.0")
    nash = regularized_nash(game, tau)
    alg = INPO(game, INPOConfig(beta=tau))
    Ts, last, avg, avg_dg, bound = [], [], [], [], []
    B = float(np.abs(np.log(nash) - np.log(game.ref)).max())
    for T in range(1, 2001):
        alg.step()
        B = max(B, float(np.abs(alg.log_pi - np.log(game.ref)).max()))
        if T in (10, 20, 50, 100, 200, 500, 1000, 2000) or T % 10 == 0:
            Ts.append(T)
            last.append(_kl(game, nash, alg.current_policy()))
            avg.append(_kl(game, nash, alg.average_policy()))
            avg_dg.append(float(game.rho @ (2 * regularized_exploitability(game, alg.average_policy(), tau))))
            bound.append(32 * max(B * tau, 1.0) ** 2 / (tau**2 * (T + 1)))
    const = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=3 * tau))
    const_kl = []
    for T in Ts:
        drive(const, T, eval_every=0)
        const_kl.append(_kl(game, nash, const.current_policy()))
    small = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=1.05 * tau))
    drive(small, 2000, eval_every=0)
    sel = [i for i, T in enumerate(Ts) if T >= 100]
    row = {
        "tau": tau, "last_kl_T2000": last[-1], "avg_kl_T2000": avg[-1], "avg_duality_gap_T2000": avg_dg[-1],
        "bound_T2000": bound[-1],
        "last_loglog_slope": _loglog_slope([Ts[i] for i in sel], [last[i] for i in sel]),
        "avg_loglog_slope": _loglog_slope([Ts[i] for i in sel], [avg[i] for i in sel]),
        "avg_dg_loglog_slope": _loglog_slope([Ts[i] for i in sel], [avg_dg[i] for i in sel]),
        "bound_holds_everywhere": bool(all(k <= b for k, b in zip(last, bound))),
        "const_3tau_kl_T200": const_kl[Ts.index(200)], "const_1.05tau_kl_T2000": _kl(game, nash, small.current_policy()),
    }
    golden = GOLDEN["inpo"]
    _assert_row(row, golden["row"])
    trajectory = golden["trajectory"]
    assert Ts[:20] == trajectory["T"]
    for name, values in (("last_kl", last), ("avg_kl", avg), ("avg_duality_gap", avg_dg), ("bound", bound),
                         ("const_3tau_kl", const_kl)):
        np.testing.assert_allclose(values[:20], trajectory[name], rtol=0, atol=TOL, err_msg=name)


def test_nash_md_row():
    beta, eta = 0.1, 4.0
    game = make_game("random:8,contexts=4,seed=2,ref=1.0")
    nash = regularized_nash(game, beta)
    golden = GOLDEN["nash_md"]
    alg = NashMD(game, NashMDConfig(beta=beta, eta=eta))
    steps = int(3000 / (eta * beta))
    assert steps == golden["trajectory"]["steps_run_for_row"]
    drive(alg, steps, eval_every=0)
    _assert_row({"eta": eta, "bias_kl": _kl(game, nash, alg.current_policy())}, golden["row"])
    fresh = NashMD(game, NashMDConfig(beta=beta, eta=eta))
    kls = []
    for _ in range(20):
        fresh.step()
        kls.append(_kl(game, nash, fresh.current_policy()))
    np.testing.assert_allclose(kls, golden["trajectory"]["kl_first_20"], rtol=0, atol=TOL)
