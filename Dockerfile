# syntax=docker/dockerfile:1
#
# beamscope's container image: the Next.js standalone server and nothing else. beamscope speaks the
# Erlang distribution protocol itself (server/erlang), so no Erlang/OTP is installed at run time.
#
#   docker build -t beamscope .
#   docker run --rm -p 3000:3000 -v "$PWD/beamscope.yaml:/etc/beamscope/beamscope.yaml:ro" beamscope
#
# See docs/deploy.md for the Kubernetes manifests that run it (read-only root filesystem, non-root).
# Pin the base image by digest in your own builds (NODE_IMAGE=node:22-bookworm-slim@sha256:…).
ARG NODE_IMAGE=node:22-bookworm-slim

# --- deps: the npm packages, from the lock file only, so this layer is cached until it changes ---
FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# --- build: `next build` and the standalone completion. Not `npm run build`: that runs
# scripts/setup.sh, which apt-installs Erlang and the test tools a build does not need.
FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV NEXT_TELEMETRY_DISABLED=1
COPY --from=deps /src/node_modules ./node_modules
COPY . .
RUN npx next build && node scripts/standalone.mjs

# --- runtime: only .next/standalone (server, traced node_modules, .next/static and public/). ---
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
# HOME: user 10001 has no passwd entry; /tmp is writable (an emptyDir in the Deployment).
ENV NODE_ENV=production \
    NEXT_TELEMETRY_DISABLED=1 \
    HOME=/tmp \
    HOSTNAME=0.0.0.0 \
    PORT=3000 \
    BEAMSCOPE_CONFIG=/etc/beamscope/beamscope.yaml
# Owned by root and not writable by the server: it cannot change its own code.
COPY --from=build /src/.next/standalone ./
# The only places the server writes at run time (measured on the standalone output): Next's
# image/fetch cache and its copies of prerendered routes, and the history store's data folder
# (`history.path`, for SQLite). Writable for the runtime user here, and volumes in Kubernetes,
# where the root filesystem is read-only.
RUN mkdir -p .next/cache .next/server/route-cache /var/lib/beamscope \
    && chown 10001:10001 .next/cache .next/server/route-cache /var/lib/beamscope
# A numeric user, so Kubernetes' runAsNonRoot can check it without a passwd lookup.
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "server.js"]
