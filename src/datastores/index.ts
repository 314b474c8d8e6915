import type { AgentConfig } from '../config/types';
import { wireBaseDatastore } from './base';
import type { DatastoreWiring } from './contribution';
import { wireK2hdkcDatastore } from './k2hdkc';

/** The datastores [k2hdkc] datastore can name, each wired by its own file. */
export const DATASTORES: Readonly<Record<AgentConfig['k2hdkc']['datastore'], DatastoreWiring>> = {
  base: wireBaseDatastore,
  k2hdkc: wireK2hdkcDatastore,
};
