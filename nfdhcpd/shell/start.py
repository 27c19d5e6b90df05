"""Starting the daemon: logging, config, pidfile, queues and endpoints as root, the
privilege drop, detaching, and serving until a signal says stop."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
from typing import TextIO

import daemon as python_daemon  # imported before privileges are dropped, like all we use

from ..core.config import user_warning
from ..core.errors import ConfigError
from ..ops.control import control_path
from .daemon import Daemon
from .files import load_config, open_private
from .notify import Notifier
from .pidfile import PidFile
from .privileges import check_user, drop_privileges, readable_by, unreadable_config

LOG_FORMAT = "%(asctime)s %(levelname)s %(message)s"
EXIT_CONFIG = 2
EXIT_STARTUP = 1


def start(args: argparse.Namespace) -> int:
    """Run the daemon as `args` (cli.parse_args) say; the exit status."""
    level = logging.DEBUG if args.debug else logging.INFO
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[stderr])
    log = logging.getLogger("nfdhcpd")

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"nfdhcpd: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for warning in (*config.warnings, user_warning(config)):
        if warning is not None:
            log.warning("%s", warning)

    pidfile: PidFile | None = None
    daemon: Daemon | None = None
    early_log: TextIO | None = None
    logfile = os.path.join(config.logdir, "nfdhcpd.log")
    try:
        user = check_user(config.user)
        uid = user.pw_uid
        # What `user` must own once root is gone: the log file (by descriptor, as
        # opened) and the control socket (by name, never through a link). Directories
        # nfdhcpd makes stay root's: one the user owned would let it plant links there
        # for root to follow at the next start (finding 1 of issue 12).
        handed_over: list[str | int] = []
        if not args.foreground:
            pidfile = PidFile(config.pidfile)
            os.makedirs(config.logdir, exist_ok=True)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            logfd = open_private(logfile, flags, 0o640, owners=(0, uid))
            handed_over.append(logfd)  # reopened by name, as `user`, after logrotate
            # Until it detaches, the daemon logs to its file as well; the terminal (an
            # init script's output) gets only warnings and errors.
            early_log = os.fdopen(logfd, "a", encoding="utf-8")
            early = logging.StreamHandler(early_log)
            early.setFormatter(logging.Formatter(LOG_FORMAT))
            logging.getLogger().addHandler(early)
            stderr.setLevel(logging.WARNING)
        if not readable_by(config.path, user):  # SIGHUP re-reads it as `user`
            log.warning("%s", unreadable_config(config.path, config.user))
        # systemd's notify socket is connected now, as root (shell/notify.py).
        daemon = Daemon(config, notifier=Notifier.from_environ(os.environ))
        # The control socket lives beside the pidfile, in the foreground too (no pidfile
        # then, so its directory may still have to be made).
        control = control_path(config.pidfile)
        os.makedirs(os.path.dirname(control), exist_ok=True)
        handed_over += daemon.open_ops(control, args.trace or config.trace)
        log.info("%s", drop_privileges(config.user, tuple(handed_over)))
    except Exception as exc:  # one line, never a traceback (an init script shows it)
        reason = str(exc) if isinstance(exc, OSError | RuntimeError) else repr(exc)
        log.error("cannot start: %s", reason)
        # Whatever got set up goes: queues, the control socket, our pidfile.
        if daemon is not None:
            daemon.close()
        if pidfile is not None:
            pidfile.remove()
        return EXIT_STARTUP

    if args.foreground:
        return _serve(daemon, None)

    assert pidfile is not None
    for before_detach in logging.getLogger().handlers:  # DaemonContext closes their fds
        before_detach.close()
    if early_log is not None:
        early_log.close()  # ours: a StreamHandler leaves its stream open
    context = python_daemon.DaemonContext(
        files_preserve=[*daemon.fds(), pidfile.fd],
        umask=0o022,
        signal_map={},  # ours are installed inside, as flag setters
    )
    with context:
        # Opened only now: DaemonContext closes every descriptor it was not told to keep.
        # WatchedFileHandler reopens the log when logrotate moves it away.
        handler = logging.handlers.WatchedFileHandler(logfile)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.getLogger().handlers = [handler]
        pidfile.write()
        return _serve(daemon, pidfile)


def _serve(daemon: Daemon, pidfile: PidFile | None) -> int:
    log = logging.getLogger("nfdhcpd")
    daemon.install_signals()
    try:
        daemon.run()
    finally:
        daemon.close()
        if pidfile is not None:
            pidfile.remove()
        log.info("stopped")
    return 0
