/**
 * The copier's credentials from the auth secret: what a task's error says when the secret cannot be
 * used. That text is recorded on every task of the batch, in the table, the logs and the summary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SecretCredentials } from '../../functions/adapters/secret-credentials.js';
import { ConfigError } from '../../shared/errors.js';

describe('SecretCredentials', () => {
  it('takes a "$" inside a hand-written password as written', async () => {
    const credentials = new SecretCredentials(async () =>
      JSON.stringify({ 'reg.example.com': { username: 'robot$ci', password: 'Tr0ub4dor$horse9' } }),
    );
    await credentials.refresh();
    assert.deepEqual(credentials.lookup('reg.example.com', 'team/app'), {
      username: 'robot$ci',
      password: 'Tr0ub4dor$horse9',
      insecure: false,
    });
  });

  it('refuses a hand-written secret whose password holds a ${NAME} reference without quoting any part of the password', async () => {
    const credentials = new SecretCredentials(async () =>
      JSON.stringify({ 'reg.example.com/team': { username: 'ci', password: 'Tr0ub4dor${horse9}' } }),
    );
    await assert.rejects(credentials.refresh(), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(
        error.message,
        'auth secret: "reg.example.com/team": "password" holds a "$" reference (such as $NAME or ${NAME}), which the functions do not expand; ' +
          'store auth.json with "image-migrator cloud auth put" (it resolves ${VAR} and keeps a literal "$"), or write "$$" for a literal "$"',
      );
      assert.doesNotMatch(error.message, /horse9|Tr0ub4dor/);
      assert.equal(error.cause, undefined, 'no cause that names the "variable"');
      return true;
    });
  });

  it('reads "$$" in a stored password as a literal "$", as cloud auth put writes it', async () => {
    const credentials = new SecretCredentials(async () =>
      JSON.stringify({ 'reg.example.com': { username: 'ci', password: 'Tr0ub4dor$$horse9' } }),
    );
    await credentials.refresh();
    assert.equal(credentials.lookup('reg.example.com', 'team/app').password, 'Tr0ub4dor$horse9');
  });
});
