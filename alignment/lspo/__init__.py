"""LSPO: Latent Space Policy Optimization for the Werewolf game (Xu, Gu, Yu, Wu, Wang, ICML 2025,
arXiv 2502.04686) -- latent strategy space from statement embeddings + per-role k-means, CFR on
the abstracted game, back to language by DPO.

Modules: ``statements`` (intents, phrasings, claim parser), ``board`` (the rule-based reading
of the board, intent realization), ``agents`` (random, rule-based, language agent with JSON
parsing and fallback, the play-time LSPO agent), ``policies/template.py`` (offline statement
policy), ``policies/hf.py`` (Hugging Face LM + TRL DPO), ``embed`` (hashing / TF-IDF / MiniLM),
``cluster`` (latent space), ``selfplay``, ``abstraction`` (the abstracted game, public labels,
the CFR actor), ``infostates`` (the tabular information-state keys), ``mccfr`` (the solver),
``cfr_policy`` (its output tables), ``preferences``, ``config`` (the settings, presets and the
checks made before a run), ``loop`` (the iteration, a run directory),
``evaluate`` (win rates with 95% intervals), ``rpsls`` (toy check).

Documented choices and deviations (where the paper is silent or differs; docs/lspo.md):

* solver: tabular external-sampling MCCFR with role-shared keys, one-round depth limit and
  linear averaging (the paper used Deep CFR; ``deep_cfr`` is not implemented);
* listeners observe a *public label* of a statement (a role-agnostic clustering), not the
  speaker's role-specific latent index, which would reveal the speaker's role;
* k-means runs on distinct statements, unweighted (``kmeans_weighted=False``), refitted each
  iteration;
* regret of a candidate = value gap ``max_z' q(I, z') - q(I, z)``; pairs from candidates in
  different clusters with the smaller gap chosen, ties dropped, ``delta = 0``;
* template DPO: learning rate 0.1 (Adam) instead of 1e-6; the HF path uses 1e-6 with TRL;
* self-play actions: the rule-based actor in iteration 1, the previous CFR policy afterwards;
  play time: statements from the tuned policy, actions from the final CFR policy;
* embedder default ``hashing`` (the offline CI choice); TF-IDF is fitted per
  iteration on all roles and skips the optional SVD;
* resume granularity is one finished iteration.
"""
