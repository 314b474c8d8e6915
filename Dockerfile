# syntax=docker/dockerfile:1
# The k2hdkc-trove guest agent as a container, built from `npm pack` output the way the guest
# image installs it (guest-image/elements/k2hdkc-trove-guest): unpack into /opt/k2hdkc-trove,
# then `npm ci --omit=dev` there. For development (docker-compose.yml); production guests are
# VMs built with guest-image/build.
#   docker build -t k2hdkc-trove-agent .                          (the agent; the last stage)
#   docker build --target k2hr3-double -t k2hr3-double .          (the K2HR3 API double)
ARG NODE_IMAGE=node:20-slim

FROM ${NODE_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM deps AS pack
COPY tsconfig.json README.md ./
COPY bin ./bin
COPY config ./config
COPY src ./src
RUN npm run build \
 && mkdir /pack \
 && npm pack --pack-destination /pack \
 && cp package-lock.json /pack/

FROM deps AS k2hr3-double
COPY test/doubles/k2hr3 ./test/doubles/k2hr3
RUN npx tsc --outDir /src/k2hr3-double --rootDir test/doubles/k2hr3 --module commonjs --target ES2022 \
      --moduleResolution node --esModuleInterop --skipLibCheck --strict --types node test/doubles/k2hr3/main.ts
EXPOSE 18080
CMD ["node", "/src/k2hr3-double/main.js"]

FROM ${NODE_IMAGE} AS agent
COPY --from=pack /pack /tmp/pack
RUN mkdir -p /opt/k2hdkc-trove /etc/trove/conf.d /var/lib/k2hdkc-trove/state /var/lib/k2hdkc \
 && tar -xzf /tmp/pack/k2hdkc-trove-*.tgz -C /opt/k2hdkc-trove --strip-components=1 --no-same-owner \
 && cp /tmp/pack/package-lock.json /opt/k2hdkc-trove/ \
 && cd /opt/k2hdkc-trove \
 && npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf /tmp/pack /root/.npm
ENV NODE_ENV=production
EXPOSE 8790
# The launcher's #! line carries the node flags (--lite-mode), as under systemd in the guest.
ENTRYPOINT ["/opt/k2hdkc-trove/bin/k2hdkc-trove-agent"]
CMD ["--config-dir", "/etc/trove/conf.d"]
