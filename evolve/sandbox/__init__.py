"""The sandbox: a fresh, resource-limited subprocess per candidate (specs/evolve.md §7)."""

from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxTimeout

__all__ = ["Sandbox", "SandboxCrash", "SandboxLimits", "SandboxTimeout"]
