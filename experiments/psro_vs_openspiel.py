"""gtlearn PSRO against OpenSpiel's ``psro_v2``, measured in one run.

Part 1 (agreement, kuhn_poker, Nash meta-solver in both slots): exploitability curves of
  * gtlearn: exact oracle (uniform tie-breaking), exact meta-game payoffs, HiGHS LP;
  * OpenSpiel psro_v2 as usually run: C++ exact ``BestResponseOracle`` (single argmax action),
    Monte Carlo meta-game payoffs (``sims_per_entry``), its cvxpy/ECOS Nash solver;
  * OpenSpiel psro_v2 with exact payoffs (``sample_episodes`` replaced by the exact
    ``expected_game_score.policy_value``) and the max-entropy best response
    (``action_value_tolerance``: uniform over tied actions, as the gtlearn oracle).
  OpenSpiel's profile is scored with OpenSpiel's own PolicyAggregator + nash_conv.

Part 2 (speed, leduc_poker, SHOR-PSRO: shor-train drives the best responses, shor-eval is
scored every iteration): gtlearn for K iterations against psro_v2 with the same settings
(exact BR with uniform ties, exact payoffs, the same SHOR code as its meta-strategy method,
the shor-eval profile scored with OpenSpiel's nash_conv every iteration). OpenSpiel's per-
iteration cost grows with the population; when it is run for fewer iterations than K, its
time for K is extrapolated by a linear fit of the per-iteration times (stated in the output).

    python experiments/psro_vs_openspiel.py [--kuhn-iterations 20] [--leduc-iterations 100] [--os-leduc-iterations 12]

Needs ``cvxpy`` and ``ecos`` for OpenSpiel's Nash solver (not gtlearn dependencies).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "experiments" / "results"
NAME = "psro_vs_openspiel"


def run_gtlearn(game: str, meta: str, iterations: int) -> dict:
    from games.tree import compile_game
    from solvers.psro import PSROConfig, PSROSolver

    tree = compile_game(game)
    PSROSolver(compile_game("kuhn_poker"), PSROConfig(meta)).step()  # load the numba kernels before timing
    t0 = time.perf_counter()
    solver = PSROSolver(tree, PSROConfig(meta))
    times = [time.perf_counter() - t0]
    for _ in range(iterations):
        solver.step()
        times.append(time.perf_counter() - t0)
    return {"curve": [r.exploitability for r in solver.history], "cumulative_seconds": times,
            "train": repr(solver.train_solver), "eval": repr(solver.eval_solver)}


def _os_meta(train_solver):
    """An OpenSpiel meta_strategy_method calling a gtlearn meta-solver on psro_v2's meta-game."""
    from open_spiel.python.algorithms.psro_v2 import meta_strategies

    from solvers.psro.meta_solvers import normalise

    def method(solver, return_joint=False):
        meta = [np.asarray(m, dtype=np.float64) for m in solver.get_meta_game()]
        calls = train_solver.state.get("calls", 0)
        probs = normalise(train_solver(meta, calls + 1), meta[0].shape)
        return (probs, meta_strategies.get_joint_strategy_from_marginals(probs)) if return_joint else probs

    return method


def max_entropy_oracle(game, tolerance: float = 1e-9):
    """psro_v2's exact BestResponseOracle, but returning OpenSpiel's max-entropy best response
    (C++ ``TabularBestResponse`` with ``action_value_tolerance``: uniform over tied actions).
    psro_v2's own oracle wraps the response in ``CPPBestResponsePolicy``, which only accepts the
    deterministic (single argmax) response, so the policy is read from the C++ table here."""
    import pyspiel
    from open_spiel.python import policy as os_policy
    from open_spiel.python.algorithms import policy_utils
    from open_spiel.python.algorithms.psro_v2 import utils

    all_states, to_info = utils.compute_states_and_info_states_if_none(game, None, None)
    uniform = policy_utils.policy_to_dict(os_policy.UniformRandomPolicy(game), game, all_states, to_info)
    procs = [pyspiel.TabularBestResponse(game, p, uniform, -1.0, tolerance) for p in range(game.num_players())]

    def oracle(game_, training_parameters, strategy_sampler=None, using_joint_strategies=False, **kwargs):
        out = []
        for player_parameters in training_parameters:
            player_policies = []
            for params in player_parameters:
                p = params["current_player"]
                aggr = utils.aggregate_policies(game, params["total_policies"], params["probabilities_of_playing_policies"])
                procs[p].set_policy(policy_utils.policy_to_dict(aggr, game, all_states, to_info))
                table = procs[p].get_best_response_policy().policy_table()
                br = os_policy.TabularPolicy(game, players=[p])
                for key, row in br.state_lookup.items():
                    for action, prob in table[key]:
                        br.action_probability_array[row, action] = prob
                player_policies.append(br)
            out.append(player_policies)
        return out

    return oracle


def run_openspiel(game_string: str, iterations: int, *, meta, eval_meta=None, exact_payoffs: bool,
                  max_entropy_br: bool, sims_per_entry: int = 1000, seed: int = 0) -> dict:
    import pyspiel
    from open_spiel.python import policy as os_policy
    from open_spiel.python.algorithms import expected_game_score, exploitability, policy_aggregator
    from open_spiel.python.algorithms.psro_v2 import best_response_oracle, psro_v2, strategy_selectors

    from solvers.psro.meta_solvers import normalise

    np.random.seed(seed)
    game = pyspiel.load_game(game_string)
    n = game.num_players()

    class ExactPayoffPSRO(psro_v2.PSROSolver):
        def sample_episodes(self, policies, num_episodes):
            return np.asarray(expected_game_score.policy_value(self._game.new_initial_state(), policies))

    cls = ExactPayoffPSRO if exact_payoffs else psro_v2.PSROSolver
    quiet = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(quiet):
        oracle = max_entropy_oracle(game) if max_entropy_br else best_response_oracle.BestResponseOracle(game=game)
        solver = cls(game, oracle, initial_policies=[os_policy.TabularPolicy(game) for _ in range(n)],
                     training_strategy_selector=strategy_selectors.probabilistic, sims_per_entry=sims_per_entry,
                     number_policies_selected=1, meta_strategy_method=meta, sample_from_marginals=True,
                     symmetric_game=False)
    aggregator = policy_aggregator.PolicyAggregator(game)

    def evaluate():
        probs = solver.get_meta_strategies()
        if eval_meta is not None:
            meta_game = [np.asarray(m, dtype=np.float64) for m in solver.get_meta_game()]
            probs = normalise(eval_meta(meta_game), meta_game[0].shape)
        aggr = aggregator.aggregate(range(n), solver.get_policies(), probs)
        return float(exploitability.nash_conv(game, aggr)) / n

    curve = [evaluate()]
    times = [time.perf_counter() - t0]
    for _ in range(iterations):
        with contextlib.redirect_stdout(quiet):
            solver.iteration()
        curve.append(evaluate())
        times.append(time.perf_counter() - t0)
        print(f"    openspiel k={len(curve) - 1} e={curve[-1]:.4e} t={times[-1]:.1f}s", flush=True)
    return {"curve": curve, "cumulative_seconds": times}


def extrapolate(cumulative: list[float], target: int) -> dict:
    """Fit per-iteration time t_k = a + b k on the measured iterations and predict the sum to
    ``target``. Linear, because every per-iteration cost of psro_v2 grows linearly with the
    population n = k + 1: the 2n + 1 new meta-game entries (each a fixed-cost tree traversal or
    batch of episodes) and the PolicyAggregator passes over all n policies."""
    per = np.diff(cumulative)
    ks = np.arange(1, len(per) + 1)
    coef = np.polyfit(ks, per, deg=1)
    pred = np.polyval(coef, np.arange(1, target + 1))
    pred = np.maximum(pred, per.min())
    return {"fit_coefficients_high_first": coef.tolist(), "measured_iterations": len(per),
            "predicted_total_seconds": float(cumulative[0] + pred.sum())}


def plot(data: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    for label, res in data["kuhn"]["runs"].items():
        pts = [(k, e) for k, e in enumerate(res["curve"]) if e > 0]
        axes[0].plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=label)
    axes[0].set_yscale("log")
    axes[0].set_title("kuhn_poker, Nash meta-solver")
    axes[0].set_xlabel("PSRO iteration")
    axes[0].set_ylabel("exploitability (NashConv/2)")
    axes[0].legend(fontsize=7)
    axes[0].grid(True, which="both", alpha=0.3)
    for label, res in data["leduc"]["runs"].items():
        axes[1].plot(res["cumulative_seconds"], res["curve"], marker=".", label=label)
    axes[1].set_yscale("log")
    axes[1].set_xscale("log")
    axes[1].set_title("leduc_poker, SHOR-PSRO: exploitability vs wall time")
    axes[1].set_xlabel("seconds")
    axes[1].legend(fontsize=7)
    axes[1].grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(RESULTS / f"{NAME}.png", dpi=110)
    plt.close(fig)


def write_md(data: dict) -> None:
    from gtlearn.core.io import atomic_write_bytes

    k = data["kuhn"]
    lines = [
        "# gtlearn PSRO vs OpenSpiel psro_v2", "",
        f"Machine: {data['machine']} (shared with other jobs; both sides measured in the same run).", "",
        f"## kuhn_poker, Nash meta-solver, {k['iterations']} iterations", "",
        "| iteration | " + " | ".join(k["runs"]) + " |", "|---|" + "---|" * len(k["runs"]),
    ]
    for i in range(k["iterations"] + 1):
        lines.append(f"| {i} | " + " | ".join(f"{r['curve'][i]:.3e}" if i < len(r["curve"]) else "-" for r in k["runs"].values()) + " |")
    lines += ["", k["explanation"], ""]
    le = data["leduc"]
    lines += ["## leduc_poker, SHOR-PSRO (shor-train / shor-eval), timing", "",
              "| run | iterations measured | seconds | exploitability at last measured iteration |", "|---|---|---|---|"]
    for label, r in le["runs"].items():
        lines.append(f"| {label} | {len(r['curve']) - 1} | {r['cumulative_seconds'][-1]:.1f} | {r['curve'][-1]:.4e} |")
    lines += ["", le["summary"], ""]
    atomic_write_bytes(RESULTS / f"{NAME}.md", ("\n".join(lines) + "\n").encode())


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kuhn-iterations", type=int, default=20)
    ap.add_argument("--leduc-iterations", type=int, default=100)
    ap.add_argument("--os-leduc-iterations", type=int, default=12)
    ap.add_argument("--sims-per-entry", type=int, default=1000)
    args = ap.parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    from solvers.psro.meta_solvers import SHOREval, SHORTrain

    data = {"machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores, CPU only"}

    K = args.kuhn_iterations
    print("== kuhn_poker / nash", flush=True)
    runs = {"gtlearn (exact payoffs, uniform ties, HiGHS)": run_gtlearn("kuhn_poker", "nash", K)}
    runs[f"OpenSpiel (MC sims_per_entry={args.sims_per_entry}, argmax BR, ECOS)"] = run_openspiel(
        "kuhn_poker", K, meta="nash", exact_payoffs=False, max_entropy_br=False, sims_per_entry=args.sims_per_entry)
    runs["OpenSpiel (exact payoffs, argmax BR, ECOS)"] = run_openspiel(
        "kuhn_poker", K, meta="nash", exact_payoffs=True, max_entropy_br=False)
    runs["OpenSpiel (exact payoffs, max-entropy BR, ECOS)"] = run_openspiel(
        "kuhn_poker", K, meta="nash", exact_payoffs=True, max_entropy_br=True)
    ours = np.array(runs["gtlearn (exact payoffs, uniform ties, HiGHS)"]["curve"])
    same = np.array(runs["OpenSpiel (exact payoffs, max-entropy BR, ECOS)"]["curve"])
    mc = np.array(runs[f"OpenSpiel (MC sims_per_entry={args.sims_per_entry}, argmax BR, ECOS)"]["curve"])
    diff = float(np.max(np.abs(ours - same)))
    first_below = lambda c: next((i for i, e in enumerate(c) if e < 1e-3), None)
    explanation = (
        f"Max |gtlearn - OpenSpiel(exact payoffs, max-entropy BR)| over the curve: {diff:.2e}. "
        f"Iteration at which exploitability first drops below 1e-3: gtlearn {first_below(ours)}, "
        f"OpenSpiel exact/max-entropy {first_below(same)}, OpenSpiel MC/argmax {first_below(mc)}; "
        f"final values {ours[-1]:.2e} / {same[-1]:.2e} / {mc[-1]:.2e}. "
        "Differences come from (i) tie-breaking: OpenSpiel's default best response plays one argmax action, "
        "gtlearn's mixes uniformly over tied actions (OpenSpiel's action_value_tolerance reproduces that); "
        "(ii) Monte Carlo meta-game payoffs: with sims_per_entry samples per entry the Nash of the estimated "
        "meta-game is not the Nash of the true one, so the MC curve plateaus at the sampling noise level instead "
        "of reaching 0; (iii) equilibrium selection when the meta-game has several Nash equilibria "
        "(HiGHS simplex vertex vs ECOS interior point), which changes the next best responses; "
        "(iv) tie tolerances on different value scales (gtlearn compares reach-weighted Q values with "
        "1e-12 + 1e-9|max Q|, OpenSpiel conditional values with 1e-9)."
    )
    data["kuhn"] = {"iterations": K, "runs": runs, "explanation": explanation}
    print(explanation, flush=True)

    L, Los = args.leduc_iterations, min(args.os_leduc_iterations, args.leduc_iterations)
    print(f"== leduc_poker / SHOR: gtlearn {L} iterations", flush=True)
    ours = run_gtlearn("leduc_poker", "shor", L)
    print(f"   gtlearn: {ours['cumulative_seconds'][-1]:.1f}s, e_{L}={ours['curve'][-1]:.4e}", flush=True)
    print(f"== leduc_poker / SHOR: OpenSpiel psro_v2 {Los} iterations", flush=True)
    theirs = run_openspiel("leduc_poker", Los, meta=_os_meta(SHORTrain()), eval_meta=SHOREval(),
                           exact_payoffs=True, max_entropy_br=True)
    t_ours_L = ours["cumulative_seconds"][L]
    t_ours_los = ours["cumulative_seconds"][Los]
    t_os_los = theirs["cumulative_seconds"][Los]
    measured_ratio = t_os_los / t_ours_los
    if Los < L:
        ex = extrapolate(theirs["cumulative_seconds"], L)
        t_os_L = ex["predicted_total_seconds"]
        how = (f"OpenSpiel was run for {Los} iterations only; its time for {L} is EXTRAPOLATED "
               f"({t_os_L:.0f}s) from a linear fit of its per-iteration times (cost model: linear in the population) (coefficients {ex['fit_coefficients_high_first']}).")
    else:
        ex, t_os_L = None, t_os_los
        how = f"Both ran all {L} iterations."
    ratio_L = t_os_L / t_ours_L
    gap = np.abs(np.array(ours["curve"][: Los + 1]) - np.array(theirs["curve"]))
    agree = float(np.max(gap))
    first = int(np.argmax(gap > 1e-9)) if np.any(gap > 1e-9) else None
    summary = (
        f"gtlearn: {t_ours_L:.1f}s for {L} SHOR-PSRO iterations (e_{L} = {ours['curve'][L]:.4e}). "
        f"Over the first {Los} iterations (both measured): gtlearn {t_ours_los:.2f}s, OpenSpiel {t_os_los:.1f}s, "
        f"ratio {measured_ratio:.0f}x. {how} Ratio for {L} iterations: {ratio_L:.0f}x (goal 10x). "
        f"Max |e_k difference| over the common iterations: {agree:.2e}; "
        + (f"the curves are identical (to 1e-9) through iteration {first - 1} and first differ at iteration {first} "
           f"(by {gap[first]:.1e}), after which the populations drift apart. "
           if first is not None else "the curves agree to 1e-9 at every iteration. ")
        + "Both sides run the same SHOR code on exact payoffs with uniform-tie best responses; a first difference can "
        "only come from the tie tolerances (gtlearn: reach-weighted Q, 1e-12 + 1e-9|max Q|; OpenSpiel: conditional "
        "values, 1e-9) or from round-off in the meta-game payoffs (einsum vs tree traversal) amplified by SHOR's "
        "near-argmax evaluation (tau = 0.001); which of the two it is was not diagnosed."
    )
    data["leduc"] = {"iterations": L, "openspiel_iterations": Los, "extrapolation": ex, "ratio_measured": measured_ratio,
                     "ratio_full": ratio_L, "runs": {"gtlearn": ours, "OpenSpiel psro_v2": theirs}, "summary": summary}
    summary += (" The OpenSpiel side's time includes the same SHOR meta-solver calls (gtlearn's numba code, about the "
                "same seconds as on the gtlearn side); the difference is the oracle, payoff and evaluation machinery.")
    print(summary, flush=True)
    from gtlearn.core.io import atomic_write_json

    atomic_write_json(RESULTS / f"{NAME}.json", data)
    write_md(data)
    plot(data)
    print((RESULTS / f"{NAME}.md").read_text())


if __name__ == "__main__":
    main()
