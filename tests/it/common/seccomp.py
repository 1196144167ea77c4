"""Runs a program under a seccomp filter that refuses unshare(2) with EPERM,
as Docker's default profile does for unprivileged containers (x86_64).

    seccomp.py PROGRAM ARGS...
"""
import ctypes
import os
import struct
import sys

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
AUDIT_ARCH_X86_64, NR_UNSHARE = 0xC000003E, 272
LD_W_ABS, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, ERRNO_EPERM = 0x7FFF0000, 0x00050000 | 1


def insn(code, k, jt=0, jf=0):
    return struct.pack("HBBI", code, jt, jf, k)


program = b"".join([
    insn(LD_W_ABS, 4),  # seccomp_data.arch
    insn(JEQ_K, AUDIT_ARCH_X86_64, 0, 3),
    insn(LD_W_ABS, 0),  # seccomp_data.nr
    insn(JEQ_K, NR_UNSHARE, 0, 1),
    insn(RET_K, ERRNO_EPERM),
    insn(RET_K, ALLOW),
])


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(program)
fprog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
    sys.exit("seccomp.py: cannot set no_new_privs")
if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
    sys.exit("seccomp.py: cannot install the filter")
os.execvp(sys.argv[1], sys.argv[1:])
