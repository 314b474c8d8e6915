import { BaseDatastore } from '../guest/datastore/base';
import type { DatastoreContribution, DatastoreContext } from './contribution';

/** [k2hdkc] datastore = base: the data directory and config_contents only; no node, no extra methods. */
export function wireBaseDatastore({ config, log }: DatastoreContext): DatastoreContribution {
  const { agent } = config;
  return {
    datastore: new BaseDatastore({ mountPoint: agent.mountPoint, stateDir: agent.stateDir, log: log.child({ component: 'datastore' }) }),
    methods: {},
  };
}
