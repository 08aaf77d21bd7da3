# syntax=docker/dockerfile:1
# Mandate's container image. Multi-stage: the build stage compiles TypeScript with every
# dependency; the runtime stage holds the compiled code and production dependencies only, runs
# as the unprivileged `node` user and writes nothing outside /data (a volume) and /tmp, so it
# runs with a read-only root filesystem (`docker run --read-only --tmpfs /tmp -v mandate:/data`).
ARG NODE_VERSION=20

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles its native addon when no prebuilt binary fits this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would compile before the sources are here; the one native addon
# is built explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# src/vault imports one helper from the SDK's sources.
COPY sdk/src ./sdk/src
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    MANDATE_HOST=0.0.0.0 \
    MANDATE_PORT=4000 \
    MANDATE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY deploy/docker-entrypoint.sh deploy/healthcheck.mjs ./deploy/
# /data: the SQLite database and, without MANDATE_MASTER_KEY, the generated key file. Owned by
# the runtime user; everything else stays root-owned and read-only to it.
RUN mkdir /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["node", "/app/deploy/healthcheck.mjs"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["serve"]
