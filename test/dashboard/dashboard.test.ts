import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { K2hr3Provisioner } from '../../src/k2hr3/provision';
import { DBAAS_TEMPLATE, FAST } from '../integration/k2hr3/helpers';
import { ControlPlane } from '../e2e/helpers/control-plane';
import { REPO_ROOT, type Vm } from '../e2e/helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from '../e2e/helpers/k2hash-data';
import { TroveRest, until, untilHealthy } from '../e2e/helpers/trove-rest';
import { openBrowser, type Browser } from './browser';
import { startHorizon, type HorizonFixture } from './horizon';

// Issue 13 acceptance 2: a person uses K2HDKC through Horizon with trove-dashboard, unpatched,
// in headless Chromium, as the demo user of a real Keystone: configuration group, Launch
// Instance, Create Backup, Launch from the backup. Every step saves a screenshot under
// reports/dashboard/ (docs/images/ keeps three of them for the README).

const run = promisify(execFile);
const VERSION = '1.0.16';
const K2HR3_TOKEN = 'e2e-k2hr3-token-not-a-secret';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
const REPORT_DIR = path.join(REPO_ROOT, 'reports/dashboard');
const DROP_IN = path.join(REPO_ROOT, 'datastore/horizon/_1799_k2hdkc.py');

const plane = new ControlPlane({
  bridge: true,
  identity: 'keystone',
  keystone: { [K2HR3_TOKEN]: { user: 'demo', projects: ['demo'] } },
  guestConf: { k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
let horizon: HorizonFixture | undefined;
let browser: Browser;
let page: Page;
let rest: TroveRest;
let demoToken = '';
let demoProject = '';
let failed = false;

function step<T>(fn: () => Promise<T>): () => Promise<T> {
  return async () => {
    try {
      return await fn();
    } catch (error) {
      failed = true;
      await browser?.screenshot('failure').catch(() => undefined);
      throw error;
    }
  };
}

/** A GET on trove-api with the demo user's token (to check what the clicks did). */
async function troveGet<T>(token: string, project: string, p: string): Promise<T> {
  const res = await axios.get<T>(`${plane.apiUrl}/v1.0/${project}/${p}`, { headers: { 'X-Auth-Token': token }, timeout: 20_000 });
  return res.data;
}

function vmOf(instanceId: string): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm === undefined) throw new Error(`no VM runs instance ${instanceId}`);
  return vm;
}

function url(p: string): string {
  return `${horizon!.url}${p}`;
}

/** Reloads a table page until the row named `name` shows `status` (Horizon polls the same way). */
async function untilRow(p: string, name: string, status: RegExp, timeoutMs: number): Promise<void> {
  await until(`row ${name} ${String(status)}`, async () => {
    await page.goto(url(p));
    const row = page.locator('table tbody tr', { hasText: name });
    if ((await row.count()) === 0) return undefined;
    const text = await row.first().innerText();
    if (/\bError\b|\bFailed\b/i.test(text)) throw new Error(`row ${name}: ${text}`);
    return status.test(text) ? true : undefined;
  }, timeoutMs, 2000);
}

/** Selects the option whose label contains `text` (Horizon's labels carry versions and sizes). */
async function selectByText(selector: string, text: string): Promise<void> {
  const select = page.locator(selector).first();
  // Modals load over ajax: wait for the field itself, then read its options.
  await select.waitFor({ state: 'visible' });
  // An option inside an <optgroup> is labelled "<group> <option>" here (the configuration
  // form groups versions under their datastore).
  const options = await select.locator('option').evaluateAll((els) => els.map((e) => {
    const group = e.parentElement?.tagName === 'OPTGROUP' ? `${e.parentElement.getAttribute('label') ?? ''} ` : '';
    return { value: e.getAttribute('value') ?? '', label: `${group}${e.textContent ?? ''}` };
  }));
  const match = options.find((o) => o.label.includes(text));
  if (match === undefined) throw new Error(`${selector} has no option containing "${text}": ${JSON.stringify(options.map((o) => o.label))}`);
  await select.selectOption(match.value);
}

beforeAll(async () => {
  mkdirSync(REPORT_DIR, { recursive: true });
  await plane.start();
  await plane.bridgeCommand('k2hdkc_trove_bridge.registration', ['--config-file', plane.confPath, '--db-sync']);
  rest = new TroveRest(plane.apiUrl);
  const ks = plane.keystone!;
  demoToken = await ks.token(ks.demo);
  demoProject = ks.demo.projectId;
  horizon = await startHorizon({ keystoneUrl: ks.url, enabledFiles: [DROP_IN] });
  browser = await openBrowser(REPORT_DIR);
  page = browser.page;
}, 420_000);

afterAll(async () => {
  if (failed) console.log(`${plane.report()}\n--- horizon (tail)\n${horizon?.logTail() ?? ''}`);
  await browser?.close();
  await horizon?.stop(failed);
  await plane.stop(failed);
}, 60_000);

describe('Trove Dashboard in headless Chromium', () => {
  let extdataUrl = '';
  let instanceId = '';

  it('logs in as the demo user with the Keystone password', step(async () => {
    await page.goto(url('auth/login/'));
    await page.fill('#id_username', plane.keystone!.demo.username);
    await page.fill('#id_password', plane.keystone!.demo.password);
    await Promise.all([page.waitForURL((u) => !u.pathname.startsWith('/auth/login')), page.click('#loginBtn')]);
    await page.goto(url('project/databases/'));
    expect(await page.locator('table#databases').count()).toBe(1);
    await browser.screenshot('instances-empty');
  }), 120_000);

  it('creates a configuration group with a k2hdkc parameter; an invalid value is refused', step(async () => {
    const k2hr3 = await new K2hr3Provisioner({ apiUrl: plane.k2hr3.url, ...FAST }).provision(K2HR3_TOKEN, {
      tenant: 'demo', cluster: 'ui', template: DBAAS_TEMPLATE, mode: 'server',
    });
    extdataUrl = plane.k2hr3.extdataUrlFor(k2hr3.roleYrn).url;
    await page.goto(url('project/database_configurations/create'));
    await page.fill('#id_name', 'ui-conf');
    await selectByText('#id_datastore', `k2hdkc ${VERSION}`);
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/database_configurations/'), page.click('.modal-footer [type=submit]')]);
    await page.click('table tbody tr a:text("ui-conf")');
    const detail = page.url();

    // A value outside the parameter's rule: trove-dashboard refuses it in the form.
    await page.click('a:has-text("Add Parameter")');
    await selectByText('#id_name', 'chmpx-server-port');
    await page.fill('#id_value', '40000');
    await page.click('.modal-footer [type=submit]');
    const error = page.locator('.form-group.has-error .help-block, .has-error .error');
    await error.first().waitFor();
    expect(await error.first().innerText()).toContain('Value must be a number between 1 and 32767.');
    await browser.screenshot('configuration-invalid-value');

    await page.goto(detail);
    await page.click('a:has-text("Add Parameter")');
    await selectByText('#id_name', 'extdata-url');
    await page.fill('#id_value', extdataUrl);
    await page.click('.modal-footer [type=submit]');
    await page.locator('.alert-success, .messages .alert').first().waitFor();
    await page.goto(detail);
    expect(await page.locator('table tbody tr', { hasText: 'extdata-url' }).count()).toBe(1);
    await browser.screenshot('configuration-group');
    const configs = await troveGet<{ configurations: Array<{ name: string; id: string }> }>(demoToken, demoProject, 'configurations');
    const conf = configs.configurations.find((c) => c.name === 'ui-conf');
    const shown = await troveGet<{ configuration: { values: Record<string, unknown> } }>(demoToken, demoProject, `configurations/${conf!.id}`);
    expect(shown.configuration.values).toEqual({ 'extdata-url': extdataUrl });
  }), 180_000);

  it('Launch Instance (k2hdkc, flavor, volume, configuration group) -> Active and HEALTHY', step(async () => {
    await page.goto(url('project/databases/launch'));
    await page.fill('#id_name', 'ui-one');
    await selectByText('#id_datastore', `k2hdkc - ${VERSION}`);
    await selectByText('select[data-switch-on="datastore"]:visible', 'k2hdkc.small');
    await page.fill('#id_volume', '1');
    await browser.screenshot('launch-instance-form');
    await page.click('a:has-text("Advanced")');
    await selectByText('#id_config', 'ui-conf');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/databases/'), page.click('.modal-footer [type=submit]')]);
    await untilRow('project/databases/', 'ui-one', /Active/, 240_000);
    await browser.screenshot('instance-active');
    const listed = await troveGet<{ instances: Array<{ id: string; name: string }> }>(demoToken, demoProject, 'instances');
    instanceId = listed.instances.find((i) => i.name === 'ui-one')!.id;
    await untilHealthy(rest, demoToken, demoProject, instanceId);
    const view = await rest.instance(demoToken, demoProject, instanceId);
    expect(view?.configuration?.id).toBeTruthy();
    // A client writes into the node's data file; the backup must carry it.
    await k2hSet(dataFileOf(vmOf(instanceId)), 'ui-key', 'ui-value');
  }), 300_000);

  it('Create Backup -> Completed; Launch from the backup -> Active', step(async () => {
    await page.goto(url('project/database_backups/create'));
    await page.fill('#id_name', 'ui-backup');
    await selectByText('#id_instance', 'ui-one');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/database_backups/'), page.click('.modal-footer [type=submit]')]);
    await untilRow('project/database_backups/', 'ui-backup', /Completed/, 180_000);
    await browser.screenshot('backups');

    await page.goto(url('project/databases/launch'));
    await page.fill('#id_name', 'ui-restored');
    await selectByText('#id_datastore', `k2hdkc - ${VERSION}`);
    await selectByText('select[data-switch-on="datastore"]:visible', 'k2hdkc.small');
    await page.fill('#id_volume', '1');
    await page.click('a:has-text("Advanced")');
    await selectByText('#id_config', 'ui-conf');
    await page.selectOption('#id_initial_state', 'backup');
    await selectByText('#id_backup', 'ui-backup');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/databases/'), page.click('.modal-footer [type=submit]')]);
    await untilRow('project/databases/', 'ui-restored', /Active/, 240_000);
    await browser.screenshot('restored-active');
    const listed = await troveGet<{ instances: Array<{ id: string; name: string }> }>(demoToken, demoProject, 'instances');
    const restored = listed.instances.find((i) => i.name === 'ui-restored')!.id;
    await untilHealthy(rest, demoToken, demoProject, restored);
    expect(await k2hGet(dataFileOf(vmOf(restored)), 'ui-key')).toBe('ui-value');
  }), 480_000);

  it('shows the Clusters panel and offers k2hdkc in Launch Cluster (the drop-in)', step(async () => {
    await page.goto(url('project/database_clusters/'));
    expect(await page.locator('table#clusters').count()).toBe(1);
    await page.goto(url('project/database_clusters/launch'));
    // trove-dashboard lists only datastores on its cluster allow-list here.
    await selectByText('#id_datastore', `k2hdkc - ${VERSION}`);
    await page.fill('#id_name', 'ui-cluster');
    await browser.screenshot('launch-cluster-form');
  }), 120_000);

  it('leaves Debian\'s Trove and Horizon files as installed (dpkg --verify)', async () => {
    const { stdout } = await run('dpkg', ['--verify', 'python3-trove', 'python3-trove-dashboard', 'openstack-dashboard']);
    expect(stdout).toBe('');
  });
});
