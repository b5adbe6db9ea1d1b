"""Incidents: detection from minute states (:mod:`~monitor.incidents.detection`), the desk
that opens, updates and resolves them for the runner, API and CLI
(:mod:`~monitor.incidents.desk`), the safe Markdown of updates, and the first-response
report (:mod:`~monitor.incidents.report`).
"""
