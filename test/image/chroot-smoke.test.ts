import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootOverlay } from './lib/overlay';
import { APPLY_ELEMENTS, CHECK_ROOT, FIXTURE_CONF_D, GUEST_IMAGE, REPO } from './lib/paths';
import { defaultRootSpec, ensureCachedRoot } from './lib/root-cache';
import { run, runOk } from './lib/run';

// The guest image's elements applied to a debootstrapped Debian root (AntPickax off, Node from
// Debian), then checked with guest-image/check-root. Needs root (debootstrap, chroot, mounts).
const canRun = process.getuid?.() === 0 && existsSync('/usr/sbin/debootstrap');
const AGENT_SCRIPTS = '50-k2hdkc-trove-agent,61-k2hdkc-trove-agent,60-k2hdkc-trove-units';
const spec = defaultRootSpec();
const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

let packDir = '';
let cachedRoot = '';
const overlays: RootOverlay[] = [];

/** Stands in for the AntPickax packages (off here) so chmpx.service and k2hdkc.service can be verified. */
function installStandIns(root: string): void {
  const lib = join(root, 'usr', 'local', 'lib', 'k2hdkc-standins');
  cpSync(join(REPO, 'test', 'doubles', 'chmpx'), lib, { recursive: true });
  for (const name of ['chmpx', 'k2hdkc']) symlinkSync(`/usr/local/lib/k2hdkc-standins/${name}`, join(root, 'usr', 'bin', name));
}

/** Re-runs the agent's element scripts on an overlay with this checkout's agent and the given units. */
async function refreshAgent(overlay: RootOverlay, unitDir: string, elementsPath?: string): Promise<void> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...spec.env,
    K2HDKC_AGENT_TARBALL: join(packDir, `k2hdkc-trove-${version}.tgz`),
    K2HDKC_AGENT_LOCKFILE: join(packDir, 'package-lock.json'),
    K2HDKC_UNIT_DIR: unitDir,
  };
  if (elementsPath !== undefined) env['ELEMENTS_PATH'] = elementsPath;
  await runOk(APPLY_ELEMENTS, ['--root', overlay.root, '--only', AGENT_SCRIPTS, 'k2hdkc-trove-guest'], { env, logFile: overlay.path('apply.log') });
}

function checkRoot(root: string): Promise<{ code: number; lines: string[] }> {
  return run(CHECK_ROOT, ['--user', 'ubuntu', '--conf-d', FIXTURE_CONF_D, root]).then((r) => ({ code: r.code, lines: r.stdout.split('\n') }));
}

describe.skipIf(!canRun)('guest image elements in a debootstrapped root', () => {
  beforeAll(async () => {
    packDir = mkdtempSync(join(tmpdir(), 'k2hdkc-image-pack-'));
    // The suite's `npm run build` has built dist/ already; pack what it built.
    const build = existsSync(join(REPO, 'dist', 'src', 'cli.js')) ? ['--no-build'] : [];
    await runOk(join(GUEST_IMAGE, 'pack'), [...build, packDir]);
    const started = Date.now();
    const cached = await ensureCachedRoot(spec, { tarball: join(packDir, `k2hdkc-trove-${version}.tgz`), lockfile: join(packDir, 'package-lock.json') }, (line) => process.stderr.write(`image test: ${line}\n`));
    cachedRoot = cached.root;
    process.stderr.write(`image test: cached root ${cached.built ? 'built' : 'reused'} in ${Math.round((Date.now() - started) / 1000)} s\n`);
  }, 1_200_000);

  afterAll(async () => {
    for (const overlay of overlays) await overlay.unmount();
    if (packDir !== '') rmSync(packDir, { recursive: true, force: true });
  });

  it('passes every check with this checkout agent: units, boot, account, directories, sysctl, agent start', async () => {
    const overlay = await RootOverlay.mount(cachedRoot);
    overlays.push(overlay);
    await refreshAgent(overlay, join(GUEST_IMAGE, 'systemd'));
    installStandIns(overlay.root);

    const { code, lines } = await checkRoot(overlay.root);
    expect(lines.filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect(code).toBe(0);
    for (const unit of ['k2hdkc-trove-agent.service', 'chmpx.service', 'k2hdkc.service']) {
      expect(lines.some((l) => l.startsWith(`ok: unit ${unit} verifies`))).toBe(true);
    }
    expect(lines).toContain('ok: k2hdkc-trove-agent.service enabled');
    expect(lines).toContain('ok: chmpx.service not enabled');
    expect(lines).toContain('ok: k2hdkc.service not enabled');
    expect(lines.some((l) => l.startsWith('ok: account ubuntu exists'))).toBe(true);
    expect(lines).toContain('ok: directory /etc/trove/conf.d (750 ubuntu)');
    expect(lines).toContain('ok: directory /opt/trove-guestagent (700 root)');
    expect(lines).toContain('ok: directory /var/lib/antpickax/k2hdkc (755 root)');
    expect(lines).toContain('ok: sysctl fs.mqueue.msg_max = 1025');
    expect(lines).toContain('ok: cloud-init datasources ConfigDrive, OpenStack');
    expect(lines).toContain(`ok: agent --version: k2hdkc-trove-agent ${version}`);

    // The agent's own summary of the sample conf.d, parsed from the checker's line.
    const summaryLine = lines.find((l) => l.startsWith('ok: agent --check-config: '));
    const summary = JSON.parse(summaryLine?.slice('ok: agent --check-config: '.length) ?? 'null') as Record<string, unknown>;
    expect(summary['guest_id']).toBe('7c1f6d32-5a0e-4f57-9a53-0d2a6b1e9f01');
    expect(summary['datastore_version']).toBe('1.0.16');
    expect(summary['secure_rpc']).toBe(true);
    expect(summary['brokers']).toEqual(['trove@192.0.2.10:5672', 'trove@192.0.2.11:5672']);
    expect(summary['control_exchange']).toBe('trove');
    expect(summaryLine).not.toContain('s3cret');
    expect(summaryLine).not.toContain('imageSMOKEkey');
  });

  it('the installed agent is the npm pack output with production dependencies only', async () => {
    const root = overlays[0]?.root;
    expect(root).toBeDefined();
    const prefix = join(root ?? '', 'opt', 'k2hdkc-trove');
    const installed = JSON.parse(readFileSync(join(prefix, 'package.json'), 'utf8')) as { version: string };
    expect(installed.version).toBe(version);
    expect(existsSync(join(prefix, 'dist', 'src', 'cli.js'))).toBe(true);
    expect(existsSync(join(prefix, 'node_modules', 'amqplib', 'package.json'))).toBe(true);
    expect(existsSync(join(prefix, 'node_modules', 'vitest'))).toBe(false);
    expect(existsSync(join(prefix, 'node_modules', 'typescript'))).toBe(false);
    expect(existsSync(join(prefix, 'src'))).toBe(false);
    // Node came from Debian's package, as the element was told (K2HDKC_NODE_SOURCE=distro).
    const { stdout } = await runOk('chroot', [root ?? '', 'dpkg-query', '-W', '-f', '${Version}', 'nodejs']);
    expect(Number(stdout.split('.')[0]?.replace(/^\d+:/, ''))).toBeGreaterThanOrEqual(20);
  });

  it('fails the check when an element installs a unit whose binary is missing', async () => {
    // A broken copy of the elements and units, applied to its own overlay; the repo is untouched.
    const broken = mkdtempSync(join(tmpdir(), 'k2hdkc-broken-element-'));
    try {
      cpSync(join(GUEST_IMAGE, 'elements'), join(broken, 'elements'), { recursive: true });
      mkdirSync(join(broken, 'systemd'));
      cpSync(join(GUEST_IMAGE, 'systemd'), join(broken, 'systemd'), { recursive: true });
      const unit = join(broken, 'systemd', 'k2hdkc-trove-agent.service');
      const text = readFileSync(unit, 'utf8');
      writeFileSync(unit, text.replace('/opt/k2hdkc-trove/bin/k2hdkc-trove-agent ', '/opt/k2hdkc-trove/bin/no-such-agent '));
      expect(readFileSync(unit, 'utf8')).toContain('no-such-agent');

      const overlay = await RootOverlay.mount(cachedRoot);
      overlays.push(overlay);
      const dib = (await runOk('/usr/bin/python3', ['-c', 'import diskimage_builder, os; print(os.path.dirname(diskimage_builder.__file__))'])).stdout.trim();
      await refreshAgent(overlay, join(broken, 'systemd'), `${join(broken, 'elements')}:${join(dib, 'elements')}`);
      installStandIns(overlay.root);

      const { code, lines } = await checkRoot(overlay.root);
      expect(code).toBe(1);
      const failures = lines.filter((l) => l.startsWith('FAIL'));
      expect(failures).toHaveLength(1);
      expect(failures[0]).toContain('unit k2hdkc-trove-agent.service: systemd-analyze verify failed');
      expect(failures[0]).toContain('/opt/k2hdkc-trove/bin/no-such-agent is not executable');
      expect(lines).toContain('check-root: 1 check(s) failed');
    } finally {
      rmSync(broken, { recursive: true, force: true });
    }
  });
});
