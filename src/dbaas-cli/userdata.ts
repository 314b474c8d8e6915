import { Document, isSeq } from 'yaml';
import { CliError } from './errors';

/**
 * Cloud-init user-data for a VM booted from the K2HDKC guest image that runs the agent in
 * standalone mode (src/standalone.ts) as a server or a slave of one cluster: the agent's
 * configuration with the cluster's extdata URL (the register path of a `<cluster>/<mode>` role
 * token, spec §1.3.5), a systemd unit, and the commands that switch the image's Trove agent off
 * and this one on. The same text `slave userdata` prints is what `slave create` gives Nova.
 */

export interface UserDataRequest {
  mode: 'server' | 'slave';
  cluster: string;
  /** K2HR3 API base URL as the VM reaches it. */
  k2hr3ApiUrl: string;
  /** The role token's register path, opaque (already URL-encoded by K2HR3). */
  registerPath: string;
  /** Server VMs only: a blank volume Nova attached as the second disk, formatted and mounted for the data file. */
  dataVolumeDevice?: string;
  /** Seconds between the agent's K2HR3 reads (default 10). */
  pollSeconds?: number;
}

export const AGENT_BIN = '/opt/k2hdkc-trove/bin/k2hdkc-trove-agent';
const DATA_MOUNT = '/var/lib/antpickax/k2hdkc';

/** The extdata URL a node bootstraps from. */
export function extdataUrl(k2hr3ApiUrl: string, registerPath: string): string {
  if (!/^[A-Za-z0-9%._~-]+$/.test(registerPath)) throw new CliError('service', 'K2HR3 gave a register path with unexpected characters');
  return `${k2hr3ApiUrl.replace(/\/+$/, '')}/v1/extdata/trove/${registerPath}`;
}

export function renderUserData(req: UserDataRequest): string {
  const unit = `k2hdkc-${req.mode}-agent.service`;
  const conf = `/etc/k2hdkc-trove/${req.mode}.conf`;
  const agentConf = [
    '[k2hdkc]',
    'datastore = k2hdkc',
    `mode = ${req.mode}`,
    '# The register path hands out the role token: this file is private (0600).',
    `extdata_url = ${extdataUrl(req.k2hr3ApiUrl, req.registerPath)}`,
    'state_dir = /var/lib/k2hdkc-trove',
    'ini_path = /etc/antpickax/k2hdkc.ini',
    'process_manager = systemd',
    '# cloud-init formats and mounts a data volume, if any; the agent does not own a disk here.',
    'manage_volume = false',
    `k2hr3_poll_seconds = ${req.pollSeconds ?? 10}`,
    'http_port = 0',
    'log_level = info',
    '',
  ].join('\n');
  const unitText = [
    '[Unit]',
    `Description=K2HDKC ${req.mode} node agent for cluster ${req.cluster} (standalone, no Trove)`,
    'After=network-online.target cloud-init.service',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    'User=root',
    `ExecStart=${AGENT_BIN} --standalone --config-file ${conf}`,
    'Restart=on-failure',
    'RestartSec=10',
    'KillSignal=SIGTERM',
    'TimeoutStopSec=30',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
  const doc: Record<string, unknown> = {
    write_files: [
      { path: conf, owner: 'root:root', permissions: '0600', content: agentConf },
      { path: `/etc/systemd/system/${unit}`, owner: 'root:root', permissions: '0644', content: unitText },
    ],
  };
  if (req.dataVolumeDevice !== undefined) {
    doc['fs_setup'] = [{ label: 'k2hdkc-data', filesystem: 'ext4', device: req.dataVolumeDevice, partition: 'none' }];
    doc['mounts'] = [[req.dataVolumeDevice, DATA_MOUNT, 'ext4', 'defaults,nofail', '0', '2']];
  }
  doc['runcmd'] = [
    ['systemctl', 'disable', '--now', 'k2hdkc-trove-agent.service'],
    ['install', '-d', '-m', '0700', '/var/lib/k2hdkc-trove'],
    ['systemctl', 'daemon-reload'],
    ['systemctl', 'enable', '--now', unit],
  ];
  const header = [
    '#cloud-config',
    `# K2HDKC ${req.mode} node of cluster ${req.cluster}, made by k2hdkc-dbaas.`,
    '# Boot it from the K2HDKC guest image. It registers in K2HR3, writes /etc/antpickax/k2hdkc.ini,',
    `# runs chmpx${req.mode === 'server' ? ' and k2hdkc' : ' in slave mode'} and follows the cluster as it grows and shrinks.`,
    '# Keep this text private: its extdata URL lets a VM join the cluster.',
    '',
  ].join('\n');
  const yaml = new Document(doc);
  // Each command on one line, as cloud-init's examples write them: `- [systemctl, daemon-reload]`.
  const runcmd = yaml.get('runcmd');
  if (isSeq(runcmd)) for (const item of runcmd.items) if (isSeq(item)) item.flow = true;
  return header + yaml.toString({ lineWidth: 0 });
}
