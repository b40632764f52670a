"""LLM backends behind one interface (docs/evolve.md, LLM backends, ledger and budgets)."""
