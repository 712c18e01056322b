/**
 * AlterConfigs (key 33): replace the whole set of a resource's config overrides — a config not
 * named goes back to its default. v1 is the same as v0; v2 is flexible.
 */
import type { MessageSpec } from '../schema.js';

/** The response of AlterConfigs, and of IncrementalAlterConfigs too: one result per resource. */
export const alterConfigsResponse = [
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
] as const;

export const alterConfigsMessage = {
  apiKey: 33,
  name: 'AlterConfigs',
  versions: '0-2',
  flexible: '2+',
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
            { name: 'value', type: 'string', nullable: '0+' },
          ],
        },
      ],
    },
    { name: 'validateOnly', type: 'bool' },
  ],
  response: alterConfigsResponse,
} as const satisfies MessageSpec;
