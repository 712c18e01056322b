/**
 * IncrementalAlterConfigs (key 44): change single configs of a resource, each with an operation
 * (wire/config-resources.ts configOperations: SET, DELETE, APPEND, SUBTRACT); configs not named
 * keep their values. v1 is flexible.
 */
import type { MessageSpec } from '../schema.js';

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
  response: [
    { name: 'throttleTimeMs', type: 'int32' },
    {
      name: 'responses',
      type: '[]',
      fields: [
        { name: 'errorCode', type: 'int16' },
        { name: 'errorMessage', type: 'string', nullable: '0+', default: null },
        { name: 'resourceType', type: 'int8' },
        { name: 'resourceName', type: 'string' },
      ],
    },
  ],
} as const satisfies MessageSpec;
