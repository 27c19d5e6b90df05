"""The IO shell: queues, sockets, files, inotify, signals, the poll loop."""
