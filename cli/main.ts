/**
 * The image-migrator command line: migrate (the default), config (cluster discovery), cloud (the AWS
 * pipeline).
 */
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { ExitCode } from './exit-code.js';
import { configureMigrate } from './migrate-command.js';

// undici parses HTTP with llhttp compiled to WebAssembly, compiled at the first request. V8 then
// recompiles the parser with its optimizing tier on background threads: for a process that lives a
// few seconds that recompilation costs more CPU than it ever saves (a warm run of 40 tags: about
// 0.2 s of CPU, on a 2-core machine shared with the registries). The baseline tier parses fast enough
// for streamed layers too.
// V8 also drops the bytecode of functions that have not run for a while (at its major collections):
// a cold run of a few seconds loses that of its start-up (reading the files, planning) before it
// ends, and the code cache written at its exit then lacks them. Every later run compiled them
// again: a warm run of 40 tags took 0.40 s instead of 0.34 s, and 0.31 s of CPU instead of 0.25 s.
// Set here, once the modules have loaded: Node's builtin modules come with a code cache that V8
// accepts only under default flags. bin/image-migrator.cjs clears both flags before it writes the
// bundle's code cache at exit, for the same reason.
setFlagsFromString('--liftoff-only --no-flush-bytecode');

const program = new Command('image-migrator')
  .description(
    'Copy container images between registries, byte for byte, without a Docker daemon.\n\n' +
      'With no command, migrates the images of --images with the credentials of --auth:\n' +
      '  image-migrator --auth auth.json --images images.json --workers 7 --retries 3\n\n' +
      'Exit codes: 0 every image copied or up to date, 1 some task or rule failed, 2 bad input (nothing copied),\n' +
      '130 (Ctrl-C) or 143 (SIGTERM) stopped: the run state keeps what was copied, run again for the rest.',
  )
  .version(process.env.npm_package_version ?? '0.1.0')
  .showHelpAfterError('(image-migrator --help lists every option)')
  .exitOverride();
configureMigrate(program);

/**
 * config and cloud load the Kubernetes client and the AWS SDK: about 1.2 s and 70 MB before a
 * migration's first request, for modules it never uses. They are registered only when the command
 * line could reach them (a word first, a subcommand's name anywhere, or help), so usage errors and
 * help read as before.
 */
function mayReachSubcommand(args: readonly string[]): boolean {
  const first = args[0];
  if (first !== undefined && !first.startsWith('-')) return true;
  return args.some((a) => a === 'config' || a === 'cloud' || a === 'help' || a === '--help' || a === '-h');
}

/**
 * Registers the commands the command line can reach and runs it. A function rather than top-level
 * await, so that the bundle can be CommonJS (see bin/bundle.js).
 */
async function main(): Promise<void> {
  try {
    if (mayReachSubcommand(process.argv.slice(2))) {
      const [{ addConfigCommand }, { addCloudCommand }] = await Promise.all([import('./config-command.js'), import('./cloud-command.js')]);
      addConfigCommand(program);
      addCloudCommand(program);
    }
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; every usage error is bad input.
      process.exitCode = error.exitCode === 0 ? ExitCode.Success : ExitCode.BadInput;
    } else {
      process.stderr.write(`image-migrator: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = ExitCode.PartialFailure;
    }
  }
}

void main();
