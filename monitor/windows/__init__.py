"""Maintenance windows and exclusions as people declare them: validation and the audit rule
(:mod:`~monitor.windows.declarations`), where the windows in force come from
(:mod:`~monitor.windows.sources`), and their start/end announcements
(:mod:`~monitor.windows.events`). The minute arithmetic is :mod:`monitor.core.windows`.
"""
