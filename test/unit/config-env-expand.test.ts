import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VariableExpansionError, expandVariables } from '../../shared/config/env-expand.js';

const ENV = { USER_NAME: 'alice', TOKEN: 't0k', EMPTY: '' };

describe('expandVariables: the ${VAR} and $VAR forms of auth.json', () => {
  it('expands both forms, next to literal text', () => {
    assert.equal(expandVariables('cn-north-4@${USER_NAME}', ENV), 'cn-north-4@alice');
    assert.equal(expandVariables('$USER_NAME:$TOKEN', ENV), 'alice:t0k');
    assert.equal(expandVariables('${TOKEN}suffix', ENV), 't0ksuffix');
  });

  it('reads $$ as one literal $ and does not expand after it', () => {
    assert.equal(expandVariables('a$$TOKEN', ENV), 'a$TOKEN');
    assert.equal(expandVariables('$$$$', ENV), '$$');
  });

  it('keeps a $ that starts no variable name', () => {
    assert.equal(expandVariables('pa$', ENV), 'pa$');
    assert.equal(expandVariables('$1abc', ENV), '$1abc');
    assert.equal(expandVariables('a $ b', ENV), 'a $ b');
  });

  it('reads the longest variable name after $', () => {
    assert.throws(() => expandVariables('$TOKENX', ENV), { name: 'VariableExpansionError', message: 'the environment variable TOKENX is not set' });
  });

  it('names an unset or empty variable', () => {
    assert.throws(() => expandVariables('${NOPE}', ENV), (error: unknown) => error instanceof VariableExpansionError && error.variable === 'NOPE');
    assert.throws(() => expandVariables('$EMPTY', ENV), { message: 'the environment variable EMPTY is empty' });
  });

  it('rejects braces that hold no variable name, without echoing them', () => {
    const message = `"\${...}" holds something other than a variable name (letters, digits and '_'; write "$$" for a literal "$")`;
    assert.throws(() => expandVariables('${}', ENV), { message });
    assert.throws(() => expandVariables('x${pass word}', ENV), { message });
    assert.throws(() => expandVariables('x${TOKEN', ENV), { message: '"${" is not closed by "}" (write "$$" for a literal "$")' });
  });
});
