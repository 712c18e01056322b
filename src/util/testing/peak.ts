/** For tests: the largest of `samples` readings of `read`, taken `intervalMs` apart. */
export async function peakOver(read: () => number, { samples = 10, intervalMs = 50 } = {}): Promise<number> {
  let peak = 0;
  for (let i = 0; i < samples; i++) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    peak = Math.max(peak, read());
  }
  return peak;
}
