import { randomUUID } from 'node:crypto';

/**
 * In-memory rows of the Trove API double: instances and backups as Trove 18 keeps them
 * (trove/backup/models.py DBBackup), and the view that API answers with (trove/backup/views.py).
 * Written from the spec and Trove's source, never from our scheduler: it imports nothing from src/.
 */

export const RUNNING_STATES = ['NEW', 'BUILDING', 'SAVING'];

export interface InstanceRow {
  id: string;
  projectId: string;
  /** server status; Trove allows a backup only on ACTIVE/HEALTHY instances. */
  status: string;
}

export interface BackupRow {
  id: string;
  name: string;
  description: string | null;
  instanceId: string | null;
  projectId: string;
  status: string;
  created: Date;
  updated: Date;
  size: number | null;
  location: string | null;
  swiftContainer: string | null;
  deleted: boolean;
}

/** Trove's JSON serializer cuts microseconds and prints naive UTC (trove/common/base_wsgi.py). */
export function troveTime(at: Date): string {
  return at.toISOString().slice(0, 19);
}

export class TroveState {
  readonly instances = new Map<string, InstanceRow>();
  readonly backups: BackupRow[] = [];

  constructor(private readonly now: () => Date) {}

  addInstance(id: string, projectId: string, status = 'ACTIVE'): InstanceRow {
    const row = { id, projectId, status };
    this.instances.set(id, row);
    return row;
  }

  /** Seeds a backup directly (a user's backup, or an old scheduled one with a chosen date). */
  addBackup(b: Partial<BackupRow> & { name: string; instanceId: string; projectId: string }): BackupRow {
    const at = b.created ?? this.now();
    const row: BackupRow = {
      id: randomUUID(),
      description: null,
      status: 'COMPLETED',
      updated: at,
      size: 0.1,
      location: null,
      swiftContainer: null,
      deleted: false,
      ...b,
      created: at,
    };
    this.backups.push(row);
    return row;
  }

  live(projectId: string): BackupRow[] {
    return this.backups.filter((b) => !b.deleted && b.projectId === projectId);
  }

  find(projectId: string, id: string): BackupRow | undefined {
    return this.live(projectId).find((b) => b.id === id);
  }

  /** Moves a backup on (the guest agent's update_backup, in the real system). */
  setStatus(id: string, status: string): void {
    const row = this.backups.find((b) => b.id === id);
    if (!row) throw new Error(`no backup ${id}`);
    row.status = status;
    row.updated = this.now();
    if (status === 'COMPLETED') {
      row.size = 0.1;
      row.location = `http://swift.example/v1/AUTH_x/${row.swiftContainer ?? 'database_backups'}/${row.id}.gz`;
    }
  }

  view(b: BackupRow): Record<string, unknown> {
    return {
      id: b.id,
      name: b.name,
      description: b.description,
      locationRef: b.location,
      instance_id: b.instanceId,
      created: troveTime(b.created),
      updated: troveTime(b.updated),
      size: b.size,
      status: b.status,
      parent_id: null,
      project_id: b.projectId,
      datastore: { type: 'k2hdkc', version: '1.0.0', version_id: '5f3c1a8e-1111-4a2b-9c3d-000000000001' },
    };
  }
}
