"""Measured convergence rates of the tabular alignment lab beside the theory (issue 7).

1. **Nash-MP**: KL(π*_β‖π) against the number of preference queries N (exact mode: one query
   = one evaluation of P(·≻μ); two per iteration), beside the spec's bound (1+2β)^(−N/2)·KL_0,
   for several β and response-set sizes |Y| (the rate should not depend on |Y|); the sampled
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
sys.path.insert(0, str(ROOT))

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
    pointwise_target,
    rlhf_target,
)
from alignment.tabular.fdpg import divergence  # noqa: E402
from games.preference import bradley_terry, make_game, regularized_exploitability, regularized_nash  # noqa: E402
from gtlearn.core.metrics import kl_divergence  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
KL_FLOOR = 1e-13  # below this KL is float64 rounding, excluded from rate fits


def _kl(game, nash, pi) -> float:
    return float(game.rho @ kl_divergence(nash, pi))


def _fit_rate(xs, ys) -> float:
    """exp(slope) of log y against x (least squares), on points above the rounding floor."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    keep = ys > KL_FLOOR
    if keep.sum() < 3:
        return float("nan")
    return float(np.exp(np.polyfit(xs[keep], np.log(ys[keep]), 1)[0]))


def _loglog_slope(xs, ys) -> float:
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    keep = ys > KL_FLOOR
    return float(np.polyfit(np.log(xs[keep]), np.log(ys[keep]), 1)[0])


# ------------------------------------------------------------------------------------------
def nash_mp_section() -> dict:
    rows, curves = [], {}
    for beta in (0.03, 0.1, 0.3, 1.0):
        for n in (4, 16, 64):
            game = make_game(f"random:{n},contexts=4,seed={n},ref=1.0")
            nash = regularized_nash(game, beta)
            alg = NashMP(game, NashMPConfig(beta=beta))
            kl0 = _kl(game, nash, alg.policy)
            Ns, kls, worst = [0], [kl0], 0.0
            while kls[-1] > KL_FLOOR and alg.t < 5000:
                alg.step()
                Ns.append(alg.queries)
                kls.append(_kl(game, nash, alg.policy))
                if kls[-1] > KL_FLOOR:
                    worst = max(worst, kls[-1] / (kl0 * (1 + 2 * beta) ** (-alg.queries / 2)))
            it_1e8 = next((N for N, k in zip(Ns, kls) if k < 1e-8), None)
            rate = _fit_rate(Ns, kls)
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
            alg.run(60)
            errs.append(_kl(game, nash, alg.policy))
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
                last.append(_kl(game, nash, alg.policy))
                avg.append(_kl(game, nash, alg.average_policy))
                avg_dg.append(float(game.rho @ (2 * regularized_exploitability(game, alg.average_policy, tau))))
                C = max(B * tau, 1.0)
                bound.append(32 * C**2 / (tau**2 * (T + 1)))
        const = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=3 * tau))
        const_kl = []
        for T in Ts:
            const.run(T - const.t)
            const_kl.append(_kl(game, nash, const.policy))
        small = INPO(game, INPOConfig(beta=tau, schedule="constant", eta=1.05 * tau))
        small.run(2000)
        sel = [i for i, T in enumerate(Ts) if T >= 100]
        out.append({
            "tau": tau,
            "last_kl_T2000": last[-1], "avg_kl_T2000": avg[-1], "avg_duality_gap_T2000": avg_dg[-1],
            "bound_T2000": bound[-1],
            "last_loglog_slope": _loglog_slope([Ts[i] for i in sel], [last[i] for i in sel]),
            "avg_loglog_slope": _loglog_slope([Ts[i] for i in sel], [avg[i] for i in sel]),
            "avg_dg_loglog_slope": _loglog_slope([Ts[i] for i in sel], [avg_dg[i] for i in sel]),
            "bound_holds_everywhere": bool(all(k <= b for k, b in zip(last, bound))),
            "const_3tau_kl_T200": const_kl[Ts.index(200)], "const_1.05tau_kl_T2000": _kl(game, nash, small.policy),
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
            alg.run(1000)
            ok += bool(_kl(game, nash, alg.policy) < 1e-10)
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
            while gap(alg.policy) > target_gap:
                alg.step()
            measured.append(alg.t)
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
        alg.run(500)
        sppo_rows.append({"alpha": alpha, "e0_last_T500": float(game.rho @ unregularized_exploitability(game, alg.policy)),
                          "e0_avg_T500": float(game.rho @ unregularized_exploitability(game, alg.average_policy))})
    return {"target_gap": target_gap, "beta": beta, "rows": rows, "sppo_rows": sppo_rows}


# ------------------------------------------------------------------------------------------
def nash_md_section() -> dict:
    game = make_game("random:8,contexts=4,seed=2,ref=1.0")
    beta = 0.1
    nash = regularized_nash(game, beta)
    rows = []
    for eta in (4.0, 2.0, 1.0, 0.5, 0.25, 0.125):
        alg = NashMD(game, NashMDConfig(beta=beta, eta=eta))
        alg.run(int(3000 / (eta * beta)))
        rows.append({"eta": eta, "bias_kl": _kl(game, nash, alg.policy)})
    slope = _loglog_slope([r["eta"] for r in rows], [r["bias_kl"] for r in rows])
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
                alg = FDPG(a, target, FDPGConfig(divergence=div, learning_rate=lr), mode="sampled", samples=samples,
                           seed=seed)
                pi = alg.run(steps)
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


# ------------------------------------------------------------------------------------------
def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8.5))
    ax = axes[0, 0]
    for i, (name, (Ns, kls, bound)) in enumerate(res["nash_mp"]["curves"].items()):
        pts = [(N, k) for N, k in zip(Ns, kls) if k > KL_FLOOR]
        ax.semilogy([p[0] for p in pts], [p[1] for p in pts], color=f"C{i}", label=f"Nash-MP {name}")
        ax.semilogy(Ns, bound, color=f"C{i}", ls="--", lw=0.8)
    ax.set_xlabel("preference queries N")
    ax.set_ylabel("KL(π*‖π)")
    ax.set_title("Nash-MP (|Y|=16), dashed: (1+2β)^(−N/2)·KL₀")
    ax.set_ylim(1e-14, None)
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    for i, (name, (Ts, last, avg, bound, const)) in enumerate(res["inpo"]["curves"].items()):
        ax.loglog(Ts, last, color=f"C{i}", label=f"INPO last, {name}")
        ax.loglog(Ts, avg, color=f"C{i}", ls=":", label=f"INPO average, {name}")
        ax.loglog(Ts, bound, color=f"C{i}", ls="--", lw=0.8, label=f"32C²/(τ²(T+1)), {name}")
        c = [(T, k) for T, k in zip(Ts, const) if k > KL_FLOOR]
        ax.loglog([p[0] for p in c], [p[1] for p in c], color=f"C{i}", ls="-.", lw=0.8, label=f"const η=3τ, {name}")
    ax.set_xlabel("iteration T")
    ax.set_ylabel("KL(π*‖π)")
    ax.set_title("INPO, η_t = τ(t+2)/2")
    ax.set_ylim(1e-14, None)
    ax.legend(fontsize=6)

    ax = axes[1, 0]
    alphas = [r["alpha"] for r in res["apo"]["rows"]]
    ax.plot(alphas, [np.mean(r["iterations"]) for r in res["apo"]["rows"]], "o-", label="measured")
    ax.plot(alphas, [np.mean(r["predicted_closed_form"]) for r in res["apo"]["rows"]], "x--", label="closed-form c_t")
    ax.plot(alphas, [np.mean(r["asymptotic_prediction"]) for r in res["apo"]["rows"]], "s:", label="(1−α)·DPO")
    ax.set_xlabel("APO momentum α (α = 0: iterative DPO)")
    ax.set_ylabel(f"iterations to e₀ ≤ {res['apo']['target_gap']}")
    ax.set_title("APO vs iterative DPO (Bradley–Terry)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for j, (tname, t) in enumerate(res["fdpg"]["targets"].items()):
        for r in t["rows"]:
            if r["applicable"]:
                ax.scatter(r["entropy"], r["alignment"] / max(abs(t["target_alignment"]), 1e-12),
                           marker="o" if j == 0 else "^", color=f"C{['kl','rkl','tv','js','chi2','rchi2'].index(r['divergence'])}",
                           label=f"{r['divergence']} ({tname.split()[0]})")
    ax.set_xlabel("entropy of π (diversity)")
    ax.set_ylabel("alignment / target's alignment")
    ax.set_title(f"f-DPG after {res['fdpg']['steps']} sampled steps")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if x == 0 or (1e-3 <= abs(x) < 1e4):
            return f"{x:.4g}"
        return f"{x:.2e}"
    return str(x)


def report(res: dict) -> str:
    L = []
    mp = res["nash_mp"]
    L.append("# Alignment lab: measured rates beside the theory\n")
    L.append(f"Generated by `experiments/alignment_rates.py` on {res['machine']} in {res['seconds']:.0f} s. "
             "All runs are exact tabular updates (float64) on seeded random preference games unless marked sampled; "
             "numbers in `alignment_rates.json`, curves in `alignment_rates.png`. Spec: `shared/specs/alignment.md`.\n")

    L.append("## Summary: claims, theory, measurement, verdict\n")
    L.append("| # | claim (source) | theory | measured | holds? |")
    L.append("|---|---|---|---|---|")
    claims = []

    worst = max(r["worst_ratio_to_bound"] for r in mp["rows"])
    faster = all(r["measured_rate_per_query"] <= r["theory_rate_per_query"] * (1 + 1e-9) for r in mp["rows"])
    by_beta = {}
    for r in mp["rows"]:
        by_beta.setdefault(r["beta"], []).append(r["measured_rate_per_query"])
    n_spread = max((max(v) - min(v)) / min(v) for v in by_beta.values())
    claims.append(("1", "Nash-MP: KL(π*‖π_N) ≤ (1+2β)^(−N/2)·KL₀ (spec §2.1, λ = ½)",
                   "ratio to bound ≤ 1", f"worst ratio {worst:.3f} over 12 (β, |Y|) settings", worst <= 1 + 1e-9,
                   f"The bound holds on every query of every run (worst KL/bound = {worst:.3f})" if worst <= 1 + 1e-9
                   else f"The bound is violated (worst KL/bound = {worst:.3f})"))
    sq_err = max(abs(r["measured_rate_per_query"] / r["theory_rate_per_query"] ** 2 - 1) for r in mp["rows"])
    claims.append(("2", "Nash-MP: the geometric rate is (1+2β)^(−1/2) per query",
                   "(1+2β)^(−1/2) per query, as a bound",
                   f"fitted rates {'never slower' if faster else 'sometimes slower'}; they match (1+2β)^(−1) per query "
                   f"within {100 * sq_err:.1f}%",
                   faster,
                   ("The bound's rate holds but is not tight: the fitted asymptotic rate is its square, (1+2β)^(−1) per "
                    f"query (within {100 * sq_err:.1f}%), because the log-policy error contracts by 1/(1+2β) per "
                    "iteration and KL is quadratic in it") if faster else
                   "The fitted rate is slower than the theory in some setting"))
    claims.append(("3", "Nash-MP: the rate does not depend on |Y|", "same rate for |Y| = 4, 16, 64",
                   f"max relative spread of the fitted rate across |Y| at fixed β: {100 * n_spread:.1f}%",
                   n_spread < 0.05,
                   f"The fitted rates at |Y| = 4, 16, 64 agree within {100 * n_spread:.1f}% at every β"
                   + (", so the rate is |Y|-independent in practice" if n_spread < 0.05 else ", larger than 5%: not confirmed")))
    kl8 = [r for r in mp["rows"] if r["queries_to_kl_1e-8"] is not None]
    claims.append(("4", "Nash-MP reaches KL < 1e-8 to the exact regularized Nash", "N ≈ 2·log(KL₀/1e-8)/log(1+2β)",
                   f"{len(kl8)}/{len(mp['rows'])} runs; measured/theory query ratio "
                   f"{min(r['queries_to_kl_1e-8'] / r['theory_queries_to_kl_1e-8'] for r in kl8):.2f}–"
                   f"{max(r['queries_to_kl_1e-8'] / r['theory_queries_to_kl_1e-8'] for r in kl8):.2f}",
                   len(kl8) == len(mp["rows"]),
                   "Every run reaches KL < 1e-8 within the query count the bound predicts (ratio ≤ 1)"
                   if all(r["queries_to_kl_1e-8"] <= r["theory_queries_to_kl_1e-8"] for r in kl8)
                   else "Some runs need more queries than the bound predicts"))
    s = mp["sampled"]
    slope = _loglog_slope([x["samples_per_estimate"] for x in s], [x["kl_mean"] for x in s])
    within = all(x["kl_mean"] <= 2 * x["predicted_kl"] for x in s)
    claims.append(("5", "Nash-MP sampled: error floor is statistical, KL ∝ 1/m labels per estimate",
                   "KL ≈ σ²/(2(β²+2βλ)), σ² ≤ 1/(4m); slope −1", f"log-log slope {slope:.2f}; within 2× of prediction: {within}",
                   within and -1.3 < slope < -0.7,
                   f"The floor falls as m^{slope:.2f} and stays within 2× of the linear-noise prediction"
                   if within else "The floor exceeds twice the linear-noise prediction"))

    inpo = res["inpo"]["rows"]
    claims.append(("6", "INPO last iterate with η_t = τ(t+2)/2: KL ≤ 32C²/(τ²(T+1)) (spec §3.1)", "bound; O(1/T)",
                   "; ".join(f"τ={r['tau']}: KL_T=2000 {r['last_kl_T2000']:.1e} vs bound {r['bound_T2000']:.1e}, "
                             f"slope {r['last_loglog_slope']:.2f}" for r in inpo),
                   all(r["bound_holds_everywhere"] for r in inpo),
                   "The bound holds at every logged T; the last iterate converges much faster than 1/T (it is loose)"
                   if all(r["bound_holds_everywhere"] for r in inpo) else "The bound fails at some T"))
    last_better = all(r["last_kl_T2000"] < r["avg_kl_T2000"] for r in inpo)
    claims.append(("7", "INPO: last iterate vs average iterate (average: duality gap O(1/√T))",
                   "avg DG slope ≤ −0.5",
                   "; ".join(f"τ={r['tau']}: avg KL {r['avg_kl_T2000']:.1e} (slope {r['avg_loglog_slope']:.2f}), "
                             f"avg DG {r['avg_duality_gap_T2000']:.1e} (slope {r['avg_dg_loglog_slope']:.2f})" for r in inpo),
                   all(r["avg_dg_loglog_slope"] <= -0.5 for r in inpo),
                   (f"The average's duality gap falls as T^{max(r['avg_dg_loglog_slope'] for r in inpo):.2f} or faster, "
                    "much faster than the O(1/√T) guarantee (the average's distance to π* decays like 1/T, the cost of "
                    "averaging in early iterates, and e_β is quadratic in it), while the last iterate is "
                    + ("far closer to π* than the average (orders of magnitude at T = 2000)" if last_better
                       else "not always closer than the average"))))
    sweep = res["inpo"]["constant_sweep"]
    frac = {r["label"]: r["converged"] / r["games"] for r in sweep}
    claims.append(("8", "INPO with constant η = 3τ converges linearly for τ ≥ 0.25 on random games; at τ = 0.1 it "
                   "fails on about a quarter of them; small constant η (the paper's 0.005) spirals or cycles (spec §3.1)",
                   "τ ≥ 0.25: all converge; τ = 0.1: ~75%; η = 0.005: not convergent",
                   "; ".join(f"{r['label']}: {r['converged']}/{r['games']} games to KL < 1e-10" for r in sweep),
                   ("no" if not (frac["τ=0.25, η=3τ"] == 1 and frac["τ=0.5, η=3τ"] == 1 and frac["paper η=0.005, τ=η/3"] < 0.5)
                    else "yes" if 0.5 <= frac["τ=0.1, η=3τ"] <= 0.9 else "partly (not the τ = 0.1 failures)"),
                   (f"At τ ≥ 0.25 the constant step η = 3τ converges on {min(frac['τ=0.25, η=3τ'], frac['τ=0.5, η=3τ']):.0%} "
                    f"of the games, at τ = 0.1 on {frac['τ=0.1, η=3τ']:.0%} (the spec says about 75%; its failures "
                    "are not reproduced on these games, |Y| = 6 with a uniform reference), and at the "
                    f"paper's η = 0.005 on {frac['paper η=0.005, τ=η/3']:.0%}, so only a neighbourhood of π* is "
                    "reached with a small constant η")))
    apo = res["apo"]
    exact_pred = all(r["iterations"] == r["predicted_closed_form"] for r in apo["rows"])
    sp = {r["alpha"]: r["speedup_vs_dpo"] for r in apo["rows"]}
    claims.append(("9", "APO: momentum accelerates iterative DPO, d_t → 1/(1−α) (spec §4.3)",
                   "iterations ≈ (1−α)× DPO's", "speed-up vs DPO: " + ", ".join(f"α={a}: {v:.2f}×" for a, v in sp.items()),
                   all(sp[a] > 1 for a in sp if a > 0) and exact_pred,
                   ("Every α > 0 needs fewer rounds, the counts equal the closed-form c_t prediction exactly, and the "
                    f"speed-up approaches 1/(1−α) (α = 0.5: {sp[0.5]:.2f}× vs 2×; α = 0.7: {sp[0.7]:.2f}× vs 3.33×) "
                    "from below because early rounds have d_t < 1/(1−α)") if exact_pred else
                   "The measured counts differ from the closed-form prediction"))
    md = res["nash_md"]
    claims.append(("10", "Nash-MD: constant-step fixed point is biased; bias shrinks as η → 0 (spec §6.1)",
                   "bias → 0 with η", f"bias KL from {md['rows'][0]['bias_kl']:.1e} (η=4) to {md['rows'][-1]['bias_kl']:.1e} "
                   f"(η=1/8); log-log slope {md['loglog_slope']:.2f}",
                   all(a["bias_kl"] > b["bias_kl"] for a, b in zip(md["rows"], md["rows"][1:])),
                   f"The bias falls monotonically with η, as η^{md['loglog_slope']:.2f} (about quadratic in η)"))
    fd = res["fdpg"]["targets"]
    rl = {r["divergence"]: r for r in fd["rlhf a·exp(r/0.5)"]["rows"]}
    claims.append(("11", "f-DPG: reverse KL is mode-seeking (aligned, low diversity), forward KL mass-covering; "
                   "JS balances the two (Go et al. 2023)",
                   "H(π_rkl) < H(π_js) < H(π_kl)",
                   f"RLHF target: entropy rkl {rl['rkl']['entropy']:.3f}, js {rl['js']['entropy']:.3f}, kl {rl['kl']['entropy']:.3f} "
                   f"(target {fd['rlhf a·exp(r/0.5)']['target_entropy']:.3f})",
                   rl["rkl"]["entropy"] < rl["js"]["entropy"] < rl["kl"]["entropy"],
                   ("At a fixed sampled budget the ordering of diversity is rkl < js < kl, so JS sits between the "
                    "mode-seeking and the mass-covering divergence") if rl["rkl"]["entropy"] < rl["js"]["entropy"] < rl["kl"]["entropy"]
                   else ("Not here: reverse KL is the most mode-seeking of the three (entropy "
                         f"{rl['rkl']['entropy']:.3f} < forward KL {rl['kl']['entropy']:.3f}, reward {rl['rkl']['alignment']:.3f} "
                         f"vs {rl['kl']['alignment']:.3f}), but JS at the same learning rate is simply further from p "
                         f"(entropy {rl['js']['entropy']:.3f}, reward {rl['js']['alignment']:.3f}) rather than between "
                         "them, so the balance the paper reports is not reproduced in this tabular setting")))
    for c in claims:
        verdict = c[4] if isinstance(c[4], str) else ("yes" if c[4] else "no")
        L.append(f"| {c[0]} | {c[1]} | {c[2]} | {c[3]} | {verdict} |")
    L.append("")
    L.append("**Verdicts, one sentence per claim.**\n")
    for c in claims:
        L.append(f"{c[0]}. {c[5]}.")
    L.append("")

    L.append("## 1. Nash-MP: KL to π*_β against preference queries\n")
    L.append("Exact mode; one query = one evaluation of P(·≻μ) for all contexts (two per iteration); λ = ½; "
             "random games, 4 contexts, uniform π_ref. Rates are exp(slope) of a least-squares fit of log KL on N "
             f"(points above {KL_FLOOR:g}).\n")
    L.append("| β | |Y| | KL₀ | measured rate/query | theory (1+2β)^(−½) | (1+2β)^(−1) | worst KL/bound | N to KL<1e-8 | bound's N |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in mp["rows"]:
        L.append(f"| {r['beta']} | {r['n']} | {_fmt(r['kl0'])} | {r['measured_rate_per_query']:.5f} | "
                 f"{r['theory_rate_per_query']:.5f} | {r['theory_rate_per_query'] ** 2:.5f} | {r['worst_ratio_to_bound']:.3f} | {_fmt(r['queries_to_kl_1e-8'])} | "
                 f"{r['theory_queries_to_kl_1e-8']} |")
    L.append("\nSampled mode (β = 0.3, |Y| = 8, 60 iterations, 3 seeds): KL(π*‖π) against labels per estimate m.\n")
    L.append("| m | labels used | mean KL | linear-noise prediction |")
    L.append("|---|---|---|---|")
    for x in s:
        L.append(f"| {x['samples_per_estimate']} | {x['labels']:,} | {x['kl_mean']:.2e} | {x['predicted_kl']:.2e} |")

    L.append("\n## 2. INPO: last iterate against the average\n")
    L.append("| τ | last KL (T=2000) | average KL | average duality gap | bound 32C²/(τ²(T+1)) | slope last | slope avg KL | slope avg DG | const η=3τ, KL at T=200 | const η=1.05τ, KL at T=2000 |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for r in inpo:
        L.append(f"| {r['tau']} | {r['last_kl_T2000']:.2e} | {r['avg_kl_T2000']:.2e} | {r['avg_duality_gap_T2000']:.2e} | "
                 f"{r['bound_T2000']:.2e} | {r['last_loglog_slope']:.2f} | {r['avg_loglog_slope']:.2f} | "
                 f"{r['avg_dg_loglog_slope']:.2f} | {r['const_3tau_kl_T200']:.2e} | {r['const_1.05tau_kl_T2000']:.2e} |")
    L.append("\n(Slopes: log-log over T ∈ [100, 2000]; values at the rounding floor are excluded. η = 1.05τ is a "
             "large constant step, γ = τ/η ≈ 0.95.)")
    L.append("\nConstant η over 20 random games (|Y| = 6, uniform π_ref), 1000 rounds, converged = KL(π*‖π) < 1e-10:\n")
    L.append("| setting | converged |")
    L.append("|---|---|")
    for r in res["inpo"]["constant_sweep"]:
        L.append(f"| {r['label']} | {r['converged']}/{r['games']} |")

    L.append("\n## 3. APO against iterative DPO\n")
    L.append(f"Bradley–Terry games (|Y| = 10, 4 contexts, 3 seeds), DPO β = {apo['beta']}, rounds until the "
             f"unregularized gap max_y P(y≻π) − ½ ≤ {apo['target_gap']} in every context. α = 0 is iterative DPO "
             "(equal step for step, tested).\n")
    L.append("| α | rounds (3 games) | closed-form prediction | (1−α)·DPO | speed-up vs DPO | 1/(1−α) |")
    L.append("|---|---|---|---|---|---|")
    for r in apo["rows"]:
        L.append(f"| {r['alpha']} | {r['iterations']} | {r['predicted_closed_form']} | {r['asymptotic_prediction']} | "
                 f"{r['speedup_vs_dpo']:.2f}× | {1 / (1 - r['alpha']):.2f}× |")
    L.append("\nAPO over SPPO (η_s = 0.5) on an intransitive random game (|Y| = 8), 500 rounds, unregularized gap e₀:\n")
    L.append("| α | e₀ last iterate | e₀ average iterate |")
    L.append("|---|---|---|")
    for r in apo["sppo_rows"]:
        L.append(f"| {r['alpha']} | {r['e0_last_T500']:.3e} | {r['e0_avg_T500']:.3e} |")
    L.append("\nOn intransitive games there is no closed-form acceleration; the table reports what momentum does to "
             "SPPO's last and average iterates rather than a theory comparison.")

    L.append("\n## 4. Nash-MD: bias of the constant-step fixed point\n")
    L.append(f"β = {md['beta']}, run to its fixed point; bias = KL(π*_β‖π_∞(η)).\n")
    L.append("| η | bias KL |")
    L.append("|---|---|")
    for r in md["rows"]:
        L.append(f"| {r['eta']} | {r['bias_kl']:.3e} |")

    L.append("\n## 5. f-DPG: alignment against diversity\n")
    fdr = res["fdpg"]
    L.append(f"{fdr['contexts']} contexts × {fdr['responses']} responses, base a ~ Dirichlet(0.5), reward r ~ N(0,1); "
             f"sampled mode, {fdr['steps']} steps × {fdr['samples']} samples per context, on-policy proposal, learning "
             f"rate {fdr['learning_rate']} for every divergence, mean of 3 seeds. Alignment is the mass on the "
             "constraint (pointwise) or the expected reward (RLHF); diversity is the entropy.\n")
    for tname, t in fd.items():
        L.append(f"**{tname}** — target: alignment {t['target_alignment']:.3f}, entropy {t['target_entropy']:.3f}; "
                 f"base a: alignment {t['base_alignment']:.3f}, entropy {t['base_entropy']:.3f}\n")
        L.append("| divergence | alignment | entropy | KL(p‖π) | KL(π‖p) | TV |")
        L.append("|---|---|---|---|---|---|")
        for r in t["rows"]:
            if not r["applicable"]:
                L.append(f"| {r['divergence']} | n/a (needs a full-support target) | | | | |")
            else:
                L.append(f"| {r['divergence']} | {r['alignment']:.3f} | {r['entropy']:.3f} | {_fmt(r['forward_kl'])} | "
                         f"{_fmt(r['reverse_kl'])} | {r['tv']:.3f} |")
        L.append("")
    L.append("With exact gradients and enough steps every divergence except TV reaches p to 1e-8 (tested), so the "
             "trade-off is a property of finite budgets; the step size is shared across divergences, which favours "
             "those with larger gradients, a confounder the paper also has to choose around.")
    return "\n".join(L) + "\n"


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
