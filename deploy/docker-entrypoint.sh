#!/bin/sh
# The container's entrypoint: `mandate <command>` (default `serve`, see the Dockerfile's CMD).
# Secrets mounted as files (Docker and Compose secrets, Kubernetes) are read from VAR_FILE into VAR,
# so no key ever has to sit in the image, the compose file or `docker inspect`.
set -eu
for name in MANDATE_MASTER_KEY MANDATE_PREVIOUS_MASTER_KEYS MANDATE_DATABASE_URL MANDATE_BOOTSTRAP_ADMIN_KEY; do
  eval "file=\${${name}_FILE:-}"
  if [ -n "$file" ]; then
    value=$(cat "$file")
    export "$name=$value"
    unset "${name}_FILE"
  fi
done
exec node "$(dirname "$0")/../dist/src/main.js" "$@"
