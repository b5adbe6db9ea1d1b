# upwatch in a container: non-root, ledger on a volume, health-checked.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    UPWATCH_CONFIG=/etc/upwatch/probes.yaml UPWATCH_DB=/var/lib/upwatch/upwatch.db

RUN useradd --system --uid 10001 --home-dir /var/lib/upwatch upwatch \
 && mkdir -p /var/lib/upwatch /etc/upwatch && chown upwatch /var/lib/upwatch

WORKDIR /opt/upwatch
# requirements.lock: the exact versions the test suite passed with (see the Makefile's `lock`).
COPY pyproject.toml README.md requirements.lock ./
COPY monitor ./monitor
COPY statuspage ./statuspage
COPY static ./static
COPY docs/openapi.yaml ./docs/openapi.yaml
RUN pip install --no-cache-dir -c requirements.lock .
COPY probes.yaml /etc/upwatch/probes.yaml

USER upwatch
VOLUME ["/var/lib/upwatch"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
CMD ["upwatch", "run", "--listen", "0.0.0.0:8080", "--site", "/var/lib/upwatch/site"]
