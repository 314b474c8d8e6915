export { sendCtlportCommand, CtlportClient } from './client';
export type { CtlportRequestOptions, CtlportEndpoint, ServiceOutTarget, CtlportClientOptions } from './client';
export { parseSelfStatus, parseAllStatus, parseCommandReply, assertNotRejected, findRingServer } from './parse';
export type { SelfStatus, AllStatus, RingServer, ReplySource } from './parse';
export { parseStatusWord, isServingServer, isUpSlave } from './status-word';
export type { ChmpxStatus, RingState, LiveState, ActionState, OperateState } from './status-word';
export { healthFromStatus, probeHealth } from './health';
export type { NodeHealth, HealthInput, HealthProbe } from './health';
