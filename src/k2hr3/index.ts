/** The K2HR3 client: extdata bootstrap, self-provisioning, registration, resource reads. */
export { K2hr3Client, type K2hr3ClientOptions, type HostRegistration, checkBaseUrl } from './client';
export { fetchExtdata, parseExtdataScript, describeExtdataUrl, EXTDATA_USER_AGENT, type ExtdataBootstrap } from './extdata';
export type { K2hr3HttpOptions } from './http';
export {
  K2hr3Provisioner,
  DEFAULT_CLUSTER_PORTS,
  type ClusterPorts,
  type ProvisionRequest,
  type ProvisionResult,
} from './provision';
export { buildYrn, parseYrn, roleToResourceYrn, tenantYrn, type Yrn, type YrnKind } from './yrn';
export { K2HR3_SCHEMAS } from './schemas';
