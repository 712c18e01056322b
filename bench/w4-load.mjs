// W4's load as the peer harness defines it, 5,000 messages of 1 KiB a second for 10 s, as the
// options of the bench programs that reproduce it (latency-floor.mjs, latency-timeline.mjs).

/** `parseArgs` options: `--seconds`, `--rate` (messages a second), `--bytes` (per message). */
export const w4LoadOptions = {
  seconds: { type: 'string', default: '10' },
  rate: { type: 'string', default: '5000' },
  bytes: { type: 'string', default: '1024' },
};

/** The load's settings from parsed options; throws when one is out of range (`bytesMin`: what a message must hold). */
export function w4LoadSettings(values, bytesMin) {
  const settings = { seconds: Number(values.seconds), rate: Number(values.rate), bytes: Number(values.bytes) };
  if (!(settings.seconds > 0 && settings.rate > 0 && settings.bytes >= bytesMin)) {
    throw new Error(`--seconds and --rate must be positive, --bytes at least ${bytesMin}`);
  }
  return settings;
}
