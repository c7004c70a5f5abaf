/**
 * Reads an input file as text. Parsing works on text (on AWS the documents come from a secret and an
 * event), so this is the only place that touches the file system, and it turns the usual failures
 * into ConfigErrors that name the file.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

const PROBLEMS: Record<string, string> = {
  ENOENT: 'the file does not exist',
  EACCES: 'the file cannot be read: permission denied',
  EPERM: 'the file cannot be read: permission denied',
  EISDIR: 'this is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
};

/** The UTF-8 text of `path`; a missing or unreadable file is a ConfigError naming `path`. */
export async function readConfigFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    throw new ConfigError(path, undefined, PROBLEMS[code] ?? `the file cannot be read (${code || 'unknown error'})`, { cause: error });
  }
}
