export { K2hr3Double, type K2hr3DoubleOptions, type InjectedFailure } from './server';
export { renderDbaasIni, renderExtdataScript, TEMPLATE_HEADER, type HostEntry } from './render';
export { DoubleState } from './state';
