/**
 * The enumerations of the config APIs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs),
 * with the numbers the protocol guide gives them.
 */

/** What a config resource names: a topic, a broker (by node id, or '' for the cluster default). */
export const configResourceTypes = {
  UNKNOWN: 0,
  ANY: 1,
  TOPIC: 2,
  GROUP: 3,
  BROKER: 4,
  BROKER_LOGGER: 8,
} as const;

/** Where a described value comes from (DescribeConfigs v1+ `configSource`). */
export const configSources = {
  UNKNOWN: 0,
  /** Set on the topic itself. */
  TOPIC_CONFIG: 1,
  DYNAMIC_BROKER_CONFIG: 2,
  DYNAMIC_DEFAULT_BROKER_CONFIG: 3,
  /** The broker's own default, as it was started. */
  STATIC_BROKER_CONFIG: 4,
  /** The built-in default. */
  DEFAULT_CONFIG: 5,
} as const;

/** A described value's type (DescribeConfigs v3+ `configType`). */
export const configTypes = {
  UNKNOWN: 0,
  BOOLEAN: 1,
  STRING: 2,
  INT: 3,
  SHORT: 4,
  LONG: 5,
  DOUBLE: 6,
  LIST: 7,
  CLASS: 8,
  PASSWORD: 9,
} as const;

/** IncrementalAlterConfigs `configOperation`. */
export const configOperations = {
  SET: 0,
  /** Back to the default. */
  DELETE: 1,
  /** Add to a list config. */
  APPEND: 2,
  /** Remove from a list config. */
  SUBTRACT: 3,
} as const;
