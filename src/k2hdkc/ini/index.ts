export * from './model';
export { parseIni, parseIniBool, parseIniInt, sectionValues, buildIni } from './parse';
export { renderIni, composeIni, type IniSpec } from './render';
export { extractIniValue, quoteIniValue } from './extract';
export { checkInvariants, SELF_INSTANCE_ID_PLACEHOLDER } from './invariants';
export { substituteSelf } from './substitute';
export { writeIniAtomically, type IniWriteOptions, type IniWriteResult } from './write';
export { diffMembership, type MemberSummary, type MembershipDiff } from './diff';
