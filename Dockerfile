# pgtide image: docker build -t uyjco0/pooling:01 .
#   docker run -d --restart=always --name pool1 -e INSTANCE_NAME=pool1 \
#     -v dbpool1:/var/log/pooling:rw uyjco0/pooling:01
# See docs/docker.md. (docker/Dockerfile is a link to this file.)

# Builder: compile TypeScript with the dev dependencies, then drop them.
FROM node:24-bookworm-slim AS builder
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

# Runtime: the compiled pooler, its production dependencies, tini as PID 1, and psql for the
# admin console on the admin socket (/tmp/pgtide-10001, pgtide's uid):
#   docker exec pool1 psql -h /tmp/pgtide-10001 -p 5427 -U pgbouncer pgbouncer
FROM node:24-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin pgtide \
 && mkdir -p /etc/pgtide /var/log/pooling /var/lib/pgtide \
 && chown pgtide:pgtide /var/log/pooling /var/lib/pgtide
WORKDIR /app
ENV NODE_ENV=production \
    INSTANCE_NAME=pool1 \
    CONFIG_FILE=/etc/pgtide/pgtide.toml \
    LOG_DIR=/var/log/pooling \
    HEALTHCHECK_URL=http://127.0.0.1:9127/healthz
COPY --from=builder /src/package.json ./package.json
COPY --from=builder /src/node_modules ./node_modules
COPY --from=builder /src/dist/src ./dist/src
COPY docker/docker-entrypoint.sh ./docker/docker-entrypoint.sh
COPY docker/pgtide.toml docker/userlist.txt /etc/pgtide/
USER pgtide
EXPOSE 5427-5432
VOLUME /var/log/pooling
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch(process.env.HEALTHCHECK_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--", "/app/docker/docker-entrypoint.sh"]
CMD ["start"]
