"""LLM backends behind one interface (specs/evolve.md §9)."""
