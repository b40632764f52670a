"""The sandbox: a fresh, resource-limited subprocess per candidate (docs/evolve.md, Sandbox)."""

from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxTimeout

__all__ = ["Sandbox", "SandboxCrash", "SandboxLimits", "SandboxTimeout"]
