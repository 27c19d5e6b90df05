"""Starting the daemon: logging, config, pidfile, queues and endpoints as root, the
privilege drop, detaching, and serving until a signal says stop."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys

import daemon as python_daemon  # imported before privileges are dropped, like all we use

from ..core.errors import ConfigError
from ..ops.control import control_path
from .daemon import Daemon
from .files import load_config
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
    for warning in config.warnings:
        log.warning("%s", warning)

    pidfile: PidFile | None = None
    daemon: Daemon | None = None
    logfile = os.path.join(config.logdir, "nfdhcpd.log")
    try:
        user = check_user(config.user)
        handed_over: list[str] = []  # what `user` must write, or replace, once root is gone
        if not args.foreground:
            piddir = os.path.dirname(config.pidfile)
            handed_over += [d for d in (piddir, config.logdir) if not os.path.isdir(d)]
            pidfile = PidFile(config.pidfile)
            os.makedirs(config.logdir, exist_ok=True)
            # Until it detaches, the daemon logs to its file as well; the terminal (an
            # init script's output) gets only warnings and errors.
            early = logging.FileHandler(logfile, encoding="utf-8")
            early.setFormatter(logging.Formatter(LOG_FORMAT))
            logging.getLogger().addHandler(early)
            stderr.setLevel(logging.WARNING)
            handed_over += [logfile, pidfile.path]
        if not readable_by(config.path, user):  # SIGHUP re-reads it as `user`
            log.warning("%s", unreadable_config(config.path, config.user))
        # systemd's notify socket is connected now, as root (shell/notify.py).
        daemon = Daemon(config, notifier=Notifier.from_environ(os.environ))
        # The control socket lives beside the pidfile, in the foreground too (no pidfile
        # then, so its directory may still have to be made).
        control = control_path(config.pidfile)
        if not os.path.isdir(os.path.dirname(control)):
            os.makedirs(os.path.dirname(control))
            handed_over.append(os.path.dirname(control))
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
