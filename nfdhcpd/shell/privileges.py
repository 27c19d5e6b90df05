"""Run as an unprivileged user that keeps only CAP_NET_ADMIN and CAP_NET_RAW.

The daemon parses frames crafted by untrusted VMs; once its queues and sockets are
bound it needs CAP_NET_ADMIN (to rebind NFQUEUEs on SIGHUP) and CAP_NET_RAW (raw
sends), nothing else. The standard library has setresuid but no capset(2), hence
the few ctypes calls below (capabilities(7), prctl(2)).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd

CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
KEEP = (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)

_PR_CAPBSET_DROP = 24
_PR_SET_KEEPCAPS = 8
_PR_SET_NO_NEW_PRIVS = 38
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class PrivilegeError(RuntimeError):
    """Dropping privileges failed: the daemon must not run on half-dropped."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise PrivilegeError(f"{what}: {os.strerror(errno)}")


def capabilities(pid: int | str = "self") -> dict[str, int]:
    """CapInh/CapPrm/CapEff/CapBnd/CapAmb of a process, from /proc."""
    caps = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Cap"):
                name, value = line.split(":")
                caps[name] = int(value, 16)
    return caps


def check_user(user: str) -> pwd.struct_passwd:
    """The passwd entry of `user`, refused if missing or root: checked before anything
    is bound or written, so a refused start leaves nothing behind. A number is a uid,
    tried before a name, as GRNET's nfdhcpd read it."""
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        raise PrivilegeError(f"[general] user {user!r}: no such user") from None
    if entry.pw_uid == 0 and os.geteuid() == 0:
        raise PrivilegeError(f"[general] user {user!r} is root; name an unprivileged user")
    return entry


def readable_by(path: str, entry: pwd.struct_passwd) -> bool:
    """Whether the daemon, once it runs as `entry`, can open `path` to read it (SIGHUP
    re-reads the config then): by the mode bits of the file and of each directory above
    it, for its uid and primary gid only (it drops supplementary groups). ACLs aside."""
    if entry.pw_uid == 0:
        return True
    path = os.path.abspath(path)
    checks = [(d, 0o1) for d in _ancestors(path)] + [(path, 0o4)]
    for name, perm in checks:
        try:
            st = os.stat(name)
        except OSError:
            return False
        if st.st_uid == entry.pw_uid:
            allowed = (st.st_mode >> 6) & perm
        elif st.st_gid == entry.pw_gid:
            allowed = (st.st_mode >> 3) & perm
        else:
            allowed = st.st_mode & perm
        if not allowed:
            return False
    return True


def unreadable_config(path: str, user: str) -> str:
    """What to say when `user` cannot read the config: SIGHUP would fail."""
    return (
        f"{path} is not readable by [general] user {user}: every reload (SIGHUP) will "
        f"fail; make it readable by the user's group (e.g. root:{user} mode 0640)"
    )


def _ancestors(path: str) -> list[str]:
    parents = []
    head = os.path.dirname(path)
    while True:
        parents.append(head)
        parent = os.path.dirname(head)
        if parent == head:
            return parents[::-1]
        head = parent


def drop_privileges(user: str, chown: tuple[str | int, ...] = ()) -> str:
    """Become `user` with only CAP_NET_ADMIN and CAP_NET_RAW; return what was done.

    Called as root after every privileged open; `chown` lists what the daemon must
    still write or replace as `user`: descriptors (its log file, as opened) and paths
    (its control socket), the latter never followed through a symbolic link. A process
    that is already unprivileged must already hold the two capabilities (given by
    systemd's AmbientCapabilities, say) and is left as it is.
    """
    entry = check_user(user)
    if os.geteuid() != 0:
        have = capabilities()["CapEff"]
        if have & KEEP != KEEP:
            raise PrivilegeError(
                f"running as uid {os.geteuid()} without CAP_NET_ADMIN and CAP_NET_RAW"
            )
        return f"already unprivileged (uid {os.geteuid()})"
    for item in chown:
        if isinstance(item, int):
            os.fchown(item, entry.pw_uid, -1)
        elif os.path.lexists(item):
            os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
    libc = _libc()
    libc.prctl.argtypes = [ctypes.c_int, *[ctypes.c_ulong] * 4]  # unused ones must be 0
    with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as f:
        last_cap = int(f.read())
    # The bounding set first, while CAP_SETPCAP is still ours: no later exec can regain more.
    for cap in range(last_cap + 1):
        if not KEEP & (1 << cap):
            _check(libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0), f"dropping capability {cap}")
    _check(libc.prctl(_PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS")
    os.setgroups([])
    os.setresgid(entry.pw_gid, entry.pw_gid, entry.pw_gid)
    os.setresuid(entry.pw_uid, entry.pw_uid, entry.pw_uid)
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)(_CapData(KEEP, KEEP, 0), _CapData(0, 0, 0))
    _check(libc.capset(ctypes.byref(header), data), "capset")
    _check(libc.prctl(_PR_SET_KEEPCAPS, 0, 0, 0, 0), "clearing PR_SET_KEEPCAPS")
    _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    caps = capabilities()
    if caps["CapEff"] != KEEP or caps["CapPrm"] != KEEP or os.getgroups():
        raise PrivilegeError(f"capabilities after the switch are {caps}, not CAP_NET_ADMIN+RAW")
    return f"running as {user} (uid {entry.pw_uid}) with CAP_NET_ADMIN and CAP_NET_RAW only"
