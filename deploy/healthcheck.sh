#!/usr/bin/env bash
# Run by psc119-health.timer: restart a web process that no longer answers /healthz; log /readyz failures.
set -uo pipefail
for unit in $(systemctl list-units --plain --no-legend 'psc119-web@*.service' | awk '{print $1}'); do
  port="${unit#psc119-web@}"; port="${port%.service}"
  if ! curl -fsS --max-time 3 "http://127.0.0.1:$port/healthz" >/dev/null; then
    echo "psc119 health: $unit does not answer /healthz; restarting it" >&2
    systemctl restart "$unit"
  fi
done
first=$(systemctl list-units --plain --no-legend 'psc119-web@*.service' | awk 'NR==1 {print $1}')
port="${first#psc119-web@}"; port="${port%.service}"
if ! body=$(curl -fsS --max-time 5 "http://127.0.0.1:${port:-8001}/readyz"); then
  echo "psc119 health: NOT READY: $(curl -sS --max-time 5 "http://127.0.0.1:${port:-8001}/readyz")" >&2
  exit 1
fi
echo "psc119 health: ready $body"
