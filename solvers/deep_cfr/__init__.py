"""Deep CFR in PyTorch (Brown et al., ICML 2019) on OpenSpiel's conventions: advantage networks,
an average-policy network and reservoir buffers (docs/cfr.md, "Sampled CFR (MCCFR)").

- :mod:`.nets` -- the MLP and its seeded initialization;
- :mod:`.buffers` -- reservoir buffers;
- :mod:`.traversal` -- the external-sampling traversal that fills them;
- :mod:`.config` -- :class:`DeepCFRConfig` (imports no PyTorch);
- :mod:`.solver` -- :class:`~solvers.deep_cfr.solver.DeepCFRSolver` (the solver contract; local
  or Ray traversals).
"""

from solvers.deep_cfr.config import DeepCFRConfig

__all__ = ["DeepCFRConfig"]
