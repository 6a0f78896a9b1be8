#!/usr/bin/env bash
# Start this machine's PostgreSQL and RabbitMQ if they are installed here but not running.
# Used by `make run`, `make test` and CI; a no-op where they already answer.
set -u
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
mq_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  echo "starting PostgreSQL..."
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 30); do pg_up && break; sleep 1; done
fi
if ! mq_up && command -v rabbitmq-server >/dev/null; then
  echo "starting RabbitMQ..."
  rabbitmq-server -detached || true
  for _ in $(seq 60); do mq_up && break; sleep 1; done
fi
pg_up || echo "warning: PostgreSQL does not answer on 127.0.0.1:5432" >&2
mq_up || echo "warning: RabbitMQ does not answer on 127.0.0.1:5672" >&2
exit 0
