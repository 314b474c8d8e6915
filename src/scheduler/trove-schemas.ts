import Ajv from 'ajv';

/**
 * (Plain schemas with explicit result types: JSONSchemaType cannot express required-but-nullable
 * fields such as Trove's `description`.)
 *
 * The JSON shapes we read from Trove 18, checked with ajv before use. Only the
 * fields we rely on are required; the rest may change without breaking us. Shapes from
 * trove/backup/views.py (BackupView), trove/common/pagination.py (`links` only when a next page
 * exists). Keystone's token body is shared with the agent: src/keystone/v3.ts.
 */

/** Trove's backup statuses (trove/backup/state.py). */
export const RUNNING_STATES: readonly string[] = ['NEW', 'BUILDING', 'SAVING'];

export interface TroveBackup {
  id: string;
  name: string | null;
  description: string | null;
  instance_id: string | null;
  /** `2026-11-27T02:00:00`: naive UTC, microseconds cut (trove/common/base_wsgi.py serializer). */
  created: string;
  status: string;
}

const backupSchema = {
  type: 'object',
  required: ['id', 'name', 'description', 'instance_id', 'created', 'status'],
  properties: {
    id: { type: 'string', minLength: 1 },
    name: { type: 'string', nullable: true },
    description: { type: 'string', nullable: true },
    instance_id: { type: 'string', nullable: true },
    created: { type: 'string', minLength: 10 },
    status: { type: 'string' },
  },
} as const;

export interface BackupBody {
  backup: TroveBackup;
}
export interface BackupListBody {
  backups: TroveBackup[];
  links?: { rel: string; href: string }[];
}

const ajv = new Ajv({ allErrors: false });

export const validateBackupBody = ajv.compile<BackupBody>({
  type: 'object',
  required: ['backup'],
  properties: { backup: backupSchema },
});

export const validateBackupList = ajv.compile<BackupListBody>({
  type: 'object',
  required: ['backups'],
  properties: {
    backups: { type: 'array', items: backupSchema },
    links: {
      type: 'array',
      nullable: true,
      items: {
        type: 'object',
        required: ['rel', 'href'],
        properties: { rel: { type: 'string' }, href: { type: 'string' } },
      },
    },
  },
});

/** Trove timestamps carry no zone but are UTC; Keystone's end in `Z`. Returns epoch ms (NaN if unreadable). */
export function parseTroveTime(text: string): number {
  return Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(text) ? text : `${text}Z`);
}
