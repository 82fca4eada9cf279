# pubkit's index server (`pubkit serve`) as a container image:
#
#   docker build -t pubkit .
#   docker run --rm -p 8080:8080 -v pubkit-data:/data pubkit
#   docker run --rm -i -v pubkit-data:/data --entrypoint pubkit pubkit \
#       user add alice --password-stdin < alice.password
#
# The image is configured by environment only: every option of `pubkit serve` has a PUBKIT_*
# variable (README, "Environment"), e.g. -e PUBKIT_READ=authenticated,
# -e PUBKIT_STORAGE=s3://bucket/prefix, -e PUBKIT_CATALOG=postgresql://user@host/db with
# PGPASSWORD (read by libpq) and the usual AWS_* variables (read by boto3). Options given
# after the image name are passed to `pubkit serve` and win over the environment.
#
# /data holds the files, the SQLite catalog and the upload spool (/data/tmp); with S3 storage
# and a PostgreSQL catalog it holds only the spool. The server runs as uid/gid 10001.

# Both stages use one image: the virtualenv points at the interpreter by its path.
ARG PYTHON_IMAGE=python:3.12.9-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/pubkit
RUN python -m venv "$VIRTUAL_ENV"
ENV PATH="$VIRTUAL_ENV/bin:$PATH"
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pubkit ./pubkit
# The wheel of this checkout, then the server with S3 and PostgreSQL support from it: by the
# file's path, so that no index can substitute another "pubkit". DL3013 (pin versions) takes
# that path for an unpinned name; the dependencies' ranges are pyproject.toml's.
# hadolint ignore=DL3013
RUN pip wheel --no-deps --wheel-dir wheels . \
    && set -- wheels/pubkit-*.whl \
    && pip install "$1[server,s3,postgres]" \
    && pip check

FROM ${PYTHON_IMAGE} AS runtime
# Numeric ids, so that Kubernetes' runAsNonRoot can verify them without reading /etc/passwd;
# /data belongs to that user before it becomes a volume, so new volumes get its ownership.
RUN groupadd --system --gid 10001 pubkit \
    && useradd --system --uid 10001 --gid pubkit --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin pubkit \
    && mkdir /data \
    && chown 10001:10001 /data
COPY --from=builder /opt/pubkit /opt/pubkit
ENV PATH="/opt/pubkit/bin:$PATH" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PUBKIT_DATA_DIR=/data \
    PUBKIT_HOST=0.0.0.0 \
    PUBKIT_PORT=8080
VOLUME ["/data"]
WORKDIR /data
EXPOSE 8080
USER 10001:10001
# The slim image has no curl: Python asks /health on 127.0.0.1 and the port the server
# listens on (PUBKIT_HOST must stay 0.0.0.0 or 127.0.0.1 for it).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PUBKIT_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["pubkit", "serve"]
