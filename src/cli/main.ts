#!/usr/bin/env node
/** `weir`: the command line of the Weir broker. */
import { describeError, UsageError } from './args.js';
import { start, startUsage } from './commands/start.js';

const usage = `weir <command> [options]

Commands:
  start        run a broker in the foreground

  weir <command> --help shows a command's options.

${startUsage}`;

const commands: Record<string, { run: (argv: string[]) => Promise<number>; usage: string }> = {
  start: { run: start, usage: startUsage },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`weir: unknown command ${JSON.stringify(name)}\n\n${usage}\n`);
    return 2;
  }
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

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
