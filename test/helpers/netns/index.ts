// Per-node network namespaces for tests that run K2HDKC nodes ("VMs") on one machine: see
// network.ts. Conformance (test/conformance/helpers/env.ts) and e2e (test/e2e/helpers/hypervisor.ts)
// both use it; rawCtlport reaches nodes through connectTcp.
export { NodeNetwork, removeStaleNamespaces, type NetNode } from './network';
export { connectTcp, inNamespace } from './registry';
