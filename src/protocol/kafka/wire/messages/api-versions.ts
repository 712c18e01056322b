/**
 * ApiVersions (key 18): the client asks which API versions the broker speaks.
 * v1 adds throttle_time_ms to the response; v3 is flexible and the request names the client
 * software. The response header is always v0, even for v3 (see header.ts).
 */
import type { MessageSpec } from '../schema.js';

export const apiVersionsMessage = {
  apiKey: 18,
  name: 'ApiVersions',
  versions: '0-3',
  flexible: '3+',
  request: [
    { name: 'clientSoftwareName', type: 'string', versions: '3+' },
    { name: 'clientSoftwareVersion', type: 'string', versions: '3+' },
  ],
  response: [
    { name: 'errorCode', type: 'int16' },
    {
      name: 'apiKeys',
      type: '[]',
      fields: [
        { name: 'apiKey', type: 'int16' },
        { name: 'minVersion', type: 'int16' },
        { name: 'maxVersion', type: 'int16' },
      ],
    },
    { name: 'throttleTimeMs', type: 'int32', versions: '1+' },
  ],
} as const satisfies MessageSpec;
