# syntax=docker/dockerfile:1
# modeltrail: one image for the proxy, the streams worker and the sink
# (`python -m proxy`, `python -m streams`, `python -m sinks`; see docker-compose.yml).

ARG PYTHON_VERSION=3.11

# --- build: install the project and its dependencies into a self-contained venv ---
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/modeltrail
WORKDIR /src
# Dependencies first, so a source change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p schemas proxy streams sinks modeltrail \
    && touch schemas/__init__.py proxy/__init__.py streams/__init__.py sinks/__init__.py modeltrail/__init__.py \
    && /opt/modeltrail/bin/pip install . \
    && /opt/modeltrail/bin/pip uninstall -y modeltrail
COPY schemas ./schemas
COPY proxy ./proxy
COPY streams ./streams
COPY sinks ./sinks
COPY modeltrail ./modeltrail
RUN /opt/modeltrail/bin/pip install --no-deps . \
    && /opt/modeltrail/bin/python -c "import proxy, streams, sinks, schemas, modeltrail"

# --- runtime: no compiler, no sources, a non-root user ---
FROM python:${PYTHON_VERSION}-slim AS runtime
ARG UID=10001
RUN groupadd --system --gid ${UID} modeltrail \
    && useradd --system --uid ${UID} --gid modeltrail --no-create-home \
       --home-dir /var/lib/modeltrail --shell /usr/sbin/nologin modeltrail \
    && mkdir -p /var/lib/modeltrail/spool /var/lib/modeltrail/data \
    && chown -R modeltrail:modeltrail /var/lib/modeltrail
COPY --from=build /opt/modeltrail /opt/modeltrail
ENV PATH=/opt/modeltrail/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MODELTRAIL_PROXY__HOST=0.0.0.0 \
    MODELTRAIL_PROXY__SPOOL_DIR=/var/lib/modeltrail/spool \
    MODELTRAIL_STREAMS__DATA_DIR=/var/lib/modeltrail/data/streams
WORKDIR /var/lib/modeltrail
USER modeltrail:modeltrail
EXPOSE 8080 9090
# The proxy's check; docker-compose.yml gives streams and sink their own (consumer group).
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "modeltrail.healthcheck", "http", "http://127.0.0.1:9090/control/health"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "proxy"]
