export { ComputeDouble, type ComputeDoubleOptions, type CatalogEntry } from './server';
export { keystoneAuthenticator, staticAuthenticator, type Authenticator, type Identity, type KeystoneServiceUser } from './auth';
export type { Flavor, Image, NetworkSpec, ServerRecord, VolumeRecord } from './state';
