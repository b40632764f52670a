"""A seccomp filter for the sandbox child (installed by bubblewrap just before it executes the
child): no new processes (fork, vfork, clone without CLONE_THREAD, clone3), no keyrings, no
ptrace, no namespace or mount changes, no BPF or perf events; foreign system-call ABIs (i386,
x32) are killed. Threads stay allowed (pthread_create falls back from clone3 to clone)."""

from __future__ import annotations

import errno
import os
import platform
import struct

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_CLONE_THREAD = 0x00010000

# (audit arch, {syscall: number}); clone3's flags live in memory a filter cannot read, so it is
# refused with ENOSYS and the C library falls back to clone, whose flags are checked.
_ARCHES = {
    "x86_64": (0xC000003E, {"fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "ptrace": 101, "keyctl": 250,
                            "add_key": 248, "request_key": 249, "unshare": 272, "setns": 308, "mount": 165,
                            "umount2": 166, "pivot_root": 155, "bpf": 321, "perf_event_open": 298,
                            "process_vm_readv": 310, "process_vm_writev": 311, "userfaultfd": 323,
                            "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsmount": 432, "io_uring_setup": 425}),
    "aarch64": (0xC00000B7, {"clone": 220, "clone3": 435, "ptrace": 117, "keyctl": 219, "add_key": 217,
                             "request_key": 218, "unshare": 97, "setns": 268, "mount": 40, "umount2": 39,
                             "pivot_root": 41, "bpf": 280, "perf_event_open": 241, "process_vm_readv": 270,
                             "process_vm_writev": 271, "userfaultfd": 282, "open_tree": 428, "move_mount": 429,
                             "fsopen": 430, "fsmount": 432, "io_uring_setup": 425}),
}
_X32_BIT = 0x40000000


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def supported() -> bool:
    return platform.machine() in _ARCHES


def program() -> bytes:
    """The filter as the ``struct sock_filter`` array bubblewrap's ``--seccomp FD`` reads."""
    arch, nrs = _ARCHES[platform.machine()]
    deny = {n: errno.EPERM for n in nrs if n not in ("fork", "vfork", "clone", "clone3")}
    deny.update({n: errno.EAGAIN for n in ("fork", "vfork") if n in nrs})
    deny["clone3"] = errno.ENOSYS
    out = [_ins(_LD_W_ABS, 0, 0, 4), _ins(_JEQ, 1, 0, arch), _ins(_RET, 0, 0, _KILL_PROCESS), _ins(_LD_W_ABS, 0, 0, 0)]
    if platform.machine() == "x86_64":
        out += [_ins(_JGE, 0, 1, _X32_BIT), _ins(_RET, 0, 0, _KILL_PROCESS)]
    # clone: allowed with CLONE_THREAD (a thread), refused otherwise (a process).
    out += [_ins(_JEQ, 0, 4, nrs["clone"]), _ins(_LD_W_ABS, 0, 0, 16), _ins(_JSET, 1, 0, _CLONE_THREAD),
            _ins(_RET, 0, 0, _ERRNO | errno.EAGAIN), _ins(_RET, 0, 0, _ALLOW)]
    for name, err in sorted(deny.items()):
        out += [_ins(_JEQ, 0, 1, nrs[name]), _ins(_RET, 0, 0, _ERRNO | err)]
    out.append(_ins(_RET, 0, 0, _ALLOW))
    return b"".join(out)


def pipe_with_program() -> int:
    """The read end of a pipe holding :func:`program` (for ``bwrap --seccomp FD``; the caller
    closes it once the sandbox has started)."""
    r, w = os.pipe()
    try:
        os.write(w, program())  # a few hundred bytes: fits the pipe buffer
    finally:
        os.close(w)
    return r
