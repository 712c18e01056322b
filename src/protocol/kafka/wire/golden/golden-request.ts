/** One captured request frame (without its size prefix) from a real client. */
export interface GoldenRequest {
  client: 'kcat' | 'kafkajs';
  api: string;
  apiKey: number;
  apiVersion: number;
  hex: string;
}
