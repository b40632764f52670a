"""LSPO on 7-player Werewolf, offline CPU preset, plus the RPSLS toy check.

Reproduces the *protocol* of Xu et al. (ICML 2025, arXiv 2502.04686) Table 1 / Figure 4 with the
offline template policy and the hashing embedder (the paper used Llama-3-8B and OpenAI
embeddings, so the numbers are not comparable to its figures):

1. ``LSPOTrainer`` with the ``cpu`` preset: 3 iterations x 200 self-play games, N = 3
   candidates, k = 3/2 +1 per iteration, external-sampling MCCFR, template DPO; wall time.
2. Win rates by side of the iteration 0..3 agents against the random agent, the rule-based
   agent, the iteration-0 agent and the final agent, ``--games`` games per side (default 200),
   with 95% Wilson intervals.
3. The RPSLS toy check with the hashing, TF-IDF and (when installed) MiniLM embedders.
4. 10,000 uniformly random games through the engine (errors, wall time).

Writes experiments/results/lspo_werewolf.{json,md,png}.

    python experiments/lspo_werewolf.py                 # the full run (~10 min on 2 cores)
    python experiments/lspo_werewolf.py --preset ci --games 40   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from gtlearn.core.io import atomic_write_json  # noqa: E402


def random_games(n: int, seed: int = 0) -> dict:
    from games.werewolf.engine import PHASE_DISCUSSION, WerewolfEngine

    t0 = time.perf_counter()
    winners: dict[str, int] = {}
    errors = 0
    eng = WerewolfEngine()
    rounds = []
    for g in range(n):
        rng = random.Random(seed * 1_000_003 + g)
        try:
            eng.reset(seed * 1_000_003 + g)
            while not eng.done:
                joint = {}
                for p in eng.actors():
                    legal = eng.legal_actions(p)
                    joint[p] = f"statement {rng.random():.3f}" if eng.phase == PHASE_DISCUSSION else rng.choice(legal)
                eng.step(joint)
            winners[eng.winner] = winners.get(eng.winner, 0) + 1
            rounds.append(eng.round)
        except Exception:  # counted and reported; the run must show zero
            errors += 1
    return {"games": n, "errors": errors, "seconds": time.perf_counter() - t0, "winners": winners,
            "max_rounds_seen": max(rounds) if rounds else 0}


def _train(args, result: dict) -> None:
    """1. The LSPO loop (a fresh run directory)."""
    from alignment.lspo.loop import LSPOConfig, LSPOTrainer

    cfg = LSPOConfig.preset(args.preset, iterations=args.iterations, traversals=args.traversals,
                            embedder=args.embedder, seed=args.seed)
    t0, c0 = time.perf_counter(), time.process_time()
    summaries = LSPOTrainer(cfg, args.run_dir, overwrite=True).train()
    train_s = time.perf_counter() - t0
    result["config"] = cfg.__dict__
    result["train_seconds"] = train_s
    result["train_cpu_seconds"] = time.process_time() - c0
    result["load_average_after_training"] = os.getloadavg()
    result["iterations"] = summaries
    print(f"training: {train_s:.1f}s", flush=True)


def _evaluate(args, result: dict) -> None:
    """2. Win rates of every iteration's agent, the ablation, and the baselines for scale."""
    from alignment.lspo.evaluate import baseline_agent, head_to_head, lspo_agent

    t0 = time.perf_counter()
    final = lspo_agent(args.run_dir, args.iterations)
    opponents = {"random": baseline_agent("random"), "rule": baseline_agent("rule"),
                 "iter0": baseline_agent("iter0"), "final": final}
    evals: dict = {}
    for it in range(args.iterations + 1):
        agent = lspo_agent(args.run_dir, it)
        for name, opp in opponents.items():
            r = head_to_head(agent, opp, args.games, seed=1000 + args.seed)
            evals.setdefault(str(it), {})[name] = r
            print(f"iteration {it} vs {name:6s} " + "  ".join(
                f"{s}: {v['win_rate']:.3f} [{v['ci95'][0]:.3f},{v['ci95'][1]:.3f}]" for s, v in r.items()), flush=True)
    result["eval"] = evals
    # split of duties: the final DPO-tuned statements with the rule-based actor instead of CFR
    ablation = lspo_agent(args.run_dir, args.iterations, actions_from="policy")
    result["ablation_final_policy_actions"] = {
        name: head_to_head(ablation, opponents[name], args.games, seed=1000 + args.seed) for name in ("random", "rule")
    }
    result["eval_seconds"] = time.perf_counter() - t0
    result["baselines"] = {
        f"{a}_vs_{b}": head_to_head(baseline_agent(a), baseline_agent(b), args.games, seed=2000 + args.seed)
        for a, b in (("rule", "random"), ("random", "rule"), ("rule", "rule"), ("random", "random"))
    }


def _rpsls(seed: int) -> dict:
    """3. The RPSLS toy check with every embedder that is installed."""
    from alignment.lspo.embed import available
    from alignment.lspo.rpsls import RPSLSConfig, run_rpsls

    rp: dict = {}
    for emb in ("hashing", "tfidf", "minilm"):
        if not available(emb):
            continue
        t0 = time.perf_counter()
        its = run_rpsls(RPSLSConfig(embedder=emb, seed=seed))
        rp[emb] = {"seconds": time.perf_counter() - t0,
                   "iterations": [{"iteration": r.iteration, "k": r.k, "exploitability": r.exploitability,
                                   "purity": r.purity, "pairs": r.pairs, "policy": r.policy,
                                   "generator": r.generator} for r in its]}
        print(f"rpsls {emb}: " + ", ".join(f"it{r.iteration} k={r.k} expl={r.exploitability:.4f}" for r in its))
    return rp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--games", type=int, default=200, help="evaluation games per (iteration, opponent, side)")
    ap.add_argument("--traversals", type=int, default=None)
    ap.add_argument("--embedder", default="hashing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--run-dir", default=str(ROOT / "runs" / "lspo_werewolf_experiment"))
    ap.add_argument("--out", default=str(ROOT / "experiments" / "results" / "lspo_werewolf"))
    ap.add_argument("--report-only", action="store_true", help="re-render .md/.png from the existing .json")
    args = ap.parse_args()
    out = Path(args.out)
    if not args.report_only:
        result: dict = {
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
            "args": vars(args),
        }
        _train(args, result)
        _evaluate(args, result)
        result["rpsls"] = _rpsls(args.seed)
        result["random_games"] = random_games(10_000)  # 4. the engine on random play
        print(f"10,000 random games: {result['random_games']}")
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out.with_suffix(".json"), result)
    res = json.loads(out.with_suffix(".json").read_text())
    write_markdown(res, out.with_suffix(".md"))
    plot(res, out.with_suffix(".png"))
    print(f"wrote {out}.json/.md/.png")


def _header_lines(res: dict) -> list[str]:
    """Title, machine and times, the per-iteration table."""
    cfg = res["config"]
    lines = [
        "# LSPO on 7-player Werewolf (offline CPU preset)",
        "",
        (f"Machine: {res['machine']['cpus']} CPUs, {res['machine']['platform']}. Template policy, "
         f"`{cfg['embedder']}` embedder, {cfg['iterations']} iterations x {cfg['games']} self-play games, "
         f"{cfg['traversals']} MCCFR traversals per iteration."),
        "",
        (f"**Training wall time: {res['train_seconds']:.1f} s** (CPU time of the process "
         f"{res['train_cpu_seconds']:.1f} s; 1-min load average after training "
         f"{res['load_average_after_training'][0]:.1f} on {res['machine']['cpus']} cores, shared with other jobs); "
         f"evaluation {res['eval_seconds']:.1f} s."),
        "",
        "## Per iteration",
        "",
        "| it | k (scheduled) | k public | turns | pairs | DPO log-ratio before -> after | self-play s | cluster s | CFR s | DPO s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in res["iterations"]:
        sec = s["seconds"]
        lines.append(
            f"| {s['iteration']} | {s['k_scheduled']} | {s['k_public']} | {s['selfplay']['turns']} | "
            f"{s['preferences']['pairs']} | {s['dpo']['mean_log_ratio_before']:.2f} -> {s['dpo']['mean_log_ratio_after']:.2f} | "
            f"{sec['selfplay']:.1f} | {sec['cluster']:.1f} | {sec['cfr']:.1f} | {sec['dpo']:.1f} |"
        )
    return lines


def _win_rate_lines(res: dict) -> list[str]:
    """The win-rate table and its generated summary."""
    lines: list[str] = []
    games = res["args"]["games"]
    lines += ["", f"## Win rates by side ({games} games per cell, 95% Wilson interval)", "",
              "| agent | opponent | as werewolves | as village |", "|---|---|---|---|"]
    for it, row in res["eval"].items():
        for opp, r in row.items():
            cell = lambda v: f"{v['win_rate']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]"
            lines.append(f"| iteration {it} | {opp} | {cell(r['werewolves'])} | {cell(r['village'])} |")
    its = sorted(res["eval"], key=int)
    first, last = (its[1], its[-1]) if len(its) > 2 else (its[0], its[-1])
    lines += ["", "Summary (generated):", ""]
    for opp in res["eval"][its[0]]:
        for side in ("werewolves", "village"):
            a, b = res["eval"][its[0]][opp][side]["win_rate"], res["eval"][last][opp][side]["win_rate"]
            lines.append(f"- vs {opp}, as {side}: iteration 0 {a:.3f} -> iteration {last} {b:.3f}")
    if "final" in res["eval"][its[0]]:
        for side in ("werewolves", "village"):
            a = res["eval"][first]["final"][side]["win_rate"]
            b = res["eval"][last]["final"][side]["win_rate"]
            if b <= a:
                lines.append(f"- WARNING: as {side}, the win rate against the final agent did not rise "
                             f"from iteration {first} ({a:.3f}) to iteration {last} ({b:.3f}).")
    return lines


def _other_lines(res: dict) -> list[str]:
    """Ablation, baselines, RPSLS, random games."""
    lines: list[str] = []
    lines += ["", "Ablation -- final iteration's statements with the rule-based actor instead of CFR actions:", "",
              "| opponent | as werewolves | as village |", "|---|---|---|"]
    for name, r in res["ablation_final_policy_actions"].items():
        lines.append(f"| {name} | {r['werewolves']['win_rate']:.3f} | {r['village']['win_rate']:.3f} |")
    lines += ["", "Baselines against each other (same protocol):", "", "| pairing | as werewolves | as village |",
              "|---|---|---|"]
    for name, r in res["baselines"].items():
        lines.append(f"| {name} | {r['werewolves']['win_rate']:.3f} | {r['village']['win_rate']:.3f} |")
    lines += ["", "## RPSLS toy check (exploitability of the LSPO policy; equilibrium value 0)", "",
              "| embedder | iteration 1 | iteration 2 | iteration 3 | purity at k=5 |", "|---|---|---|---|---|"]
    for emb, r in res["rpsls"].items():
        ex = [f"{x['exploitability']:.4f} (k={x['k']})" for x in r["iterations"]]
        lines.append(f"| {emb} | " + " | ".join(ex) + f" | {r['iterations'][-1]['purity']:.3f} |")
    rg = res["random_games"]
    lines += ["", (f"## Engine: {rg['games']:,} uniformly random games: {rg['errors']} errors, "
                   f"{rg['seconds']:.1f} s; winners {rg['winners']}; longest game {rg['max_rounds_seen']} rounds."), ""]
    return lines


def write_markdown(res: dict, path: Path) -> None:
    path.write_text("\n".join(_header_lines(res) + _win_rate_lines(res) + _other_lines(res)))


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    its = sorted(int(i) for i in res["eval"])
    opps = list(res["eval"][str(its[0])])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, side in zip(axes, ("werewolves", "village")):
        for opp in opps:
            rates = [res["eval"][str(i)][opp][side]["win_rate"] for i in its]
            lo = [rates[k] - res["eval"][str(i)][opp][side]["ci95"][0] for k, i in enumerate(its)]
            hi = [res["eval"][str(i)][opp][side]["ci95"][1] - rates[k] for k, i in enumerate(its)]
            ax.errorbar(its, rates, yerr=[lo, hi], marker="o", capsize=3, label=f"vs {opp}")
        ax.set_title(f"LSPO agent as the {side} side")
        ax.set_xlabel("LSPO iteration (0 = untrained)")
        ax.set_xticks(its)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("win rate (95% Wilson interval)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
