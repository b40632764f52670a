"""Built-in CFR rules, by id. Each is one small module on the interface of :mod:`.base`."""

from __future__ import annotations

from gtlearn.core.registry import Registry
from solvers.cfr.rules.aod_cfr import AODCFR
from solvers.cfr.rules.base import FunctionRule, Rule, regret_matching
from solvers.cfr.rules.cfr import CFR
from solvers.cfr.rules.cfr_plus import CFRPlus
from solvers.cfr.rules.dcfr import DCFR, LCFR
from solvers.cfr.rules.hs_pcfr_plus import HSPCFRPlus
from solvers.cfr.rules.pcfr_plus import PCFRPlus
from solvers.cfr.rules.pdcfr_plus import PDCFRPlus
from solvers.cfr.rules.vad_cfr import VADCFR

# rule id -> Entry(cls); parameters are constructor keywords whose defaults are the papers'
# constants (docs/cfr.md).
RULES = Registry("rule")
for _name, _cls, _aliases in (
    ("cfr", CFR, ()),
    ("cfr+", CFRPlus, ()),
    ("lcfr", LCFR, ()),
    ("dcfr", DCFR, ()),
    ("pcfr+", PCFRPlus, ()),
    ("pdcfr+", PDCFRPlus, ("dpcfr+",)),  # dpcfr+: the name used in arXiv:2602.16928
    ("hs-pcfr+", HSPCFRPlus, ()),
    ("vad-cfr", VADCFR, ()),
    ("aod-cfr", AODCFR, ()),
):
    RULES.add(_name, _cls, aliases=_aliases)

__all__ = ["RULES", "Rule", "FunctionRule", "regret_matching", "CFR", "CFRPlus", "DCFR", "LCFR",
           "PCFRPlus", "PDCFRPlus", "HSPCFRPlus", "VADCFR", "AODCFR"]
