/**
 * The image-migrator command line: migrate (the default), config (cluster discovery), cloud (the AWS
 * pipeline).
 */
import { Command, CommanderError } from 'commander';
import { addCloudCommand } from './cloud-command.js';
import { addConfigCommand } from './config-command.js';
import { ExitCode } from './exit-code.js';
import { configureMigrate } from './migrate-command.js';

const program = new Command('image-migrator')
  .description(
    'Copy container images between registries, byte for byte, without a Docker daemon.\n\n' +
      'With no command, migrates the images of --images with the credentials of --auth:\n' +
      '  image-migrator --auth auth.json --images images.json --workers 7 --retries 3\n\n' +
      'Exit codes: 0 every image copied or up to date, 1 some task or rule failed, 2 bad input (nothing copied).',
  )
  .version(process.env.npm_package_version ?? '0.1.0')
  .showHelpAfterError()
  .exitOverride();
configureMigrate(program);
addConfigCommand(program);
addCloudCommand(program);

try {
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
