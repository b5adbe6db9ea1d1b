"""The aiohttp application of ``upwatch run``: ``/healthz``, ``/metrics``, the admin API
(maintenance, exclusions, incidents) and the published status page. Handlers translate HTTP
to library calls and back; the rules live elsewhere.
"""
