# One image for every process of Support Desk; the command picks the service:
#   python -m gateway | users_service | chat_service | ticket_service | ai_worker
#   python -m servicekit.migrations   (one-shot: create the database, migrate every schema)
# docker-compose.yml and deploy/k8s set the command per service.

# ---------------------------------------------------------------------------- builder
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
COPY pyproject.toml requirements.lock ./

# Runtime dependencies only, at the versions pinned in requirements.lock. The lock also pins
# the dev tools (pytest, mypy, ruff, testcontainers...), so rather than install all of it we
# ask pip for [project].dependencies and their transitive dependencies, constrained to the
# lock: every version comes from the lock, and nothing dev-only is installed.
# (tests/deploy/test_image.py checks that this closure is fully pinned in the lock.)
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > runtime-requirements.txt \
    && pip install --constraint requirements.lock --requirement runtime-requirements.txt \
    && pip check

# The project itself is deliberately NOT pip-installed into the venv: the services run from the
# source tree copied to /app below. servicekit.migrations finds alembic.ini and each service's
# migrations/ folder relative to the source tree, and neither is part of a wheel, so an
# installed copy would only be a second, incomplete copy of the same code.

# ---------------------------------------------------------------------------- runtime
FROM python:3.11-slim AS runtime

ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="support-desk" \
      org.opencontainers.image.description="AI chat support: gateway, users, chat, tickets and AI worker over RabbitMQ" \
      org.opencontainers.image.version="${VERSION}"

# No secrets here: JWT_SECRET, DATABASE_URL, AMQP_URL... come from the environment at run time.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app

# A fixed uid/gid (10001), which deploy/k8s/ asks for in runAsUser.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv

# Source owned by root, so the app user can read but not change it.
WORKDIR /app
COPY alembic.ini ./
COPY contracts ./contracts
COPY servicekit ./servicekit
COPY gateway ./gateway
COPY users_service ./users_service
COPY chat_service ./chat_service
COPY ticket_service ./ticket_service
# ai_worker/ includes the knowledge base (ai_worker/knowledge_base/, the default KB_DIR).
COPY ai_worker ./ai_worker
COPY deploy ./deploy

# Byte-compile now: at run time the root filesystem may be read-only (it is in deploy/k8s).
RUN python -m compileall -q /app

USER 10001:10001

# Only the gateway listens (GATEWAY_PORT, default 8000; set GATEWAY_HOST=0.0.0.0 in a container).
EXPOSE 8000

# No HEALTHCHECK: only the gateway has an HTTP endpoint (/api/health), the other services have
# none, so the health checks live in docker-compose.yml and the k8s probes, per service.
CMD ["python", "-m", "gateway"]
