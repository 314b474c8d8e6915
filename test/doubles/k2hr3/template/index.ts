/** The K2HR3 template language as the double runs it (spec §2, §10). */
export { loadTemplate, variableNames, TemplateLoadError, type Node, type Value } from './parse';
export { executeTemplate, expandTemplate, same, truth, TemplateRunError, type Variables } from './run';
