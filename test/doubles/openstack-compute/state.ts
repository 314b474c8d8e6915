import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A flavor as nova lists it. */
export interface Flavor {
  readonly id: string;
  readonly name: string;
  readonly ram: number;
  readonly vcpus: number;
  readonly disk: number;
  readonly ephemeral?: number;
}

/** An image as glance v2 lists it. */
export interface Image {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly tags: readonly string[];
  readonly created_at: string;
}

/** The one tenant network; its addresses are loopback addresses the VMs really listen on. */
export interface NetworkSpec {
  readonly id: string;
  readonly name: string;
  readonly subnetId: string;
  /** First three octets, e.g. `127.100.7`: ports get `<prefix>.<first + n>`. */
  readonly addressPrefix: string;
  readonly addressFirst: number;
}

/**
 * What the hypervisor reads (test/e2e/helpers/hypervisor.ts): `servers/<id>.json` as written
 * here, `volumes/<id>.json` for the volume size; it writes `power/<id>.json` (ACTIVE once the
 * VM's agent runs, DELETED once it is off), from which nova's status follows.
 */
export interface ServerRecord {
  id: string;
  name: string;
  image: string;
  flavor: string;
  metadata: Record<string, string>;
  created: string;
  updated: string;
  user_id: string;
  tenant_id: string;
  key_name: string | null;
  availability_zone: string;
  address: string;
  network_name: string;
  ports: string[];
  /** Ports nova created itself (deleted with the server, as nova does). */
  own_ports: string[];
  volumes: string[];
  delete_on_termination: string[];
  vm_dir: string;
  root: string;
  injected: string[];
  deleted: boolean;
  deleted_at?: string;
  reboots: number;
  /**
   * Restarts of the VM nova asked its host for (reboot, resize, revert resize). The host
   * acknowledges each in `power/<id>.json` (`power_cycles`); until then nova shows the task's
   * status (REBOOT, HARD_REBOOT, RESIZE, REVERT_RESIZE).
   */
  power_cycles?: number;
  /** nova's task_state while the host carries out the last power cycle. */
  task_state?: string | null;
  /** nova's vm_state: `resized` between a finished resize and its confirm or revert (VERIFY_RESIZE). */
  vm_state?: 'active' | 'resized';
  /** The flavor before a resize, until it is confirmed or reverted. */
  old_flavor?: string | null;
}

/** What the host writes for a server: its power state and the power cycles it carried out. */
export interface PowerRecord {
  status: string;
  updated?: string;
  fault?: string;
  power_cycles?: number;
}

export interface VolumeAttachment {
  id: string;
  attachment_id: string;
  volume_id: string;
  server_id: string;
  host_name: string | null;
  device: string;
  attached_at: string;
}

export interface VolumeRecord {
  id: string;
  name: string | null;
  description: string | null;
  size: number;
  status: string;
  volume_type: string;
  availability_zone: string;
  attachments: VolumeAttachment[];
  created_at: string;
  updated_at: string;
  user_id: string;
  tenant_id: string;
  metadata: Record<string, string>;
}

export interface PortRecord {
  id: string;
  name: string;
  description: string;
  network_id: string;
  device_id: string;
  device_owner: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
  security_groups: string[];
  project_id: string;
  tenant_id: string;
  status: string;
  admin_state_up: boolean;
  created_at: string;
  updated_at: string;
}

export interface SecurityGroupRule {
  id: string;
  security_group_id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  project_id: string;
  tenant_id: string;
}

export interface SecurityGroupRecord {
  id: string;
  name: string;
  description: string;
  project_id: string;
  tenant_id: string;
  security_group_rules: SecurityGroupRule[];
}

export interface ServerGroupRecord {
  id: string;
  name: string;
  policies: string[];
  members: string[];
  metadata: Record<string, string>;
  project_id: string;
  user_id: string;
}

export function now(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * A volume's storage, as a file-backed cinder backend keeps it: a sparse file of the volume's
 * size beside its record (`volumes/<id>.img`). The e2e hypervisor attaches it to the VM as a
 * loop device and, after an extend, makes the VM see the new size (`losetup -c`).
 */
export function volumeBackingFile(cloudDir: string, volumeId: string): string {
  return path.join(cloudDir, 'volumes', `${volumeId}.img`);
}

function writeJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(value, null, 1), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/**
 * The double's cloud. Servers and volumes are kept on disk under `cloudDir` for the hypervisor;
 * everything else lives in memory for the life of the double.
 */
export class CloudState {
  readonly servers = new Map<string, ServerRecord>();
  readonly volumes = new Map<string, VolumeRecord>();
  readonly ports = new Map<string, PortRecord>();
  readonly securityGroups = new Map<string, SecurityGroupRecord>();
  readonly serverGroups = new Map<string, ServerGroupRecord>();
  private addresses = 0;

  constructor(
    readonly cloudDir: string,
    readonly flavors: readonly Flavor[],
    readonly images: readonly Image[],
    readonly network: NetworkSpec,
  ) {
    mkdirSync(cloudDir, { recursive: true });
  }

  nextAddress(): string {
    this.addresses += 1;
    const host = this.network.addressFirst + this.addresses - 1;
    if (host > 254) throw new Error('the double\'s network has no address left');
    return `${this.network.addressPrefix}.${host}`;
  }

  saveServer(record: ServerRecord): void {
    record.updated = now();
    this.servers.set(record.id, record);
    writeJson(path.join(this.cloudDir, 'servers', `${record.id}.json`), record);
  }

  saveVolume(record: VolumeRecord): void {
    record.updated_at = now();
    this.volumes.set(record.id, record);
    writeJson(path.join(this.cloudDir, 'volumes', `${record.id}.json`), record);
  }

  dropVolume(id: string): void {
    this.volumes.delete(id);
    rmSync(path.join(this.cloudDir, 'volumes', `${id}.json`), { force: true });
    rmSync(volumeBackingFile(this.cloudDir, id), { force: true });
  }

  /** The hypervisor's word on a server: BUILD until it booted the VM. */
  power(serverId: string): PowerRecord | null {
    const file = path.join(this.cloudDir, 'power', `${serverId}.json`);
    if (!existsSync(file)) return null;
    return JSON.parse(readFileSync(file, 'utf8')) as PowerRecord;
  }

  /** True while the host has not yet carried out a power cycle nova asked for. */
  cyclePending(record: ServerRecord): boolean {
    return (record.power_cycles ?? 0) > (this.power(record.id)?.power_cycles ?? 0);
  }

  /** A server nova still knows: not deleted, or deleted but not yet powered off. */
  liveServer(id: string): ServerRecord | undefined {
    const record = this.servers.get(id);
    if (record === undefined || this.power(id)?.status === 'DELETED') return undefined;
    return record;
  }
}
