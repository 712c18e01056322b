/**
 * DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
 *
 * Topic resources carry the topic's TopicConfig under Kafka's config names (topic-configs.ts).
 * Broker resources (this node's id, or '' for the cluster default) describe as an empty list —
 * Weir's broker settings are not Kafka configs — and cannot be altered. Other resource types are
 * refused with INVALID_REQUEST.
 *
 * AlterConfigs replaces the whole set of a topic's configs, as in Kafka: a served config it does
 * not name returns to the broker's default for new topics (`context.broker.topicDefaults`).
 * IncrementalAlterConfigs changes only the configs it names: SET, or DELETE (back to that
 * default); APPEND and SUBTRACT apply to list configs, which Weir has none of (INVALID_CONFIG).
 *
 * A resource is checked whole before it changes — a repeated resource or config, an unknown
 * config, a malformed value or one the broker refuses leaves it as it was — and its changes reach
 * the broker as one alterTopic call. validateOnly checks and changes nothing.
 */
import type { TopicConfig } from '../../../broker/types.js';
import { WeirError } from '../../../util/errors.js';
import { configOperations, configResourceTypes, configSources } from '../wire/config-resources.js';
import { kafkaMessages as m } from '../wire/messages.js';
import type { RequestOf, ResponseInput } from '../wire/schema.js';
import { errorCodeOf, errorMessageOf, repeatedNames, type HandlerContext } from './context.js';
import {
  checkTopicConfigName,
  describeTopicConfig,
  inKafkaTerms,
  topicConfigChanges,
  topicConfigNames,
  topicConfigReset,
  topicConfigResetAll,
  type DescribedTopicConfig,
} from './topic-configs.js';

type DescribeResource = RequestOf<typeof m.describeConfigs>['resources'][number];
type DescribeResult = NonNullable<ResponseInput<typeof m.describeConfigs>['results']>[number];
type ConfigEntry = NonNullable<DescribeResult['configs']>[number];
type AlterConfig = RequestOf<typeof m.alterConfigs>['resources'][number]['configs'][number];
type IncrementalConfig = RequestOf<typeof m.incrementalAlterConfigs>['resources'][number]['configs'][number];

interface ResourceRef {
  resourceType: number;
  resourceName: string;
}

interface AlterResult extends ResourceRef {
  errorCode?: number;
  errorMessage?: string | null;
}

interface DescribeOptions {
  synonyms: boolean;
  documentation: boolean;
}

export function handleDescribeConfigs(context: HandlerContext, body: RequestOf<typeof m.describeConfigs>): ResponseInput<typeof m.describeConfigs> {
  const options = { synonyms: body.includeSynonyms, documentation: body.includeDocumentation };
  return { results: body.resources.map((resource) => describeResource(context, resource, options)) };
}

function describeResource(context: HandlerContext, resource: DescribeResource, options: DescribeOptions): DescribeResult {
  const { resourceType, resourceName } = resource;
  try {
    if (resourceType === configResourceTypes.BROKER) {
      checkBrokerName(context, resourceName);
      return { resourceType, resourceName, configs: [] };
    }
    checkTopicResource(resourceType);
    const topic = context.broker.describeTopic(resourceName);
    const keys = resource.configurationKeys;
    // null lists every config; so does an empty list (no client means "none" by it).
    const names = keys === null || keys.length === 0 ? topicConfigNames : topicConfigNames.filter((name) => keys.includes(name));
    const configs = names.map((name) => configEntry(describeTopicConfig(name, topic.config, context.broker.topicDefaults), topic.internal, options));
    return { resourceType, resourceName, configs };
  } catch (error) {
    return { resourceType, resourceName, errorCode: errorCodeOf(context, error), errorMessage: errorMessageOf(error) };
  }
}

function configEntry(described: DescribedTopicConfig, readOnly: boolean, options: DescribeOptions): ConfigEntry {
  const { name, value, source } = described;
  return {
    name,
    value,
    readOnly,
    isDefault: source !== configSources.TOPIC_CONFIG,
    configSource: source,
    isSensitive: false,
    synonyms: options.synonyms ? [{ name, value, source }] : [],
    configType: described.type,
    documentation: options.documentation ? described.documentation : null,
  };
}

export async function handleAlterConfigs(context: HandlerContext, body: RequestOf<typeof m.alterConfigs>): Promise<ResponseInput<typeof m.alterConfigs>> {
  const repeated = repeatedNames(body.resources.map(resourceKey));
  return {
    responses: await Promise.all(
      body.resources.map((resource) =>
        alterResource(context, resource, { repeated, validateOnly: body.validateOnly }, () => replacingChanges(context, resource.configs)),
      ),
    ),
  };
}

export async function handleIncrementalAlterConfigs(
  context: HandlerContext,
  body: RequestOf<typeof m.incrementalAlterConfigs>,
): Promise<ResponseInput<typeof m.incrementalAlterConfigs>> {
  const repeated = repeatedNames(body.resources.map(resourceKey));
  return {
    responses: await Promise.all(
      body.resources.map((resource) =>
        alterResource(context, resource, { repeated, validateOnly: body.validateOnly }, () => incrementalChanges(context, resource.configs)),
      ),
    ),
  };
}

/** AlterConfigs: every served config at the default, overlaid with the ones named. */
function replacingChanges(context: HandlerContext, configs: readonly AlterConfig[]): Partial<TopicConfig> {
  checkNamedOnce(configs);
  return { ...topicConfigResetAll(context.broker.topicDefaults), ...topicConfigChanges(configs) };
}

function incrementalChanges(context: HandlerContext, configs: readonly IncrementalConfig[]): Partial<TopicConfig> {
  checkNamedOnce(configs);
  const changes: Partial<TopicConfig> = {};
  for (const entry of configs) {
    switch (entry.configOperation) {
      case configOperations.SET:
        Object.assign(changes, topicConfigChanges([entry]));
        break;
      case configOperations.DELETE:
        Object.assign(changes, topicConfigReset(entry.name, context.broker.topicDefaults));
        break;
      case configOperations.APPEND:
      case configOperations.SUBTRACT:
        checkTopicConfigName(entry.name);
        throw new WeirError('INVALID_CONFIG', `topic config ${entry.name} is not a list: APPEND and SUBTRACT apply to list configs only`);
      default:
        throw new WeirError('INVALID_REQUEST', `config operation ${entry.configOperation} on ${entry.name} is unknown (SET 0, DELETE 1, APPEND 2, SUBTRACT 3)`);
    }
  }
  return changes;
}

async function alterResource(
  context: HandlerContext,
  resource: ResourceRef,
  options: { repeated: ReadonlySet<string>; validateOnly: boolean },
  changesOf: () => Partial<TopicConfig>,
): Promise<AlterResult> {
  const { resourceType, resourceName } = resource;
  try {
    if (options.repeated.has(resourceKey(resource))) {
      throw new WeirError('INVALID_REQUEST', `resource ${resourceName} (type ${resourceType}) appears more than once in the request`);
    }
    if (resourceType === configResourceTypes.BROKER) {
      checkBrokerName(context, resourceName);
      throw new WeirError('INVALID_REQUEST', 'broker configs cannot be changed through the Kafka protocol');
    }
    checkTopicResource(resourceType);
    const changes = changesOf();
    await context.broker.alterTopic(resourceName, changes, { validateOnly: options.validateOnly });
    return { resourceType, resourceName };
  } catch (error) {
    return { resourceType, resourceName, errorCode: errorCodeOf(context, error), errorMessage: inKafkaTerms(errorMessageOf(error)) };
  }
}

function resourceKey(resource: ResourceRef): string {
  return `${resource.resourceType}/${resource.resourceName}`;
}

function checkNamedOnce(configs: readonly { name: string }[]): void {
  for (const name of repeatedNames(configs.map((entry) => entry.name))) {
    throw new WeirError('INVALID_REQUEST', `config ${name} appears more than once for the resource`);
  }
}

function checkTopicResource(resourceType: number): void {
  if (resourceType !== configResourceTypes.TOPIC) {
    throw new WeirError('INVALID_REQUEST', `config resource type ${resourceType} is not supported: Weir serves topics (2) and brokers (4)`);
  }
}

/** A broker resource names this node by id, or the cluster-wide default by ''. */
function checkBrokerName(context: HandlerContext, name: string): void {
  if (name !== '' && name !== String(context.nodeId)) {
    throw new WeirError('INVALID_REQUEST', `broker ${name} is not this node: expected ${context.nodeId} or an empty name`);
  }
}
