export { KeystoneDouble, type KeystoneDoubleOptions, type KeystoneTokenInfo } from './server';
