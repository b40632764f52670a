"""gtlearn program search (docs/evolve.md): an AlphaEvolve-style loop in which an LLM (or the
offline mutation operator) edits the EVOLVE-BLOCK regions of a seed program, a sandbox runs
it, and trusted toolkit code scores what it returns.

Entry points: :func:`evolve.controller.run_campaign`, :func:`evolve.controller.resume_campaign`
and the ``gtlearn evolve`` CLI.
"""
