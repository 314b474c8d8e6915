import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from './lib/paths';
import { run } from './lib/run';

// The development stack, validated without an engine: Compose v1 (Debian's docker-compose) and
// v2 (`docker compose`) both resolve the file offline with `config`.
const composeCommand = existsSync('/usr/bin/docker-compose') ? ['/usr/bin/docker-compose'] : ['docker', 'compose'];

/** The file as compose resolves it (YAML; v1 has no JSON output): paths absolute, defaults filled. */
async function composeConfig(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...prefix] = composeCommand;
  return run(command ?? 'docker-compose', [...prefix, '-f', join(REPO, 'docker-compose.yml'), 'config', ...args], { cwd: REPO });
}

describe('docker-compose.yml', () => {
  it('is accepted by compose config and lists rabbitmq, the K2HR3 double and the agent', async () => {
    const services = await composeConfig('--services');
    expect(services.stderr).toBe('');
    expect(services.code).toBe(0);
    expect(services.stdout.trim().split('\n').sort()).toEqual(['agent', 'k2hr3', 'rabbitmq']);
  });

  it('builds the agent and the double from Dockerfile targets that exist', async () => {
    const resolved = await composeConfig();
    expect(resolved.code).toBe(0);
    const dockerfile = readFileSync(join(REPO, 'Dockerfile'), 'utf8');
    const stages = [...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]);
    expect(stages).toEqual(['deps', 'pack', 'k2hr3-double', 'agent']);
    expect(resolved.stdout).toMatch(/target: k2hr3-double/);
    expect(resolved.stdout).toMatch(/target: agent/);
    // The agent waits for a healthy broker and reads the dev conf.d as its /etc/trove/conf.d.
    expect(resolved.stdout).toMatch(/rabbitmq:\s*\n\s*condition: service_healthy/);
    expect(resolved.stdout).toContain(`${join(REPO, 'guest-image', 'dev', 'conf.d')}:/etc/trove/conf.d:ro`);
  });

  it('the dev conf.d points the agent at the compose broker and publishes health on all interfaces', () => {
    const conf = readFileSync(join(REPO, 'guest-image', 'dev', 'conf.d', 'trove-guestagent.conf'), 'utf8');
    expect(conf).toMatch(/^transport_url = rabbit:\/\/guest:guest@rabbitmq:5672\/$/m);
    expect(conf).toMatch(/^http_host = 0\.0\.0\.0$/m);
  });

  it('.dockerignore keeps every path the Dockerfile copies', () => {
    const ignore = readFileSync(join(REPO, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    const copied = [...readFileSync(join(REPO, 'Dockerfile'), 'utf8').matchAll(/^COPY\s+(?!--from)(.+)\s+\S+$/gm)].flatMap((m) => (m[1] ?? '').split(/\s+/));
    expect(copied).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src', 'bin', 'config', 'test/doubles/k2hr3']));
    for (const path of copied) {
      const top = path.split('/')[0] ?? path;
      const excluded = ignore.includes(top) || ignore.includes(path);
      const reincluded = ignore.includes(`!${path}`) || path.split('/').some((_, i, parts) => ignore.includes(`!${parts.slice(0, i + 1).join('/')}`));
      expect(excluded && !reincluded, `${path} is excluded by .dockerignore`).toBe(false);
    }
  });
});
