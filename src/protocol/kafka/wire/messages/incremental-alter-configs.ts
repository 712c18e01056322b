/**
 * IncrementalAlterConfigs (key 44): change single configs of a resource, each with an operation
 * (wire/config-resources.ts configOperations: SET, DELETE, APPEND, SUBTRACT); configs not named
 * keep their values. v1 is flexible.
 */
import type { MessageSpec } from '../schema.js';
import { alterConfigsResponse } from './alter-configs.js';

export const incrementalAlterConfigsMessage = {
  apiKey: 44,
  name: 'IncrementalAlterConfigs',
  versions: '0-1',
  flexible: '1+',
  request: [
    {
      name: 'resources',
      type: '[]',
      fields: [
        { name: 'resourceType', type: 'int8' },
        { name: 'resourceName', type: 'string' },
        {
          name: 'configs',
          type: '[]',
          fields: [
            { name: 'name', type: 'string' },
            { name: 'configOperation', type: 'int8' },
            { name: 'value', type: 'string', nullable: '0+' },
          ],
        },
      ],
    },
    { name: 'validateOnly', type: 'bool' },
  ],
  response: alterConfigsResponse,
} as const satisfies MessageSpec;
