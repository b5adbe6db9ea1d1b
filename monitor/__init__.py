"""upwatch: uptime monitor and status page with auditable calendar-month SLAs."""

__version__ = "0.1.0"
