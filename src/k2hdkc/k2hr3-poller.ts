import type { Logger } from '../log';
import { K2hr3Client } from '../k2hr3/client';
import type { ExtdataBootstrap } from '../k2hr3/extdata';
import type { K2hr3HttpOptions } from '../k2hr3/http';
import { roleToResourceYrn } from '../k2hr3/yrn';
import { IniPoller, type IniPollerOptions } from './reconfigure';

/** The IniPoller's options (fetch: this guest's resource in K2HR3, through `overlay`). */
export interface K2hr3PollerOptions extends Pick<IniPollerOptions, 'instanceId' | 'iniPath' | 'role' | 'intervalMs'> {
  readonly http: K2hr3HttpOptions;
  /** Turns the text K2HR3 serves into the INI text to write (the configuration overrides). */
  readonly overlay: (served: string) => Promise<string>;
  readonly log: Logger;
  /** First poll at once rather than after one interval (issue 10: members waiting to be listed start sooner). */
  readonly immediate?: boolean;
}

/** Starts an IniPoller that reads this bootstrap's role resource from K2HR3 (live reconfiguration). */
export function startK2hr3Poller(boot: ExtdataBootstrap, options: K2hr3PollerOptions): IniPoller {
  const resourceYrn = roleToResourceYrn(boot.roleYrn);
  // One attempt per poll: the next poll is the retry.
  const client = new K2hr3Client({ apiUrl: boot.apiUrl, ...options.http, attempts: 1, log: options.log });
  const poller = new IniPoller({
    fetch: async (signal) => options.overlay(await client.readResource(resourceYrn, boot.roleToken, signal)),
    instanceId: options.instanceId,
    iniPath: options.iniPath,
    role: options.role,
    intervalMs: options.intervalMs,
    log: options.log.child({ component: 'reconfigure' }),
  });
  poller.start(options.immediate ?? false);
  return poller;
}
