"""The pure core: checks and their states, the clock interface, epoch minutes, the minute
fold, interval arithmetic, coverage calendars, window arithmetic and the monthly SLA.

Nothing here does I/O, imports aiohttp or sqlite3, or reads the clock: time comes in as
arguments (``now``), so every rule is a table-driven test away.
"""
