"""Reading the config file and binding files: the IO before the pure parsers.

Neither NetfilterQueue nor pyinotify nor prometheus_client is imported here, so
`nfdhcpd check` reads and parses exactly what the daemon would without them.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import socket
import stat
import uuid

from ..core.binding import MAX_BINDING_SIZE, Binding, parse_binding
from ..core.config import Config, parse_config
from ..core.errors import BindingError, ConfigError


def load_config(path: str) -> Config:
    """Read and parse the config file; any failure is one `ConfigError` line."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "-", None, None, f"cannot read: {exc}") from None
    config = parse_config(text, path)
    if not config.server_duid:
        config = dataclasses.replace(config, server_duid=default_duid())
    return config


def default_duid() -> bytes:
    """A DUID-UUID (RFC 6355) from /etc/machine-id: stable across restarts and reboots."""
    try:
        with open("/etc/machine-id", encoding="ascii") as f:
            ident = uuid.UUID(f.read().strip())
    except (OSError, ValueError):
        ident = uuid.uuid5(uuid.NAMESPACE_DNS, socket.gethostname())
    return b"\x00\x04" + ident.bytes


def open_private(path: str, flags: int, mode: int, owners: tuple[int, ...]) -> int:
    """Open `path` for root where another user may own the directory (finding 1 of
    issue 12): never through a symbolic link, never as a controlling terminal, and
    only a regular file with one link whose owner is one of `owners`. Otherwise
    `OSError` naming the file. A link planted to /etc/shadow is refused, not followed."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise OSError(f"{path} is a symbolic link, refused") from None
        if exc.errno == errno.ENXIO:  # a FIFO without reader, or a socket
            raise OSError(f"{path} is not a regular file, refused") from None
        raise OSError(f"{path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file, refused")
        if info.st_nlink != 1:
            raise OSError(f"{path} has {info.st_nlink} hard links, refused")
        if info.st_uid not in owners:
            expected = " or ".join(f"uid {uid}" for uid in owners)
            raise OSError(f"{path} is owned by uid {info.st_uid}, not {expected}, refused")
        os.set_blocking(fd, True)  # O_NONBLOCK only kept a FIFO from blocking the open
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_binding(datapath: str, name: str) -> Binding:
    """Open `datapath/name` without following links and parse it."""
    path = os.path.join(datapath, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BindingError(name, 0, "is a symbolic link, refused") from None
        raise BindingError(name, 0, f"cannot open: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise BindingError(name, 0, f"is {kind}, refused")
        if info.st_nlink != 1:
            # A second name for a file: someone else's file, or one made to appear here.
            raise BindingError(name, 0, f"has {info.st_nlink} hard links, refused")
        if info.st_size > MAX_BINDING_SIZE:
            raise BindingError(name, 0, f"{info.st_size} bytes, larger than {MAX_BINDING_SIZE}")
        data = os.read(fd, MAX_BINDING_SIZE + 1)
    except OSError as exc:
        raise BindingError(name, 0, f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)
    return parse_binding(data, name)


def shown(name: str) -> str:
    """A file name fit for one log line: a newline in it must not forge another."""
    if name.isprintable():
        return name
    # ascii(), not a codec: codecs load lazily, and after dropping privileges may not load.
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in name)
