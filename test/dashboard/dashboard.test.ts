import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControlPlane } from '../e2e/helpers/control-plane';
import { REPO_ROOT, type Vm } from '../e2e/helpers/hypervisor';
import { dataFileOf, k2hGet, k2hSet } from '../e2e/helpers/k2hash-data';
import { TroveRest, until, untilHealthy, type ClusterView } from '../e2e/helpers/trove-rest';
import { openBrowser, type Browser } from './browser';
import { startHorizon, type HorizonFixture } from './horizon';

// Issue 13 acceptance 2: a person uses K2HDKC through Horizon with trove-dashboard, unpatched,
// in headless Chromium, as the demo user of a real Keystone: configuration group (refused value,
// attached at launch and to a running instance), Launch Instance, Create Backup, Launch from the
// backup, Launch / Grow / Shrink Cluster. No K2HR3 set-up beforehand: every node provisions K2HR3
// with the token of the user who clicked, which the K2HR3 double checks at the real Keystone.
// Every step saves a screenshot under reports/dashboard/ (docs/images/ keeps three for the README).
// The cluster is launched after the first instance and builds while the backup steps run.

const run = promisify(execFile);
const VERSION = '1.0.16';
const STAND_INS = path.join(REPO_ROOT, 'test/doubles/chmpx');
const REPORT_DIR = path.join(REPO_ROOT, 'reports/dashboard');
const DROP_IN = path.join(REPO_ROOT, 'datastore/horizon/_1799_k2hdkc.py');
/** A restart-required k2hdkc parameter that lands in the node's INI ([K2HDKC] MAXTHREAD; default 20). */
const MAXTHREAD = 8;

const plane = new ControlPlane({
  bridge: true,
  guestConf: { k2hdkc: [`k2hlinetool_path = ${path.join(STAND_INS, 'k2hlinetool')}`, 'k2hr3_poll_seconds = 1'] },
});
let horizon: HorizonFixture | undefined;
let browser: Browser;
let page: Page;
let rest: TroveRest;
let demoToken = '';
let demoProject = '';
let failed = false;
/** Script errors of the pages (printed when a step fails). */
const pageErrors: string[] = [];

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
async function troveGet<T>(p: string): Promise<T> {
  const res = await axios.get<T>(`${plane.apiUrl}/v1.0/${demoProject}/${p}`, { headers: { 'X-Auth-Token': demoToken }, timeout: 20_000 });
  return res.data;
}

async function idOf(kind: 'instances' | 'clusters' | 'configurations', name: string): Promise<string> {
  const listed = await troveGet<Record<string, Array<{ id: string; name: string }>>>(kind);
  const found = listed[kind]?.find((x) => x.name === name);
  if (found === undefined) throw new Error(`trove-api lists no ${kind} named ${name}`);
  return found.id;
}

function vmOf(instanceId: string): Vm {
  const vm = plane.hypervisor.vmOf(instanceId);
  if (vm === undefined) throw new Error(`no VM runs instance ${instanceId}`);
  return vm;
}

/** [K2HDKC] MAXTHREAD of the INI on the node's VM. */
function maxthreadOf(instanceId: string): string | undefined {
  return /^MAXTHREAD\s*=\s*(\S+)$/m.exec(readFileSync(vmOf(instanceId).iniPath, 'utf8'))?.[1];
}

function pidOf(vm: Vm, name: string): number {
  try {
    return Number(readFileSync(path.join(vm.runDir, `${name}.pid`), 'utf8'));
  } catch {
    return Number.NaN;
  }
}

/** The hosts (by instance id) registered in a self-provisioned K2HR3 cluster `<project>/<cluster>/server`. */
function registered(cluster: string): string[] {
  return plane.k2hr3.state.hostsOf(`yrn:yahoo:::demo:role:${cluster.toLowerCase()}/server`).map((h) => h.cuk ?? '').sort();
}

function url(p: string): string {
  return `${horizon!.url}${p}`;
}

/** Reloads a table page until the row named `name` shows `status` (Horizon polls the same way). */
async function untilRow(p: string, name: string, status: RegExp, timeoutMs: number): Promise<string> {
  return until(`row ${name} ${String(status)}`, async () => {
    await page.goto(url(p));
    const row = page.locator('table tbody tr', { hasText: name });
    if ((await row.count()) === 0) return undefined;
    const text = await row.first().innerText();
    if (/\bError\b|\bFailed\b/i.test(text)) throw new Error(`row ${name}: ${text}`);
    return status.test(text) ? text : undefined;
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

/** The row of table `table` named `name` on the current page. */
function rowOf(table: string, name: string): Locator {
  return page.locator(`table#${table} tbody tr`, { hasText: name }).first();
}

/**
 * Clicks a row action: Horizon shows the first one as a button and the others in the row's
 * drop-down menu (opened first). An action the row does not offer fails the step.
 */
async function clickRowAction(row: Locator, label: string): Promise<void> {
  const action = row.locator(`a:has-text("${label}"), button:has-text("${label}")`).first();
  if ((await action.count()) === 0) throw new Error(`the row offers no "${label}": ${await row.innerText()}`);
  if (!(await action.isVisible())) await row.locator('.dropdown-toggle').first().click();
  await action.click();
}

/**
 * Clicks a dangerous row action (Restart Instance, Shrink Cluster) and waits for the page it
 * loads. Horizon's script asks "Confirm <action>" first (then its red button is clicked); when
 * that dialog does not come, the button has submitted the table's form by itself.
 */
async function clickDangerous(row: Locator, label: string): Promise<void> {
  const loaded = page.waitForEvent('load');
  await clickRowAction(row, label);
  const confirm = page.locator('.modal-footer .btn-danger').first();
  const asked = await Promise.race([
    loaded.then(() => false),
    confirm.waitFor({ state: 'visible', timeout: 30_000 }).then(() => true, () => false),
  ]);
  if (asked) await Promise.all([page.waitForEvent('load'), confirm.click()]);
  else await loaded;
}

/**
 * Submits a form opened as a modal over the current page: Horizon posts it over ajax and then
 * loads the next page (possibly the same URL), so wait for that load, not for a URL.
 */
async function submitModal(): Promise<void> {
  await Promise.all([page.waitForEvent('load'), page.click('.modal-footer [type=submit]')]);
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
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
}, 420_000);

afterAll(async () => {
  if (failed) console.log(`${plane.report()}\n--- horizon (tail)\n${horizon?.logTail() ?? ''}\n--- page errors\n${pageErrors.join('\n')}`);
  await browser?.close();
  await horizon?.stop(failed);
  await plane.stop(failed);
}, 60_000);

describe('Trove Dashboard in headless Chromium', () => {
  let instanceId = '';
  let clusterId = '';

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
    await selectByText('#id_name', 'k2hdkc-maxthread');
    await page.fill('#id_value', String(MAXTHREAD));
    await page.click('.modal-footer [type=submit]');
    await page.locator('.alert-success, .messages .alert').first().waitFor();
    await page.goto(detail);
    expect(await page.locator('table tbody tr', { hasText: 'k2hdkc-maxthread' }).count()).toBe(1);
    await browser.screenshot('configuration-group');
    const shown = await troveGet<{ configuration: { values: Record<string, unknown> } }>(`configurations/${await idOf('configurations', 'ui-conf')}`);
    expect(shown.configuration.values).toEqual({ 'k2hdkc-maxthread': MAXTHREAD });
  }), 180_000);

  it('Launch Instance (k2hdkc, flavor, volume, configuration group) -> Active and HEALTHY, the group\'s value in the INI', step(async () => {
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
    instanceId = await idOf('instances', 'ui-one');
    const view = await untilHealthy(rest, demoToken, demoProject, instanceId);
    expect(view.configuration?.id).toBe(await idOf('configurations', 'ui-conf'));
    // The node set its K2HR3 cluster up with the user's Keystone token and registered in it.
    expect(registered(instanceId)).toEqual([instanceId]);
    expect(maxthreadOf(instanceId)).toBe(String(MAXTHREAD));
    // A client writes into the node's data file; the backup must carry it.
    await k2hSet(dataFileOf(vmOf(instanceId)), 'ui-key', 'ui-value');
  }), 300_000);

  // Launched now, checked after the backup steps: its members build meanwhile.
  it('Launch Cluster (k2hdkc, 3 members) is accepted', step(async () => {
    await page.goto(url('project/database_clusters/'));
    // The table action opens the form as a modal; its page is the same form (as the steps above).
    const launch = await page.locator('a:has-text("Launch Cluster")').getAttribute('href');
    await page.goto(url(launch!.replace(/^\//, '')));
    await page.fill('#id_name', 'ui-cluster');
    // trove-dashboard lists only datastores on its cluster allow-list here (the drop-in adds k2hdkc).
    await selectByText('#id_datastore', `k2hdkc - ${VERSION}`);
    await selectByText('select[data-switch-on="datastore"]:visible', 'k2hdkc.small');
    await page.fill('#id_volume', '1');
    await page.fill('#id_num_instances', '3');
    await selectByText('#id_network', 'e2e-net');
    await browser.screenshot('launch-cluster-form');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/database_clusters/'), page.click('.modal-footer [type=submit]')]);
    await untilRow('project/database_clusters/', 'ui-cluster', /Building|None/, 60_000);
    clusterId = await idOf('clusters', 'ui-cluster');
  }), 120_000);

  let restored = '';
  it('Create Backup -> Completed; Launch from the backup -> Active with the data', step(async () => {
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
    await page.selectOption('#id_initial_state', 'backup');
    await selectByText('#id_backup', 'ui-backup');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/databases/'), page.click('.modal-footer [type=submit]')]);
    await untilRow('project/databases/', 'ui-restored', /Active/, 240_000);
    await browser.screenshot('restored-active');
    restored = await idOf('instances', 'ui-restored');
    await untilHealthy(rest, demoToken, demoProject, restored);
    expect(await k2hGet(dataFileOf(vmOf(restored)), 'ui-key')).toBe('ui-value');
  }), 480_000);

  it('Attach Configuration Group to the running instance -> Restart Required; Restart Instance -> Active with the value in the INI', step(async () => {
    expect(maxthreadOf(restored)).not.toBe(String(MAXTHREAD));
    await page.goto(url('project/databases/'));
    await clickRowAction(rowOf('databases', 'ui-restored'), 'Attach Configuration Group');
    await selectByText('#id_configuration', 'ui-conf');
    await submitModal();
    // k2hdkc-maxthread needs a restart: Trove says so, the dashboard offers Restart Instance.
    await untilRow('project/databases/', 'ui-restored', /Restart Required/, 60_000);
    await browser.screenshot('configuration-attached');
    const vm = vmOf(restored);
    const k2hdkc = pidOf(vm, 'k2hdkc');
    await clickDangerous(rowOf('databases', 'ui-restored'), 'Restart Instance');
    await until('k2hdkc restarted', async () => {
      const pid = pidOf(vm, 'k2hdkc');
      return pid > 0 && pid !== k2hdkc ? true : undefined;
    }, 90_000, 300);
    const view = await untilHealthy(rest, demoToken, demoProject, restored, 90_000);
    expect(view.configuration?.id).toBe(await idOf('configurations', 'ui-conf'));
    await untilRow('project/databases/', 'ui-restored', /Active/, 60_000);
    expect(maxthreadOf(restored)).toBe(String(MAXTHREAD));
  }), 240_000);

  /** Waits until Trove's cluster is idle with `count` healthy members; returns their ids. */
  async function untilClusterIdle(count: number): Promise<string[]> {
    return until(`cluster ui-cluster idle with ${count} healthy members`, async () => {
      const cluster = await rest.cluster(demoToken, demoProject, clusterId);
      if (cluster === null) throw new Error('cluster disappeared');
      if (cluster.task.name !== 'NONE' || cluster.instances.length !== count) return undefined;
      const views = await Promise.all(cluster.instances.map((i) => rest.instance(demoToken, demoProject, i.id)));
      if (views.some((v) => v?.status === 'ERROR')) throw new Error(`a member is ERROR: ${JSON.stringify(views.map((v) => v?.fault))}`);
      return views.every((v) => v?.status === 'ACTIVE' && v.operating_status === 'HEALTHY') ? cluster.instances.map((i) => i.id).sort() : undefined;
    }, 300_000, 1500);
  }

  /** What the dashboard shows of the cluster: the Clusters row, then the detail page's Instances tab. */
  async function dashboardMembers(count: number, screenshot?: string): Promise<string[]> {
    await untilRow('project/database_clusters/', 'ui-cluster', new RegExp(`\\b${count} instances\\b[\\s\\S]*\\bNone\\b`), 60_000);
    await page.click('table#clusters a:text("ui-cluster")');
    await page.click('a[data-toggle="tab"]:has-text("Instances")');
    const rows = page.locator('table#instances tbody tr');
    await rows.first().waitFor();
    const texts = await rows.allInnerTexts();
    expect(texts).toHaveLength(count);
    // Host: the member's address (the bridge's cluster view lists addresses as the instance view does).
    for (const text of texts) expect(text).toMatch(new RegExp(`\\bmember\\s+${plane.addressPrefix.replace(/\./g, '\\.')}\\.\\d+\\s[\\s\\S]*\\bActive\\b`));
    if (screenshot !== undefined) await browser.screenshot(screenshot);
    return texts.map((t) => t.split(/\s/)[0] ?? '').sort();
  }

  it('the cluster turns Active with three members, each registered in K2HR3', step(async () => {
    const ids = await untilClusterIdle(3);
    expect(await dashboardMembers(3, 'cluster')).toEqual(['ui-cluster-member-1', 'ui-cluster-member-2', 'ui-cluster-member-3']);
    // The members provisioned one K2HR3 cluster named by the Trove cluster id, with the user's token.
    await until('three K2HR3 registrations', async () => (registered(clusterId).length === 3 ? true : undefined), 30_000, 300);
    expect(registered(clusterId)).toEqual(ids);
  }), 360_000);

  it('Grow Cluster (+1) -> four members in the dashboard and in K2HR3', step(async () => {
    await page.goto(url('project/database_clusters/'));
    await clickRowAction(rowOf('clusters', 'ui-cluster'), 'Grow Cluster');
    await page.waitForURL((u) => u.pathname.endsWith('/cluster_grow_details'));
    await page.click('a:has-text("Add Instance")');
    await selectByText('#id_flavor', 'k2hdkc.small');
    await page.fill('#id_volume', '1');
    await selectByText('#id_network', 'e2e-net');
    await submitModal();
    await page.locator('table#cluster_grow_instances_table tbody tr', { hasText: 'k2hdkc.small' }).waitFor();
    await browser.screenshot('grow-cluster');
    await Promise.all([page.waitForURL((u) => u.pathname === '/project/database_clusters/'), page.click('button:has-text("Grow Cluster")')]);
    const ids = await untilClusterIdle(4);
    expect(await dashboardMembers(4)).toEqual(['ui-cluster-member-1', 'ui-cluster-member-2', 'ui-cluster-member-3', 'ui-cluster-member-4']);
    await until('four K2HR3 registrations', async () => (registered(clusterId).length === 4 ? true : undefined), 30_000, 300);
    expect(registered(clusterId)).toEqual(ids);
  }), 360_000);

  it('Shrink Cluster (-1) -> three members in the dashboard; the removed one left K2HR3', step(async () => {
    const removed = (await troveGet<{ cluster: ClusterView }>(`clusters/${clusterId}`)).cluster.instances.find((i) => i.name === 'ui-cluster-member-1')!.id;
    await page.goto(url('project/database_clusters/'));
    await clickRowAction(rowOf('clusters', 'ui-cluster'), 'Shrink Cluster');
    await page.waitForURL((u) => u.pathname.endsWith('/cluster_shrink_details'));
    await browser.screenshot('shrink-cluster');
    await clickDangerous(rowOf('shrink_cluster_table', 'ui-cluster-member-1'), 'Shrink Cluster');
    expect(new URL(page.url()).pathname).toBe('/project/database_clusters/');
    const ids = await untilClusterIdle(3);
    expect(ids).not.toContain(removed);
    expect(await dashboardMembers(3, 'cluster-shrunk')).toEqual(['ui-cluster-member-2', 'ui-cluster-member-3', 'ui-cluster-member-4']);
    await until('the removed member deregistered', async () => (registered(clusterId).length === 3 ? true : undefined), 30_000, 300);
    expect(registered(clusterId)).toEqual(ids);
  }), 360_000);

  it('leaves Debian\'s Trove and Horizon files as installed (dpkg --verify)', async () => {
    const { stdout } = await run('dpkg', ['--verify', 'python3-trove', 'python3-trove-dashboard', 'openstack-dashboard']);
    expect(stdout).toBe('');
  });
});
