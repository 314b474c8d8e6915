import { IniError } from '../../errors';
import { SELF_INSTANCE_ID_PLACEHOLDER } from './invariants';

/**
 * Replaces every `__SELF_INSTANCE_ID__` with this guest's instance id, as k2hr3-get-resource
 * does on the VM (spec §2, §3.1 step 5). Throws IniError for an id that would change the INI's
 * structure (empty, whitespace, `#`, quotes, brackets or `=`).
 */
export function substituteSelf(text: string, instanceId: string): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(instanceId)) {
    throw new IniError(`Instance id '${instanceId}' cannot be written into the INI as SELFCUK`);
  }
  return text.split(SELF_INSTANCE_ID_PLACEHOLDER).join(instanceId);
}
