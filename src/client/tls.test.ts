import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestBroker } from '../protocol/native/testing-broker.js';
import { connect, isWeirError } from './index.js';

// A self-signed certificate for 127.0.0.1, made for this test only (openssl req -x509, EC P-256,
// valid for 100 years); it protects nothing.
const key = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgLB7fFocmdczNbia/
rMea4Dt8hKvs69jt0VqpiXSD8CihRANCAATNGuCPbxJOJ0hptioSa2jJoGsNUD4j
F41I3IXEcVP8DRsu7E0xsTK9/PwZ9GPhQUs7FsPi58k79f4MaK2Wu2BE
-----END PRIVATE KEY-----`;
const cert = `-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUTQ1sh/MOQYwRhJBdd1bMzZALDugwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMzAyNDQ1NloYDzIxMjYxMDMw
MDI0NDU2WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAATNGuCPbxJOJ0hptioSa2jJoGsNUD4jF41I3IXEcVP8DRsu7E0xsTK9
/PwZ9GPhQUs7FsPi58k79f4MaK2Wu2BEo28wbTAdBgNVHQ4EFgQUYZV9xxh5wBDs
5HGRXrshKnCfJYowHwYDVR0jBBgwFoAUYZV9xxh5wBDs5HGRXrshKnCfJYowDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARhwR/AAABgglsb2NhbGhvc3QwCgYIKoZI
zj0EAwIDSQAwRgIhAI3w+oqXep6uFlKt1Whca4+VEaTpC4ahFJUvxMU4VcwsAiEA
m4ElO+ydqzoqy2xANoBExZyP8ZgTop/UhcC4gp0POkQ=
-----END CERTIFICATE-----`;

test('weirs:// speaks the protocol over TLS; a plain client is refused cleanly', async () => {
  const harness = await startTestBroker({ listener: { tls: { key, cert } } });
  try {
    const client = await connect(`weirs://127.0.0.1:${harness.port}`, { tls: { ca: cert } });
    const producer = client.producer();
    const sent = await producer.send('secure', { key: 'k', value: 'over TLS' });
    assert.equal(sent.offset, 0n);
    const consumer = client.consumer({ topics: ['secure'], from: 'earliest' });
    for await (const message of consumer) {
      assert.equal(message.value!.toString(), 'over TLS');
      break;
    }
    await client.close();
    await assert.rejects(connect(`weir://127.0.0.1:${harness.port}`, { connectTimeoutMs: 2_000 }), (e) => isWeirError(e, 'CONNECTION_CLOSED'));
    await assert.rejects(connect(`weirs://127.0.0.1:${harness.port}`, { connectTimeoutMs: 2_000 }), (e) => isWeirError(e, 'CONNECTION_CLOSED'));
  } finally {
    await harness.stop();
  }
});
