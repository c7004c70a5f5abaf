/**
 * Runs `image-migrator config ...` in-process through commander, capturing what a user would see.
 */
import { Command } from 'commander';
import { addConfigCommand } from '../../cli/config-command.js';

/** Exit code and the two output streams of one run. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Parses `config ...args` on a fresh program; `env` replaces the process environment for the command. */
export async function runConfigCommand(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd: string; home?: string },
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const program = new Command('image-migrator').exitOverride();
  program.configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  addConfigCommand(program, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: options.env ?? {},
    cwd: options.cwd,
    home: options.home ?? options.cwd,
  });
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'image-migrator', 'config', ...args]);
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = before;
  }
}
