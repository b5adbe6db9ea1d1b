"""The setup the maintenance-window tests share: two services (api with Copenhagen business
hours), a 48 h notice policy, a Monday evening to declare from, and an admin token."""

from __future__ import annotations

from datetime import UTC, datetime

CONFIG = """\
services:
  - name: api
    url: http://127.0.0.1:9/api
    sla:
      timezone: Europe/Copenhagen
      coverage: {days: mon-fri, hours: "09:00-17:00", holidays: DK}
  - name: web
    url: http://127.0.0.1:9/web
maintenance:
  min_notice: 48h
  max_duration: 7d
"""
NOW = datetime(2026, 9, 28, 20, 0, tzinfo=UTC)  # Monday 22:00 in Copenhagen
TOKEN = "s3cret-token-for-tests-0123456789"
