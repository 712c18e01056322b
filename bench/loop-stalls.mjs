// How often this machine fails to run a process on time: a process that does nothing but a 1 ms
// timer counts the gaps between its ticks longer than `--over-ms`, in windows of `--seconds`. Run it
// beside a workload (W4 through bench/latency-timeline.mjs, or bench/latency-floor.mjs) to see the
// pauses every process of that workload also meets; with `--burners N` it first starts N processes
// that each spin `--burn-ms` on every tick of their own 1 ms timer, a load of known shape.
//
//   node bench/loop-stalls.mjs [--seconds 10] [--windows 1] [--over-ms 2.5] [--burners 0] [--burn-ms 0.5]
import { fork } from 'node:child_process';
import { parseArgs } from 'node:util';

if (process.argv[2] === 'burner') burn(Number(process.argv[3]));
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      windows: { type: 'string', default: '1' },
      'over-ms': { type: 'string', default: '2.5' },
      burners: { type: 'string', default: '0' },
      'burn-ms': { type: 'string', default: '0.5' },
    },
  });
  const seconds = Number(values.seconds);
  const overNs = BigInt(Math.round(Number(values['over-ms']) * 1e6));
  const burners = Array.from({ length: Number(values.burners) }, () => fork(new URL(import.meta.url).pathname, ['burner', values['burn-ms']]));
  console.log(`gaps over ${values['over-ms']} ms between the ticks of a 1 ms timer, ${values.windows} windows of ${seconds} s, ${burners.length} burners spinning ${values['burn-ms']} ms a tick`);
  try {
    for (let window = 1; window <= Number(values.windows); window++) {
      const gapsMs = await countGaps(seconds * 1000, overNs);
      const totalMs = gapsMs.reduce((sum, ms) => sum + ms, 0);
      console.log(`window ${window}: ${gapsMs.length} gaps, ${totalMs.toFixed(0)} ms in all, longest ${Math.max(0, ...gapsMs).toFixed(1)} ms`);
    }
  } finally {
    for (const burner of burners) burner.kill();
  }
}

function countGaps(durationMs, overNs) {
  const gapsMs = [];
  let last = process.hrtime.bigint();
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const now = process.hrtime.bigint();
      if (now - last > overNs) gapsMs.push(Number(now - last) / 1e6);
      last = now;
    }, 1);
    setTimeout(() => {
      clearInterval(timer);
      resolve(gapsMs);
    }, durationMs);
  });
}

function burn(burnMs) {
  setInterval(() => {
    const start = performance.now();
    while (performance.now() - start < burnMs);
  }, 1);
  setTimeout(() => process.exit(0), 600_000).unref(); // bounded even if its parent dies
  process.on('disconnect', () => process.exit(0));
}
