/**
 * Messages as JSON: what consumers receive over HTTP, WebSocket and SSE, and the opaque receipts
 * that name a queue delivery.
 *
 *   {"partition":0,"offset":12,"timestamp":1700000000000,"key":"k"|null,"value":"v"|null,
 *    "headers":{"name":"value"},"deliveryCount":1,"receipt":"0.12.1.2849671923"}
 *
 * Keys, values and header values are UTF-8 text, or base64 when the client asks for
 * `encoding=base64`. Duplicate header names keep the last value.
 */
import type { QueueReceipt } from '../../broker/types.js';
import type { DecodedRecord, RecordHeader } from '../../format/record-batch.js';
import { WeirError } from '../../util/errors.js';

export const encodings = ['utf8', 'base64'] as const;
export type Encoding = (typeof encodings)[number];

export { decompressedBytesMax } from '../../format/record-batch.js';

export interface MessageJson {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: string | null;
  headers: Record<string, string | null>;
  deliveryCount?: number;
  receipt?: string;
}

export function bytesText(bytes: Buffer | null, encoding: Encoding): string | null {
  return bytes === null ? null : bytes.toString(encoding);
}

export function headersJson(headers: readonly RecordHeader[], encoding: Encoding): Record<string, string | null> {
  // No prototype: a header named __proto__ is a header like any other.
  const out = Object.create(null) as Record<string, string | null>;
  for (const header of headers) out[header.key] = bytesText(header.value, encoding);
  return out;
}

export function recordJson(partition: number, record: DecodedRecord, encoding: Encoding): MessageJson {
  return {
    partition,
    offset: Number(record.offset),
    timestamp: record.timestamp,
    key: bytesText(record.key, encoding),
    value: bytesText(record.value, encoding),
    headers: headersJson(record.headers, encoding),
  };
}

// --- receipts ------------------------------------------------------------------------------------

const receiptPattern = /^(\d{1,5})\.(\d{1,19})\.(\d{1,9})\.(\d{1,10})$/;
const partitionMax = 0xffff;
const offsetMax = 0x7fff_ffff_ffff_ffffn;
const deliveryCountMax = 0x7fff_ffff;
const leaseEpochMax = 0xffff_ffff;

/** `partition.offset.deliveryCount.leaseEpoch` in decimal; clients treat it as opaque. */
export function encodeReceipt(receipt: QueueReceipt): string {
  return `${receipt.partition}.${receipt.offset}.${receipt.deliveryCount}.${receipt.leaseEpoch}`;
}

/** Parses a receipt strictly; anything else is INVALID_RECEIPT (a 400). */
export function decodeReceipt(text: unknown, path: string): QueueReceipt {
  const match = typeof text === 'string' ? receiptPattern.exec(text) : null;
  if (match === null) {
    throw new WeirError('INVALID_RECEIPT', `${path}: ${JSON.stringify(text)} is not a receipt (receipts are strings handed out with each queue delivery)`);
  }
  const partition = Number(match[1]);
  const offset = BigInt(match[2]!);
  const deliveryCount = Number(match[3]);
  const leaseEpoch = Number(match[4]);
  if (partition > partitionMax || offset > offsetMax || deliveryCount < 1 || deliveryCount > deliveryCountMax || leaseEpoch > leaseEpochMax) {
    throw new WeirError('INVALID_RECEIPT', `${path}: receipt ${JSON.stringify(text)} is out of range`);
  }
  return { partition, offset, deliveryCount, leaseEpoch };
}
