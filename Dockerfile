# One image for the four services: `conference serve <service>` migrates its database, then serves.
# docker-compose.yml runs it four times; SIGTERM shuts a service down gracefully (docs/operations.md).
# The base image by digest (python:3.11-slim, 3.11.16 on Debian trixie) and the dependencies from
# requirements/runtime.lock with their hashes: the same bytes on every build (docs/decisions.md).
# Update both on purpose: the digest by hand, the lock with `make lock`.
FROM python:3.11-slim@sha256:1042b61448fef4ba92d16a8c7eb4996d027568ce64792a7877fd88511e0af7c6 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY requirements/runtime.lock ./requirements/
RUN python -m venv /opt/conference \
    && /opt/conference/bin/pip install --quiet --require-hashes -r requirements/runtime.lock
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
# The project alone, built by the locked setuptools: nothing is fetched outside the lock.
RUN /opt/conference/bin/pip install --quiet --no-deps --no-build-isolation .

FROM python:3.11-slim@sha256:1042b61448fef4ba92d16a8c7eb4996d027568ce64792a7877fd88511e0af7c6
ENV PATH=/opt/conference/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CONFERENCE_DATA_DIR=/var/lib/conference \
    CONFERENCE_HEALTHCHECK_URL=http://127.0.0.1:8000/healthz
# The CJK font of the badge PDF (services/registration/badges.py); Debian's fonts-wqy-microhei.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 conference \
    && useradd --system --uid 10001 --gid conference --home-dir /var/lib/conference --no-create-home conference \
    && mkdir -p /var/lib/conference && chown conference:conference /var/lib/conference
COPY --from=build /opt/conference /opt/conference
USER conference:conference
WORKDIR /var/lib/conference
EXPOSE 8000 8001 8002 8003
STOPSIGNAL SIGTERM
# Liveness of the process; compose overrides it per service with the service's own port.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['CONFERENCE_HEALTHCHECK_URL'], timeout=2)"]
ENTRYPOINT ["conference"]
CMD ["serve", "dashboard", "--host", "0.0.0.0"]
