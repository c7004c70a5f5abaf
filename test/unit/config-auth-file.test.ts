import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, describe, it } from 'node:test';
import { loadAuthFile, parseAuthFile } from '../../shared/config/auth-file.js';
import { ANONYMOUS } from '../../shared/credentials.js';

const FILE = 'auth.json';
const NO_ENV = {};

function rejects(text: string, message: string, env: Record<string, string | undefined> = NO_ENV): void {
  assert.throws(() => parseAuthFile(text, FILE, env), { name: 'ConfigError', message });
}

describe("auth.json: the example of Huawei's documentation", () => {
  const auth = parseAuthFile(
    `{
      "quay.io/coreos": { },
      "swr.cn-north-4.myhuaweicloud.com": { "username": "cn-north-4@RVHVMX", "password": "p4ss", "insecure": true }
    }`,
    FILE,
    NO_ENV,
  );

  it('keeps the keys in file order', () => {
    assert.deepEqual(auth.keys, ['quay.io/coreos', 'swr.cn-north-4.myhuaweicloud.com']);
  });

  it('gives the login and insecure flag of the destination registry', () => {
    assert.deepEqual(auth.lookup('swr.cn-north-4.myhuaweicloud.com', 'test/etcd'), {
      username: 'cn-north-4@RVHVMX',
      password: 'p4ss',
      insecure: true,
    });
  });

  it('gives anonymous secure access for an empty entry and for a registry with no entry', () => {
    assert.deepEqual(auth.lookup('quay.io', 'coreos/etcd'), { insecure: false });
    assert.equal(auth.lookup('gcr.io', 'distroless/static'), ANONYMOUS);
  });

  it('shows no password when the object is logged', () => {
    assert.doesNotMatch(inspect(auth, { depth: 5 }), /p4ss/);
    assert.doesNotMatch(JSON.stringify(auth), /p4ss/);
  });
});

describe('auth.json: longest prefix at a path-segment boundary', () => {
  const auth = parseAuthFile(
    `{
      "a.io": {"username": "registry", "password": "r"},
      "a.io/team": {"username": "team", "password": "t"},
      "a.io/team/app": {"username": "app", "password": "x"}
    }`,
    FILE,
    NO_ENV,
  );

  it('prefers registry/namespace over registry', () => {
    assert.equal(auth.lookup('a.io', 'team/web').username, 'team');
    assert.equal(auth.matchingKey('a.io', 'team/web'), 'a.io/team');
  });

  it('matches a key equal to the whole repository path', () => {
    assert.equal(auth.lookup('a.io', 'team/app').username, 'app');
  });

  it('does not match inside a segment: a.io/team does not cover a.io/teamx/app', () => {
    assert.equal(auth.lookup('a.io', 'teamx/app').username, 'registry');
    assert.equal(auth.lookup('a.io', 'team/application').username, 'team');
  });

  it('matches the registry alone for registry-wide requests', () => {
    assert.equal(auth.lookup('a.io', '').username, 'registry');
  });

  it('does not let one registry name match a longer host', () => {
    assert.equal(auth.lookup('a.io.evil.com', 'team/app'), ANONYMOUS);
  });
});

describe('auth.json: Docker Hub aliases and key normalisation', () => {
  it('folds every Docker Hub host name into docker.io', () => {
    const auth = parseAuthFile('{"registry-1.docker.io": {"username": "u", "password": "p"}}', FILE, NO_ENV);
    assert.deepEqual(auth.keys, ['docker.io']);
    for (const host of ['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']) {
      assert.equal(auth.lookup(host, 'library/nginx').username, 'u', host);
    }
  });

  it('matches a Docker Hub namespace key', () => {
    const auth = parseAuthFile('{"index.docker.io/library": {"username": "lib", "password": "p"}}', FILE, NO_ENV);
    assert.equal(auth.lookup('docker.io', 'library/nginx').username, 'lib');
    assert.equal(auth.lookup('docker.io', 'bitnami/redis'), ANONYMOUS);
  });

  it('lower-cases the host', () => {
    assert.deepEqual(parseAuthFile('{"Quay.IO/coreos": {}}', FILE, NO_ENV).keys, ['quay.io/coreos']);
  });

  it('rejects two aliases of the same registry', () => {
    rejects(
      '{"docker.io": {}, "index.docker.io": {"username": "u", "password": "p"}}',
      'auth.json: "index.docker.io": names the same registry as "docker.io" (both are docker.io); keep one entry',
    );
  });

  it('rejects a key written twice, with both lines', () => {
    rejects(
      '{\n"quay.io": {},\n"a.io": {},\n"quay.io": {}\n}',
      'auth.json: "quay.io": the key appears more than once (lines 2 and 4); keep one entry',
    );
  });

  it('rejects a field written twice inside an entry', () => {
    rejects(
      '{"a.io": {"username": "u", "username": "v", "password": "p"}}',
      'auth.json: "a.io": the field "username" appears more than once',
    );
  });
});

describe('auth.json: keys that are not registry or registry/path', () => {
  const cases: [string, string][] = [
    ['', 'the key is empty (write a registry such as quay.io or localhost:5000, optionally followed by /namespace)'],
    [
      'https://quay.io',
      'a key has no scheme (write quay.io, not https://quay.io); write a registry such as quay.io or localhost:5000, optionally followed by /namespace',
    ],
    [
      'coreos/etcd',
      'the key must start with a registry host, which has a dot or a port or is localhost (write a registry such as quay.io or localhost:5000, optionally followed by /namespace)',
    ],
    [
      'bad_host.io',
      'the key must start with a registry host, which has a dot or a port or is localhost (write a registry such as quay.io or localhost:5000, optionally followed by /namespace)',
    ],
    ['quay.io/', 'the key has an empty path segment'],
    [
      'quay.io/CoreOS',
      `"CoreOS" is not a valid namespace (lower-case letters, digits and single separators '.', '_', '__', '-'; no tag or digest)`,
    ],
    [
      'quay.io/coreos/etcd:3.5',
      `"etcd:3.5" is not a valid namespace (lower-case letters, digits and single separators '.', '_', '__', '-'; no tag or digest)`,
    ],
  ];
  for (const [key, problem] of cases) {
    it(`rejects ${JSON.stringify(key)}`, () => rejects(`{${JSON.stringify(key)}: {}}`, `auth.json: ${JSON.stringify(key)}: ${problem}`));
  }

  it('accepts localhost, a port and an IPv6 literal', () => {
    const auth = parseAuthFile('{"localhost": {}, "127.0.0.1:5000/team": {}, "[::1]:5000": {}}', FILE, NO_ENV);
    assert.deepEqual(auth.keys, ['localhost', '127.0.0.1:5000/team', '[::1]:5000']);
  });
});

describe('auth.json: entry shapes', () => {
  it('names an unknown field such as a misspelt password', () => {
    rejects(
      '{"a.io": {"username": "u", "pasword": "secret"}}',
      'auth.json: "a.io": unknown field "pasword" (the fields are username, password, insecure, ca, cert, key, ecr, createRepositories)',
    );
  });

  it('rejects a username without a password, and the reverse', () => {
    rejects(
      '{"a.io": {"username": "u"}}',
      'auth.json: "a.io": "username" is set but "password" is not (give both, or neither for anonymous access)',
    );
    rejects(
      '{"a.io": {"password": "p"}}',
      'auth.json: "a.io": "password" is set but "username" is not (give both, or neither for anonymous access)',
    );
  });

  it('names the field and type of a wrong value without showing the value', () => {
    rejects('{"a.io": {"insecure": "yes"}}', 'auth.json: "a.io": "insecure" must be true or false, not a string');
    assert.throws(
      () => parseAuthFile('{"a.io": {"username": "u", "password": 918273645}}', FILE, NO_ENV),
      (error: Error) =>
        error.message === 'auth.json: "a.io": "password" must be a string, not a number' && !error.message.includes('918273645'),
    );
  });

  it('rejects an empty password', () => {
    rejects(
      '{"a.io": {"username": "u", "password": ""}}',
      'auth.json: "a.io": "password" is empty (leave out username and password for anonymous access)',
    );
  });

  it('rejects a value that is not an object', () => {
    rejects(
      '{"a.io": "user:pass"}',
      'auth.json: "a.io": the value must be an object such as {"username": "...", "password": "..."}, or {} for anonymous access, not a string',
    );
  });

  it('allows plain HTTP only for entries with insecure: true', () => {
    const auth = parseAuthFile('{"127.0.0.1:5000": {"insecure": true}, "a.io": {"insecure": false}}', FILE, NO_ENV);
    assert.equal(auth.lookup('127.0.0.1:5000', 'x/y').insecure, true);
    assert.equal(auth.lookup('a.io', 'x/y').insecure, false);
  });

  it('accepts an empty file object: everything anonymous', () => {
    assert.deepEqual(parseAuthFile('{}', FILE, NO_ENV).keys, []);
  });
});

describe('auth.json: environment variables in username and password', () => {
  const env = { AK: 'RVHVMX', SWR_PASSWORD: 's3cr3t-from-env', EMPTY: '' };

  it('reads wholly $VAR and ${VAR} values and ${VAR} inside a value, keeping $$ as a literal $', () => {
    const auth = parseAuthFile(
      '{"swr.example.com": {"username": "cn-north-4@${AK}", "password": "$SWR_PASSWORD"}, "b.io": {"username": "${AK}", "password": "x$${AK}"}}',
      FILE,
      env,
    );
    assert.deepEqual(auth.lookup('swr.example.com', 'test/etcd'), {
      username: 'cn-north-4@RVHVMX',
      password: 's3cr3t-from-env',
      insecure: false,
    });
    assert.deepEqual(auth.lookup('b.io', 'x'), { username: 'RVHVMX', password: 'x${AK}', insecure: false });
  });

  it('takes a Harbor robot account as written', () => {
    const auth = parseAuthFile('{"harbor.example.com": {"username": "robot$mirror", "password": "${SWR_PASSWORD}"}}', FILE, env);
    assert.deepEqual(auth.lookup('harbor.example.com', 'library/nginx'), {
      username: 'robot$mirror',
      password: 's3cr3t-from-env',
      insecure: false,
    });
  });

  it('names an unset variable and the key, and shows neither the other field nor its value', () => {
    assert.throws(
      () => parseAuthFile('{"swr.example.com": {"username": "${AK}", "password": "${MISSING_PW}"}}', FILE, env),
      (error: Error) =>
        error.message === 'auth.json: "swr.example.com": "password": the environment variable MISSING_PW is not set' &&
        !error.message.includes('RVHVMX'),
    );
    rejects(
      '{"a.io": {"username": "u", "password": "pre-${MISSING_PW}"}}',
      'auth.json: "a.io": "password": the environment variable MISSING_PW is not set',
      env,
    );
  });

  it('rejects a variable that is set but empty', () => {
    rejects(
      '{"a.io": {"username": "$EMPTY", "password": "p"}}',
      'auth.json: "a.io": "username": the environment variable EMPTY is empty',
      env,
    );
  });

  it('leaves every other $ as written', () => {
    const auth = parseAuthFile('{"a.io": {"username": "u$AK", "password": "pa$ 1$ hunter2${oops"}}', FILE, env);
    assert.equal(auth.lookup('a.io', 'x/y').username, 'u$AK');
    assert.equal(auth.lookup('a.io', 'x/y').password, 'pa$ 1$ hunter2${oops');
  });
});

describe('auth.json: JSON syntax', () => {
  it('gives the line and column of a syntax error and never the text', () => {
    assert.throws(
      () => parseAuthFile('{\n  "a.io": {"username": "u", "password": "topsecret"}\n  "b.io": {}\n}', FILE, NO_ENV),
      (error: Error) =>
        error.message === "auth.json: invalid JSON at line 3, column 3: a ',' was expected" && !error.message.includes('topsecret'),
    );
  });

  it('rejects comments and trailing commas', () => {
    rejects('{\n  // registry\n  "a.io": {}\n}', 'auth.json: invalid JSON at line 2, column 3: comments are not allowed in JSON');
    rejects(
      '{"a.io": {},}',
      'auth.json: invalid JSON at line 1, column 13: a property name in double quotes was expected (JSON allows no trailing comma)',
    );
  });

  it('rejects a top level that is not an object', () => {
    rejects(
      '[]',
      'auth.json: the top level must be an object of registries, e.g. {"quay.io/coreos": {}, "swr.example.com": {"username": "...", "password": "..."}}, not an array',
    );
  });
});

describe('auth.json: loading from a file', () => {
  let dir = '';
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names the path in errors', async () => {
    dir = await mkdtemp(join(tmpdir(), 'auth-file-'));
    const path = join(dir, 'auth.json');
    await writeFile(path, '{"a.io": {"username": "u", "password": "$PW"}}');
    assert.equal((await loadAuthFile(path, { PW: 'p' })).lookup('a.io', 'x/y').password, 'p');
    await assert.rejects(loadAuthFile(path, {}), {
      name: 'ConfigError',
      message: `${path}: "a.io": "password": the environment variable PW is not set`,
    });
  });

  it('reports a missing file as a ConfigError', async () => {
    const path = join(tmpdir(), 'no-such-dir-image-migrator', 'auth.json');
    await assert.rejects(loadAuthFile(path, {}), { name: 'ConfigError', message: `${path}: the file does not exist` });
  });
});
