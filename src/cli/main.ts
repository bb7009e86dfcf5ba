/**
 * The `fustor` command: parses flags and composes the parts. Each subcommand lives in
 * src/cli/commands/<name>.ts and registers itself on the program here.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAgent } from './commands/agent.ts';
import { registerController } from './commands/controller.ts';
import { registerCtl } from './commands/ctl.ts';
import { registerFind } from './commands/find.ts';
import { registerFusion } from './commands/fusion.ts';
import { registerStat } from './commands/stat.ts';
import { registerTree } from './commands/tree.ts';
import { registerUp } from './commands/up.ts';
import { registerWatch } from './commands/watch.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('fustor')
    .description('Fustor — a real-time file-metadata index for large shared storage')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerAgent(program);
  registerFind(program);
  registerFusion(program);
  registerTree(program);
  registerStat(program);
  registerWatch(program);
  registerUp(program);
  registerController(program);
  registerCtl(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode;
      return;
    }
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`fustor: ${message}\n`);
    process.exitCode = 1;
  }
}

await main(process.argv);
