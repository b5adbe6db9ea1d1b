"""The ledger in SQLite: schema and migrations, availability minutes as runs, raw checks,
hourly latency, declared windows, incidents and the notification outbox, and the one writer
thread that every async caller goes through. All SQL of upwatch lives here.
"""
