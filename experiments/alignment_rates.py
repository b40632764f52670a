"""Measured convergence rates of the tabular alignment lab beside the theory (issue 7).

1. **Nash-MP**: KL(π*_β‖π) against the number of preference queries N (exact mode: one query
   = one evaluation of P(·≻μ); two per iteration), beside the bound (1+2β)^(−N/2)·KL_0
   (docs/preference_games.md), for several β and response-set sizes |Y| (the rate should not depend on |Y|); the sampled
   mode's error floor against the number of labels.
2. **INPO**: last iterate against the average iterate, with the convergent schedule
   η_t = τ(t+2)/2 (bound KL(π*‖π_T) ≤ 32C²/(τ²(T+1)); average-iterate duality gap O(1/√T))
   and with constant η = 3τ.
3. **APO vs iterative DPO**: iterations to reach a given unregularized gap on Bradley–Terry
   games for several α, beside the prediction from the closed-form acceleration
   c_t = Σ d_s, d_t = 1 + α·d_{t−1} (asymptotically (1−α)× the iterations of DPO); and APO
   over SPPO on an intransitive game.
4. **Nash-MD**: bias of the constant-step fixed point against η.
5. **f-DPG**: alignment against diversity across divergences at a fixed sampled budget, on a
   pointwise-constraint target and on an RLHF target.

Writes ``experiments/results/alignment_rates.{json,md,png}``::

    python experiments/alignment_rates.py          # about a minute on 2 CPU cores
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "experiments")]

from alignment_rates_report import KL_FLOOR, fit_rate, loglog_slope, plot, report  # noqa: E402

from alignment.measures import unregularized_exploitability  # noqa: E402
from alignment.tabular import (  # noqa: E402
    APO,
    FDPG,
    INPO,
    APOConfig,
    DPOConfig,
    FDPGConfig,
    INPOConfig,
    IterativeDPO,
    NashMD,
    NashMDConfig,
    NashMP,
    NashMPConfig,
    base_game,
    pointwise_target,
    rlhf_target,
)
from alignment.tabular.divergences import divergence  # noqa: E402
from games.preference import bradley_terry, make_game, regularized_exploitability, regularized_nash  # noqa: E402
from gtlearn.core.metrics import kl_divergence  # noqa: E402

RESULTS = ROOT / "experiments" / "results"


def _kl(game, nash, pi) -> float:
    return float(game.rho @ kl_divergence(nash, pi))


def advance(alg, steps: int) -> np.ndarray:
    """``steps`` more iterations of ``alg``; returns its last iterate."""
    for _ in range(steps):
        alg.step()
    return alg.current_policy()


# ------------------------------------------------------------------------------------------
def nash_mp_section() -> dict:
    rows, curves = [], {}
    for beta in (0.03, 0.1, 0.3, 1.0):
        for n in (4, 16, 64):
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
            it_1e8 = next((N for N, k in zip(Ns, kls) if k < 1e-8), None)
            rate = fit_rate(Ns, kls)
            theory = (1 + 2 * beta) ** -0.5
            rows.append({"beta": beta, "n": n, "kl0": kl0, "measured_rate_per_query": rate,
                         "theory_rate_per_query": theory, "worst_ratio_to_bound": worst,
                         "queries_to_kl_1e-8": it_1e8,
                         "theory_queries_to_kl_1e-8": math.ceil(2 * math.log(kl0 / 1e-8) / math.log(1 + 2 * beta))})
            if n == 16:
                curves[f"beta={beta}"] = (Ns, kls, [kl0 * (1 + 2 * beta) ** (-N / 2) for N in Ns])
    # sampled mode: error floor against labels per estimate
    game = make_game("random:8,contexts=4,seed=8,ref=1.0")
    beta = 0.3
    nash = regularized_nash(game, beta)
    sampled = []
    for m in (16, 64, 256, 1024, 4096):
        errs, qs = [], 0
        for seed in range(3):
            alg = NashMP(game, NashMPConfig(beta=beta), mode="sampled", samples=m, seed=seed)
            advance(alg, 60)
            errs.append(_kl(game, nash, alg.current_policy()))
            qs = alg.queries
        lam = 0.5
        pred = 0.5 / (4 * m) / ((beta + lam) ** 2 - lam**2)  # linear-noise stationary KL (see tests)
        sampled.append({"samples_per_estimate": m, "labels": qs, "kl_mean": float(np.mean(errs)), "predicted_kl": pred})
    return {"rows": rows, "curves": curves, "sampled": sampled}


# ------------------------------------------------------------------------------------------
def inpo_section() -> dict:
    out = []
    curves = {}
    for tau in (0.1, 0.5):
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
                C = max(B * tau, 1.0)
                bound.append(32 * C**2 / (tau**2 * (T + 1)))
        const = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=3 * tau))
        const_kl = []
        for T in Ts:
            advance(const, T - const.iteration)
            const_kl.append(_kl(game, nash, const.current_policy()))
        small = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=1.05 * tau))
        advance(small, 2000)
        sel = [i for i, T in enumerate(Ts) if T >= 100]
        out.append({
            "tau": tau,
            "last_kl_T2000": last[-1], "avg_kl_T2000": avg[-1], "avg_duality_gap_T2000": avg_dg[-1],
            "bound_T2000": bound[-1],
            "last_loglog_slope": loglog_slope([Ts[i] for i in sel], [last[i] for i in sel]),
            "avg_loglog_slope": loglog_slope([Ts[i] for i in sel], [avg[i] for i in sel]),
            "avg_dg_loglog_slope": loglog_slope([Ts[i] for i in sel], [avg_dg[i] for i in sel]),
            "bound_holds_everywhere": bool(all(k <= b for k, b in zip(last, bound))),
            "const_3tau_kl_T200": const_kl[Ts.index(200)], "const_1.05tau_kl_T2000": _kl(game, nash, small.current_policy()),
        })
        curves[f"tau={tau}"] = (Ts, last, avg, bound, const_kl)
    sweep = []
    for label, tau, eta in (("τ=0.1, η=3τ", 0.1, 0.3), ("τ=0.25, η=3τ", 0.25, 0.75), ("τ=0.5, η=3τ", 0.5, 1.5),
                            ("paper η=0.005, τ=η/3", 0.005 / 3, 0.005)):
        ok = 0
        for seed in range(20):
            game = make_game(f"random:6,seed={100 + seed},ref=1.0")
            nash = regularized_nash(game, tau)
            alg = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=eta))
            advance(alg, 1000)
            ok += bool(_kl(game, nash, alg.current_policy()) < 1e-10)
        sweep.append({"label": label, "tau": tau, "eta": eta, "games": 20, "converged": ok, "iterations": 1000})
    return {"rows": out, "curves": curves, "constant_sweep": sweep}


# ------------------------------------------------------------------------------------------
def apo_section() -> dict:
    rows = []
    target_gap = 1e-3
    beta = 1.0
    games = [bradley_terry(10, contexts=4, seed=s, scale=0.5) for s in range(3)]
    base_iters = []
    for alpha in (0.0, 0.1, 0.3, 0.5, 0.7):
        measured, predicted = [], []
        for game in games:
            def gap(pi):
                return float(np.max(unregularized_exploitability(game, pi)))
            alg = APO(game, APOConfig(beta=beta, alpha=alpha)) if alpha > 0 else IterativeDPO(game, DPOConfig(beta=beta))
            while gap(alg.current_policy()) > target_gap:
                alg.step()
            measured.append(alg.iteration)
            # prediction from the closed form: log π_t = log π_0 + c_t r/β; find first t with gap ≤ target
            c, d, t = 0.0, None, 0
            while True:
                t += 1
                d = 1 + alpha if t == 1 else 1 + alpha * d
                c += d
                logits = np.log(game.ref) + c * game.rewards / beta
                pi = np.exp(logits - logits.max(1, keepdims=True))
                pi /= pi.sum(1, keepdims=True)
                if gap(pi) <= target_gap:
                    break
            predicted.append(t)
        if alpha == 0.0:
            base_iters = measured
        rows.append({"alpha": alpha, "iterations": measured, "predicted_closed_form": predicted,
                     "asymptotic_prediction": [max(1, round((1 - alpha) * b)) for b in base_iters],
                     "speedup_vs_dpo": float(np.mean(base_iters) / np.mean(measured))})
    # APO over SPPO on an intransitive game (no closed form): unregularized gap of the average
    game = make_game("random:8,contexts=4,seed=5")
    sppo_rows = []
    for alpha in (0.0, 0.3, 0.6):
        alg = APO(game, APOConfig(alpha=alpha, inner="sppo", sppo_eta=0.5))
        advance(alg, 500)
        sppo_rows.append({"alpha": alpha, "e0_last_T500": float(game.rho @ unregularized_exploitability(game, alg.current_policy())),
                          "e0_avg_T500": float(game.rho @ unregularized_exploitability(game, alg.average_policy()))})
    return {"target_gap": target_gap, "beta": beta, "rows": rows, "sppo_rows": sppo_rows}


# ------------------------------------------------------------------------------------------
def nash_md_section() -> dict:
    game = make_game("random:8,contexts=4,seed=2,ref=1.0")
    beta = 0.1
    nash = regularized_nash(game, beta)
    rows = []
    for eta in (4.0, 2.0, 1.0, 0.5, 0.25, 0.125):
        alg = NashMD(game, NashMDConfig(beta=beta, eta=eta))
        advance(alg, int(3000 / (eta * beta)))
        rows.append({"eta": eta, "bias_kl": _kl(game, nash, alg.current_policy())})
    slope = loglog_slope([r["eta"] for r in rows], [r["bias_kl"] for r in rows])
    return {"beta": beta, "rows": rows, "loglog_slope": slope}


# ------------------------------------------------------------------------------------------
def fdpg_section() -> dict:
    rng = np.random.default_rng(0)
    X, n = 8, 32
    a = rng.dirichlet(np.full(n, 0.5), size=X)
    r = rng.standard_normal((X, n))
    phi = r > 0.5
    phi[np.arange(X), r.argmax(1)] = True
    targets = {"pointwise a·1[r>0.5]": pointwise_target(a, phi), "rlhf a·exp(r/0.5)": rlhf_target(a, r, 0.5)}
    out = {}
    steps, samples, lr = 300, 32, 0.5
    for tname, target in targets.items():
        p = target.p
        H_p = float(np.mean(-(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0)).sum(1)))
        rows = []
        for div in ("kl", "rkl", "tv", "js", "chi2", "rchi2"):
            if not target.full_support and div in ("rkl", "rchi2"):
                rows.append({"divergence": div, "applicable": False})
                continue
            res = []
            for seed in range(3):
                alg = FDPG(base_game(a), FDPGConfig(divergence=div, learning_rate=lr), mode="sampled",
                           samples=samples, seed=seed, target=target)
                pi = advance(alg, steps)
                H = float(np.mean(-(np.where(pi > 0, pi * np.log(pi), 0)).sum(1)))
                res.append({
                    "alignment": float(np.mean(np.where(phi, pi, 0).sum(1))) if not target.full_support
                    else float(np.mean((pi * r).sum(1))),
                    "entropy": H,
                    "forward_kl": float(np.mean(divergence("kl", pi, p))),
                    "reverse_kl": float(np.mean(divergence("rkl", pi, p))),
                    "tv": float(np.mean(divergence("tv", pi, p))),
                })
            rows.append({"divergence": div, "applicable": True,
                         **{k: float(np.mean([x[k] for x in res])) for k in res[0]}})
        out[tname] = {"target_entropy": H_p,
                      "target_alignment": float(np.mean(np.where(phi, p, 0).sum(1))) if not target.full_support
                      else float(np.mean((p * r).sum(1))),
                      "base_alignment": float(np.mean(np.where(phi, a, 0).sum(1))) if not target.full_support
                      else float(np.mean((a * r).sum(1))),
                      "base_entropy": float(np.mean(-(a * np.log(a)).sum(1))), "rows": rows}
    return {"steps": steps, "samples": samples, "learning_rate": lr, "contexts": X, "responses": n, "targets": out}


def main() -> None:
    t0 = time.perf_counter()
    res = {"nash_mp": nash_mp_section(), "inpo": inpo_section(), "apo": apo_section(),
           "nash_md": nash_md_section(), "fdpg": fdpg_section()}
    res["seconds"] = time.perf_counter() - t0
    res["machine"] = f"{platform.machine()} CPU, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(res, RESULTS / "alignment_rates.png")
    (RESULTS / "alignment_rates.md").write_text(report(res))
    with open(RESULTS / "alignment_rates.json", "w") as fh:
        json.dump(res, fh, indent=1, default=float)
    print(f"wrote {RESULTS}/alignment_rates.{{json,md,png}} in {res['seconds']:.1f}s")


if __name__ == "__main__":
    main()
