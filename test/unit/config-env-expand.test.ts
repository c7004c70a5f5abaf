import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VariableExpansionError, expandVariables, literalValue } from '../../shared/config/env-expand.js';

const ENV = { USER_NAME: 'alice', TOKEN: 't0k', EMPTY: '', mirror: 'oops' };

describe('expandVariables: environment references in auth.json', () => {
  it('reads a value that is wholly $NAME or ${NAME} from the environment', () => {
    assert.equal(expandVariables('$USER_NAME', ENV), 'alice');
    assert.equal(expandVariables('${TOKEN}', ENV), 't0k');
  });

  it('expands ${NAME} inside a longer value', () => {
    assert.equal(expandVariables('cn-north-4@${USER_NAME}', ENV), 'cn-north-4@alice');
    assert.equal(expandVariables('${TOKEN}suffix', ENV), 't0ksuffix');
    assert.equal(expandVariables('${USER_NAME}:${TOKEN}', ENV), 'alice:t0k');
  });

  it('keeps every other $ as written: Harbor robot accounts and passwords need no escaping', () => {
    assert.equal(expandVariables('robot$mirror', ENV), 'robot$mirror');
    assert.equal(expandVariables('$USER_NAME:$TOKEN', ENV), '$USER_NAME:$TOKEN');
    assert.equal(expandVariables('pa$', ENV), 'pa$');
    assert.equal(expandVariables('$1abc', ENV), '$1abc');
    assert.equal(expandVariables('a $ b', ENV), 'a $ b');
    assert.equal(expandVariables('x${pass word}', ENV), 'x${pass word}');
    assert.equal(expandVariables('x${TOKEN', ENV), 'x${TOKEN');
    assert.equal(expandVariables('${}', ENV), '${}');
  });

  it('reads $$ as one literal $ and does not expand after it', () => {
    assert.equal(expandVariables('a$${TOKEN}', ENV), 'a${TOKEN}');
    assert.equal(expandVariables('$$TOKEN', ENV), '$TOKEN');
    assert.equal(expandVariables('$$$$', ENV), '$$');
  });

  it('gives any value back from its literal form', () => {
    for (const value of ['robot$mirror', '$TOKEN', '${TOKEN}', 'a$${TOKEN}', '$$', '$']) {
      assert.equal(expandVariables(literalValue(value), {}), value);
    }
  });

  it('names an unset or empty variable', () => {
    assert.throws(
      () => expandVariables('${NOPE}', ENV),
      (error: unknown) => error instanceof VariableExpansionError && error.variable === 'NOPE',
    );
    assert.throws(() => expandVariables('$TOKENX', ENV), {
      name: 'VariableExpansionError',
      message: 'the environment variable TOKENX is not set',
    });
    assert.throws(() => expandVariables('pre-${NOPE}', ENV), { message: 'the environment variable NOPE is not set' });
    assert.throws(() => expandVariables('$EMPTY', ENV), { message: 'the environment variable EMPTY is empty' });
  });
});
