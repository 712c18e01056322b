/**
 * The connection a command opens: to --server, else WEIR_SERVER, else 127.0.0.1:7400. A broker
 * that cannot be reached is reported with its address, and so is a connection lost later.
 */
import { connect, type Client } from '../client/index.js';
import { WeirError, isWeirError } from '../util/errors.js';
import { serverAddress } from './args.js';

export const brokerClientDefaults = {
  /** A command gives up on an unreachable broker sooner than a long-running service would. */
  connectTimeoutMs: 5_000,
} as const;

export async function connectBroker(server: string | undefined, clientId = 'weir-cli'): Promise<Client> {
  const url = serverAddress(server);
  try {
    return await connect(url, { clientId, connectTimeoutMs: brokerClientDefaults.connectTimeoutMs });
  } catch (error) {
    const address = url.replace(/^weir:\/\//, '');
    if (isWeirError(error) && error.message.includes(address)) throw error;
    if (isWeirError(error)) throw new WeirError(error.code, `broker ${address}: ${error.message}`, { cause: error });
    throw new WeirError('CONNECTION_CLOSED', `cannot reach the broker at ${address}: ${String(error)}`, { cause: error });
  }
}

/** Writes a line to stderr whenever the connection drops, so a stalled command explains itself. */
export function reportDisconnects(client: Client, command: string): () => void {
  return client.onStatus((status) => {
    if (status.type === 'disconnected') {
      process.stderr.write(`weir ${command}: lost the connection to ${status.address} (${status.error.message}); reconnecting\n`);
    }
  });
}
