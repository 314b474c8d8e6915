import { InvalidArgumentsError } from '../errors';

/**
 * The K2HDKC cluster a node joins: the K2HR3 resource/role path it self-provisions and the
 * chmpx GROUP. One K2HR3 path segment, so the same shape as the `cluster-name` parameter and
 * [k2hdkc] cluster_name.
 */
export const CLUSTER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Where a cluster name can come from, most specific first (see resolveClusterName). */
export interface ClusterNameSources {
  /** `cluster-name` of the node's configuration (configuration group, or config_contents). */
  readonly configured?: string | undefined;
  /** The agent's own option ([k2hdkc] cluster_name); null = not set. */
  readonly option: string | null;
  /** Id of the multi-node cluster the orchestrator created this node for; null = a single node. */
  readonly memberOf: string | null;
  /** This node's own id. */
  readonly instanceId: string;
}

/**
 * The one place the precedence is decided: configuration > agent option > the orchestrator's
 * cluster id > the instance id. Every member of one cluster gets the same id from the
 * orchestrator, so members with no explicit name still land in one K2HR3 cluster, while a
 * single instance stays its own one-node cluster. Throws InvalidArgumentsError when the
 * cluster id it would use is not a usable name (K2HR3 would refuse the path later, less clearly).
 */
export function resolveClusterName(sources: ClusterNameSources): string {
  if (sources.configured !== undefined && sources.configured !== '') return sources.configured;
  if (sources.option !== null && sources.option !== '') return sources.option;
  if (sources.memberOf !== null) {
    if (!CLUSTER_NAME_RE.test(sources.memberOf)) {
      throw new InvalidArgumentsError(
        `The cluster id ${JSON.stringify(sources.memberOf.slice(0, 140))} cannot name a K2HDKC cluster (letters, digits, '_', '.', '-', at most 128); set cluster-name in the configuration group.`,
      );
    }
    return sources.memberOf;
  }
  return sources.instanceId;
}
