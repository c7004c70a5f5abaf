/**
 * htpasswd files for distribution's Basic auth, which accepts bcrypt entries only.
 */
import { spawn } from 'node:child_process';
import { HarnessError } from './harness-error.js';

/** One bcrypt line made by `htpasswd`; the password goes through stdin so it never shows in a process list. */
function htpasswdLine(user: string, password: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Cost 4 (the minimum): the registry re-checks bcrypt on every request, so a high cost slows every test.
    const child = spawn('htpasswd', ['-niBC', '4', user], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.resume();
    child.once('error', (cause) => reject(new HarnessError('htpasswd could not be run', { cause })));
    child.once('close', (code) => {
      if (code === 0 && out.trim() !== '') resolve(out.trim());
      else reject(new HarnessError(`htpasswd failed for user ${JSON.stringify(user)} (exit ${code})`));
    });
    child.stdin.end(`${password}\n`);
  });
}

/** The content of an htpasswd file for `users` (username -> password). */
export async function htpasswdFile(users: Record<string, string>): Promise<string> {
  const lines = await Promise.all(Object.entries(users).map(([user, password]) => htpasswdLine(user, password)));
  return `${lines.join('\n')}\n`;
}
