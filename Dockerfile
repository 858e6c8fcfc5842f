# Agent Session Manager — container image.
#
# Stage 1 (build): install every dependency and compile src/ to dist/.
# Stage 2 (runtime): production dependencies only, the compiled code and the
# migration files (read at runtime from <app root>/migrations), run as `node`.

FROM node:20-bookworm-slim AS build
WORKDIR /app

# Dependencies first so this layer is cached until the lockfile changes. --ignore-scripts: the package's own
# `prepare` (compile on install) needs src/, which comes next; it is compiled explicitly below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json


FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app

# No lifecycle scripts are needed at runtime; --ignore-scripts keeps installs inert.
# The container always has DATABASE_URL, so the embedded PostgreSQL (an optional dependency, 60 MB) is left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts \
 && npm cache clean --force

# Application code stays owned by root (read-only for the runtime user).
COPY --from=build /app/dist ./dist
COPY migrations ./migrations
COPY dashboard ./dashboard

USER node

ENV HOST=0.0.0.0 \
    PORT=8765
EXPOSE 8765

# The slim image has no curl; Node 20 has a global fetch.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8765)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "dist/main.js"]
