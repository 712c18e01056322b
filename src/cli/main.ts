#!/usr/bin/env node
/**
 * `weir`: the command line of the Weir broker. Exit status: 0 done, 1 the broker or the run
 * failed (printed as `CODE: message`), 2 bad usage (printed with the command's options).
 * Commands load on demand, so a client command does not load the broker.
 */
import { describeError, UsageError } from './args.js';
import { endQuietlyWhenStdoutCloses } from './output.js';
const usage = `weir <command> [options]

Commands:
  start        run a broker in the foreground
  topic        create, alter, list, describe and delete topics
  produce      send stdin lines as messages to a topic
  consume      print a topic's messages (as a group member, or from a queue subscription)
  group        list consumer groups; describe members, committed offsets and lag
  subscription create, list, describe and delete queue subscriptions
  dead-letters list a dead-letter topic with reasons; replay letters to their topics
  bench        measure produce, consume and end-to-end throughput and latency

Every command that talks to a broker takes --server HOST:PORT (default: $WEIR_SERVER, else
127.0.0.1:7400). weir <command> --help (or weir help <command>) shows a command's options.`;

interface Command {
  run: (argv: string[]) => Promise<number>;
  usage: string;
}

const commands: Record<string, () => Promise<Command>> = {
  start: async () => {
    const m = await import('./commands/start.js');
    return { run: m.start, usage: m.startUsage };
  },
  topic: async () => {
    const m = await import('./commands/topic.js');
    return { run: m.topic, usage: m.topicUsage };
  },
  produce: async () => {
    const m = await import('./commands/produce.js');
    return { run: m.produce, usage: m.produceUsage };
  },
  consume: async () => {
    const m = await import('./commands/consume.js');
    return { run: m.consume, usage: m.consumeUsage };
  },
  group: async () => {
    const m = await import('./commands/group.js');
    return { run: m.group, usage: m.groupUsage };
  },
  subscription: async () => {
    const m = await import('./commands/subscription.js');
    return { run: m.subscription, usage: m.subscriptionUsage };
  },
  'dead-letters': async () => {
    const m = await import('./commands/dead-letters.js');
    return { run: m.deadLetters, usage: m.deadLettersUsage };
  },
  bench: async () => {
    const m = await import('./commands/bench.js');
    return { run: m.bench, usage: m.benchUsage };
  },
};

/** A command that finished but left a timer or socket behind still exits, this long after. */
const exitGraceMs = 2_000;

async function main(argv: string[]): Promise<number> {
  // `weir help COMMAND` is `weir COMMAND --help`.
  const [name, ...rest] = argv[0] === 'help' && argv.length > 1 ? [argv[1]!, '--help'] : argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined;
  if (load === undefined) {
    process.stderr.write(`weir: unknown command ${JSON.stringify(name)}\n\n${usage}\n`);
    return 2;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    const isUsage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`weir ${name}: ${describeError(error)}\n`);
    if (isUsage) process.stderr.write(`\n${command.usage}\n`);
    return isUsage ? 2 : 1;
  }
}

// A reader that went away (`weir topic list | head -1`) ends the command quietly, as it ends cat.
endQuietlyWhenStdoutCloses();

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // A failed command may leave a reconnecting client behind: do not wait for it.
  if (code !== 0) process.exit(code);
  setTimeout(() => process.exit(code), exitGraceMs).unref();
});
