/**
 * The `fustor` command: parses flags and composes the parts. Each subcommand lives in
 * src/cli/commands/<name>.ts and registers itself on the program here.
 *
 * Commands are loaded lazily: `fustor find …` loads only the find command, not the gateway, agent and
 * controller behind the others (module loading is most of the start-up time). `--help`, no command or an
 * unknown one loads them all so help and "unknown command" stay complete.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

type Register = (program: Command) => unknown;

/** Subcommand name → its registration, in the order help lists them. */
const COMMANDS: Record<string, () => Promise<Register>> = {
  agent: async () => (await import('./commands/agent.ts')).registerAgent,
  find: async () => (await import('./commands/find.ts')).registerFind,
  fusion: async () => (await import('./commands/fusion.ts')).registerFusion,
  tree: async () => (await import('./commands/tree.ts')).registerTree,
  stat: async () => (await import('./commands/stat.ts')).registerStat,
  watch: async () => (await import('./commands/watch.ts')).registerWatch,
  up: async () => (await import('./commands/up.ts')).registerUp,
  controller: async () => (await import('./commands/controller.ts')).registerController,
  ctl: async () => {
    const [{ registerCtl }, { registerCommandVerbs }] = await Promise.all([import('./commands/ctl.ts'), import('./commands/ctl-commands.ts')]);
    return (program: Command) => registerCommandVerbs(registerCtl(program));
  },
};

/** The program with the commands `argv` needs (all of them when it names none we know). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('fustor')
    .description('Fustor — a real-time file-metadata index for large shared storage')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  const name = argv[2];
  const wanted = name !== undefined && Object.hasOwn(COMMANDS, name) ? [name] : Object.keys(COMMANDS);
  for (const register of await Promise.all(wanted.map((n) => COMMANDS[n]()))) register(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    const program = await buildProgram(argv);
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
