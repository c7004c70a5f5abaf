/**
 * The run state file: what is read, what is refused (with the reason the warning gives), how it is
 * written; how registries answered (endpoint-memory.ts); and the tag globs of --immutable-tags.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { globToRegExp } from '../../shared/config/tag-glob.js';
import { matchAny } from '../../shared/config/tag-filter.js';
import { usableAuth, type RegistryEndpoint } from '../../shared/registry/endpoint-memory.js';
import { defaultStatePath, loadRunState, RunState } from '../../shared/state/run-state.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

describe('run state', () => {
  it('remembers copies per source and destination, and forgets destinations when the source digest changes', () => {
    const state = RunState.empty();
    state.recordCopy('s/r:1', D1, 'd/r:1', D1);
    state.recordCopy('s/r:1', D1, 'e/r:1', D1);
    assert.deepEqual(state.known('s/r:1', 'e/r:1'), { sourceDigest: D1, destinationDigest: D1 });
    state.recordCopy('s/r:1', D2, 'd/r:1', D2);
    assert.deepEqual(state.known('s/r:1', 'e/r:1'), { sourceDigest: D2, destinationDigest: undefined });
    assert.equal(state.known('s/r:2', 'd/r:2'), undefined);
    assert.equal(state.known('__proto__', 'x'), undefined);
  });

  it('lists the tags it knows per source repository, a registry port and nested repositories included', () => {
    const state = RunState.empty();
    for (const source of ['reg:5000/team/app:v1', 'reg:5000/team/app:v2', 'reg:5000/team/app/sub:v1', 'other/team/app:v3'])
      state.recordCopy(source, D1, 'd/r:1', D1);
    assert.deepEqual(state.tagsOf('reg:5000/team/app'), ['v1', 'v2']);
    assert.deepEqual(state.tagsOf('reg:5000/team/app/sub'), ['v1']);
    assert.deepEqual(state.tagsOf('reg:5000/team'), []);
  });

  it('keeps a few repositories per blob, the latest first', () => {
    const state = RunState.empty();
    for (const repo of ['a', 'b', 'c', 'd', 'e', 'b']) state.recordBlob('reg', repo, D1);
    assert.deepEqual(state.blobRepositories('reg', D1), ['e', 'd', 'c', 'b']);
    assert.deepEqual(state.blobRepositories('other', D1), []);
  });

  it('refuses text that is not JSON, not its format, another version, or malformed, saying which', () => {
    assert.throws(() => RunState.parse('{"format":'), /not JSON/);
    assert.throws(() => RunState.parse('{"auths":{}}'), /not an image-migrator state file/);
    assert.throws(() => RunState.parse('{"format":"image-migrator/state","version":2,"tags":{},"blobs":{}}'), /state version 2/);
    assert.throws(
      () => RunState.parse('{"format":"image-migrator/state","version":1,"tags":{"a":{"digest":"md5:x","pushed":{}}},"blobs":{}}'),
      /malformed \(tags\.a\.digest\)/,
    );
    assert.throws(
      () =>
        RunState.parse(
          '{"format":"image-migrator/state","version":1,"tags":{},"blobs":{},"registries":{"r.example":{"auth":{"kind":"bearer"}}}}',
        ),
      /malformed \(registries\.r\.example\)/,
    );
  });

  it('remembers how each registry answered, and counts it as a change only when it differs', () => {
    const state = RunState.empty();
    assert.equal(state.endpoint('r.example'), undefined);
    const bearer = { kind: 'bearer', realm: 'https://r.example/token', service: 'r' } as const;
    state.rememberEndpoint('r.example', { auth: bearer });
    assert.equal(state.changed, true);
    const read = RunState.parse(state.serialize());
    assert.deepEqual(read.endpoint('r.example'), { auth: bearer });
    read.rememberEndpoint('r.example', { auth: { ...bearer } });
    assert.equal(read.changed, false, 'the same answer again is no change');
    read.rememberEndpoint('r.example', { plainHttp: true, auth: bearer });
    assert.equal(read.changed, true);
    // A file of an earlier release, without the section, reads as before.
    assert.equal(RunState.parse('{"format":"image-migrator/state","version":1,"tags":{},"blobs":{}}').endpoint('r.example'), undefined);
  });

  it('uses a remembered token endpoint with a login only on the registry host', () => {
    const on = (realm: string): RegistryEndpoint => ({ auth: { kind: 'bearer', realm, service: undefined } });
    assert.equal(usableAuth('r.example:5000', on('https://r.example/token'), true)?.kind, 'bearer');
    assert.equal(usableAuth('r.example', on('https://auth.elsewhere/token'), true), undefined);
    assert.equal(usableAuth('r.example', on('https://auth.elsewhere/token'), false)?.kind, 'bearer', 'anonymous: no secret to keep');
    assert.equal(usableAuth('r.example', on('not a url'), true), undefined);
    assert.deepEqual(usableAuth('r.example', { auth: { kind: 'basic' } }, true), { kind: 'basic' });
  });

  it('loads a missing file as empty and an unusable one as empty with a warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'im-state-'));
    const warnings = [] as string[];
    assert.equal((await loadRunState(join(dir, 'none.json'), (w) => warnings.push(w))).size, 0);
    assert.equal(warnings.length, 0);
    await writeFile(join(dir, 'bad.json'), 'garbage');
    assert.equal((await loadRunState(join(dir, 'bad.json'), (w) => warnings.push(w))).size, 0);
    assert.match(warnings[0] ?? '', /ignoring the state file .*bad\.json: not JSON/);
  });

  it('saves through a temporary file and a rename, creating the folder, and reads back what it wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'im-state-'));
    const path = join(dir, 'nested', 'state.json');
    const state = RunState.empty();
    state.recordCopy('s/r:1', D1, 'd/r:1', D1);
    state.recordBlob('d', 'r', D2);
    assert.equal(state.changed, true);
    await state.save(path);
    assert.equal(state.changed, false);
    assert.deepEqual(await readdir(join(dir, 'nested')), ['state.json']);
    const again = RunState.parse(await readFile(path, 'utf8'));
    assert.deepEqual(again.known('s/r:1', 'd/r:1'), { sourceDigest: D1, destinationDigest: D1 });
    assert.deepEqual(again.blobRepositories('d', D2), ['r']);
  });

  it('two runs sharing a file: each save keeps what the other saved meanwhile, forgetting included', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'im-state-')), 'state.json');
    const start = RunState.empty();
    start.recordCopy('s/old:1', D1, 'd/old:1', D1);
    start.recordCopy('s/gone:1', D1, 'd/gone:1', D1);
    await start.save(path);
    // Both runs load the same file, then record different things.
    const a = RunState.parse(await readFile(path, 'utf8'));
    const b = RunState.parse(await readFile(path, 'utf8'));
    a.recordCopy('s/a:1', D1, 'd/a:1', D1);
    a.forget('s/gone:1');
    b.recordCopy('s/b:1', D2, 'd/b:1', D2);
    b.recordCopy('s/old:1', D2, 'd/old:1', D2);
    b.recordBlob('d', 'b', D2);
    await a.save(path);
    await b.save(path);
    const saved = RunState.parse(await readFile(path, 'utf8'));
    assert.deepEqual(saved.known('s/a:1', 'd/a:1'), { sourceDigest: D1, destinationDigest: D1 }, "a's copy survives b's save");
    assert.deepEqual(saved.known('s/b:1', 'd/b:1'), { sourceDigest: D2, destinationDigest: D2 });
    assert.deepEqual(saved.known('s/old:1', 'd/old:1'), { sourceDigest: D2, destinationDigest: D2 });
    assert.equal(saved.known('s/gone:1', 'd/gone:1'), undefined, "a's forgetting is not undone by b, which loaded it");
    assert.deepEqual(saved.blobRepositories('d', D2), ['b']);
    assert.deepEqual(await readdir(join(path, '..')), ['state.json'], 'no lock or temporary file left');
  });

  it('writes the file a symbolic link names, and leaves the link in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'im-state-'));
    await mkdir(join(dir, 'real'));
    await symlink(join(dir, 'real', 'target.json'), join(dir, 'link.json'));
    const state = RunState.empty();
    state.recordCopy('s/r:1', D1, 'd/r:1', D1);
    await state.save(join(dir, 'link.json'));
    assert.equal((await lstat(join(dir, 'link.json'))).isSymbolicLink(), true);
    assert.equal(RunState.parse(await readFile(join(dir, 'real', 'target.json'), 'utf8')).size, 1);
  });

  it("waits for another save's lock, and takes over one a dead run left", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'im-state-'));
    const path = join(dir, 'state.json');
    const state = RunState.empty();
    state.recordCopy('s/r:1', D1, 'd/r:1', D1);
    // A lock held by a live save: the save waits until it is gone.
    await writeFile(`${path}.lock`, '');
    let saved = false;
    const saving = state.save(path).then(() => (saved = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(saved, false, 'the save waits for the lock');
    const other = RunState.empty();
    other.recordCopy('s/other:1', D2, 'd/other:1', D2);
    await writeFile(path, other.serialize());
    await rm(`${path}.lock`);
    await saving;
    const merged = RunState.parse(await readFile(path, 'utf8'));
    assert.equal(merged.size, 2, 'written over what the other save left');
    // A lock a minute old was left by a run that died: taken over at once.
    await writeFile(`${path}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    state.recordCopy('s/r:2', D1, 'd/r:2', D1);
    const started = Date.now();
    await state.save(path);
    assert.ok(Date.now() - started < 2000, 'a stale lock is not waited for');
    assert.equal(RunState.parse(await readFile(path, 'utf8')).size, 3);
    assert.deepEqual(await readdir(dir), ['state.json']);
  });

  it('defaults to the user cache folder', () => {
    assert.equal(defaultStatePath({ XDG_CACHE_HOME: '/c' }, '/home/u'), '/c/image-migrator/state.json');
    assert.equal(defaultStatePath({}, '/home/u'), '/home/u/.cache/image-migrator/state.json');
    assert.equal(defaultStatePath({ XDG_CACHE_HOME: 'relative' }, '/home/u'), '/home/u/.cache/image-migrator/state.json');
  });
});

describe('tag globs', () => {
  it('matches shell style: * ? and classes, anchored, dots literal', () => {
    const semver = matchAny(['v[0-9]*.*.*', '[0-9]*.[0-9]*.[0-9]*'], '--immutable-tags');
    for (const tag of ['v1.2.3', 'v10.0.1-rc1', '1.25.3']) assert.equal(semver(tag), true, tag);
    for (const tag of ['latest', 'v1', 'main', 'x1.2.3']) assert.equal(semver(tag), false, tag);
    assert.equal(globToRegExp('1.?').test('1.x'), true);
    assert.equal(globToRegExp('1.?').test('1x5'), false);
    assert.equal(globToRegExp('[!a]*').test('abc'), false);
    assert.throws(() => globToRegExp('v[0-9'), /opens a \[class\] it does not close/);
  });
});
