/**
 * DescribeConfigs (key 32): the configuration of topics and brokers. v1 adds include_synonyms,
 * and per entry config_source (replacing is_default) and synonyms; v2 is the same as v1; v3 adds
 * include_documentation, and per entry config_type and documentation; v4 is flexible.
 * `configurationKeys` null lists every config.
 */
import type { MessageSpec } from '../schema.js';

export const describeConfigsMessage = {
  apiKey: 32,
  name: 'DescribeConfigs',
  versions: '0-4',
  flexible: '4+',
  request: [
    {
      name: 'resources',
      type: '[]',
      fields: [
        { name: 'resourceType', type: 'int8' },
        { name: 'resourceName', type: 'string' },
        { name: 'configurationKeys', type: '[]string', nullable: '0+' },
      ],
    },
    { name: 'includeSynonyms', type: 'bool', versions: '1+' },
    { name: 'includeDocumentation', type: 'bool', versions: '3+' },
  ],
  response: [
    { name: 'throttleTimeMs', type: 'int32' },
    {
      name: 'results',
      type: '[]',
      fields: [
        { name: 'errorCode', type: 'int16' },
        { name: 'errorMessage', type: 'string', nullable: '0+', default: null },
        { name: 'resourceType', type: 'int8' },
        { name: 'resourceName', type: 'string' },
        {
          name: 'configs',
          type: '[]',
          fields: [
            { name: 'name', type: 'string' },
            { name: 'value', type: 'string', nullable: '0+' },
            { name: 'readOnly', type: 'bool' },
            { name: 'isDefault', type: 'bool', versions: '0' },
            { name: 'configSource', type: 'int8', versions: '1+', default: -1 },
            { name: 'isSensitive', type: 'bool' },
            {
              name: 'synonyms',
              type: '[]',
              versions: '1+',
              fields: [
                { name: 'name', type: 'string' },
                { name: 'value', type: 'string', nullable: '0+' },
                { name: 'source', type: 'int8' },
              ],
            },
            { name: 'configType', type: 'int8', versions: '3+', default: 0 },
            { name: 'documentation', type: 'string', versions: '3+', nullable: '0+', default: null },
          ],
        },
      ],
    },
  ],
} as const satisfies MessageSpec;
