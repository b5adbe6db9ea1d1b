"""``upwatch run``: the probe scheduler and the runner that wires probers, ledger writer,
incidents, notifications, metrics, the page rebuild and the HTTP server, and supervises them.
"""
