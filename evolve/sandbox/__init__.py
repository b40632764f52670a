"""The sandbox: a fresh, isolated, resource-limited child process per candidate (docs/evolve.md, Sandbox)."""

from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxStartError, SandboxTimeout

__all__ = ["Sandbox", "SandboxCrash", "SandboxLimits", "SandboxStartError", "SandboxTimeout"]
