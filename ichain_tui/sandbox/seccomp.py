"""Provides the seccomp profile of every sandbox run (Docker's JSON format, passed inline).

Docker replaces its default profile with the one given, so this one stands alone: it refuses the
system calls a task never needs and that are the usual ways from a process into the kernel's
less-trodden code — io_uring, ptrace and reading other processes' memory, BPF, perf, userfaultfd,
keyrings, namespaces and mounts, modules, kexec, clocks, swap — and clone with any namespace flag
(clone3 answers ENOSYS, so the C library falls back to clone, whose flags can be inspected), and
mknod of character and block devices (FIFOs and plain files stay allowed). runc's dropped
CAP_MKNOD already refuses device nodes; gVisor's own kernel did not, and this makes both equal.
Only the native 64-bit system call table is reachable: 32-bit and x32 entry points are refused.
Names a kernel does not know are skipped by the runtime, so one profile serves x86_64 and arm64.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

EPERM, ENOSYS = 1, 38
S_IFMT, S_IFCHR, S_IFBLK = 0o170000, 0o020000, 0o060000

DENIED = (
    # tracing and other processes' memory
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "kcmp",
    "pidfd_getfd",
    # asynchronous I/O rings, BPF, perf, userfaultfd
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    # keyrings
    "keyctl",
    "add_key",
    "request_key",
    # namespaces, mounts, roots
    "unshare",
    "setns",
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "open_by_handle_at",
    "name_to_handle_at",
    # the kernel itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "quotactl_fd",
    "lookup_dcookie",
    "nfsservctl",
    "syslog",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vhangup",
    "fanotify_init",
    "iopl",
    "ioperm",
    "vm86",
    "vm86old",
    "move_pages",
    "migrate_pages",
    # clocks and names of the host
    "settimeofday",
    "stime",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "sethostname",
    "setdomainname",
)

NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)


def profile() -> dict[str, Any]:
    rules = [
        {"names": list(DENIED), "action": "SCMP_ACT_ERRNO", "errnoRet": EPERM},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS},
    ]
    for flag in NAMESPACE_FLAGS:
        rules.append(
            {
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }
        )
    for name, index in (("mknod", 1), ("mknodat", 2)):  # the mode argument
        for kind in (S_IFCHR, S_IFBLK):
            rules.append(
                {
                    "names": [name],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": EPERM,
                    "args": [{"index": index, "value": S_IFMT, "valueTwo": kind, "op": "SCMP_CMP_MASKED_EQ"}],
                }
            )
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": rules,
    }


@lru_cache(maxsize=1)
def security_opt() -> str:
    """The `seccomp=<profile>` security option for the engine."""
    return "seccomp=" + json.dumps(profile(), separators=(",", ":"))
