/**
 * Strict JSON for the input files, parsed with jsonc-parser rather than JSON.parse for two reasons:
 * a syntax error gets a line and column a user can jump to, and an object keeps every member even
 * when a key repeats (JSON.parse silently keeps the last one, which would drop an images.json rule).
 */
import { type Node, type ParseError, getNodeValue, parseTree, printParseErrorCode } from 'jsonc-parser';
import { ConfigError } from '../errors.js';

/** One member of the top-level object, in file order; duplicates are all kept. */
export interface JsonMember {
  readonly key: string;
  readonly value: Node;
  /** 1-based line of the key, for messages about duplicates. */
  readonly line: number;
}

// Keyed by printParseErrorCode's names: ParseErrorCode is a const enum, unusable as a value here.
const PROBLEMS: Record<string, string> = {
  InvalidSymbol: 'an unexpected character',
  InvalidNumberFormat: 'a malformed number',
  PropertyNameExpected: 'a property name in double quotes was expected (JSON allows no trailing comma)',
  ValueExpected: 'a value was expected (JSON allows no trailing comma)',
  ColonExpected: "a ':' was expected",
  CommaExpected: "a ',' was expected",
  CloseBraceExpected: "a closing '}' was expected",
  CloseBracketExpected: "a closing ']' was expected",
  EndOfFileExpected: 'the end of the file was expected (a file holds one JSON value)',
  InvalidCommentToken: 'comments are not allowed in JSON',
  UnexpectedEndOfComment: 'comments are not allowed in JSON',
  UnexpectedEndOfString: 'a string is not closed',
  UnexpectedEndOfNumber: 'a number is cut short',
  InvalidUnicode: 'an invalid \\u escape',
  InvalidEscapeCharacter: 'an invalid escape after a backslash',
  InvalidCharacter: 'a control character inside a string (write it as an escape)',
};

/**
 * Line starts of a text, found in one pass, so that the line of any offset is a binary search: a
 * file of 100,000 rules asks for 100,000 positions, and scanning from the start each time would be
 * quadratic in the file's size.
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  public constructor(private readonly text: string) {
    for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) this.starts.push(i + 1);
  }

  /** 1-based line and column of a character offset. */
  public position(offset: number): { line: number; column: number } {
    const at = Math.max(0, Math.min(offset, this.text.length));
    let low = 0;
    let high = this.starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if ((this.starts[middle] as number) <= at) low = middle;
      else high = middle - 1;
    }
    return { line: low + 1, column: offset - (this.starts[low] as number) + 1 };
  }
}

/** 1-based line and column of a character offset (one lookup; build a LineIndex for many). */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  return new LineIndex(text).position(offset);
}

/** `a string`, `a number`, `an array`...: how a JSON value is named in messages (never its content). */
export function describeNode(node: Node): string {
  switch (node.type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'null':
      return 'null';
    default:
      return `a ${node.type}`;
  }
}

/**
 * Parses `text` as strict JSON (no comments, no trailing commas) whose top level must be an object,
 * and returns its members in order. `shape` describes the expected object for the error message.
 * Syntax errors never quote the text: auth.json holds passwords.
 */
export function parseJsonObject(text: string, file: string, shape: string): JsonMember[] {
  // A byte order mark is what Windows editors put first; it is not content.
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trim().length === 0) throw new ConfigError(file, undefined, `the file is empty; it must hold ${shape}`);
  const errors: ParseError[] = [];
  const root = parseTree(body, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  const first = errors[0];
  if (first !== undefined) {
    const { line, column } = lineColumn(body, first.offset);
    const problem = PROBLEMS[printParseErrorCode(first.error)] ?? 'invalid JSON';
    throw new ConfigError(file, undefined, `invalid JSON at line ${line}, column ${column}: ${problem}`);
  }
  if (root === undefined || root.type !== 'object') {
    throw new ConfigError(file, undefined, `the top level must be ${shape}, not ${root === undefined ? 'nothing' : describeNode(root)}`);
  }
  const lines = new LineIndex(body);
  const members: JsonMember[] = [];
  for (const property of root.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    if (keyNode !== undefined && valueNode !== undefined)
      members.push({ key: String(keyNode.value), value: valueNode, line: lines.position(keyNode.offset).line });
  }
  return members;
}

/** The first key that repeats inside an object node (at any depth), or undefined. */
export function repeatedKey(node: Node): string | undefined {
  if (node.type === 'object') {
    const seen = new Set<string>();
    for (const property of node.children ?? []) {
      const [keyNode, valueNode] = property.children ?? [];
      const key = String(keyNode?.value);
      if (seen.has(key)) return key;
      seen.add(key);
      const inner = valueNode === undefined ? undefined : repeatedKey(valueNode);
      if (inner !== undefined) return inner;
    }
  } else if (node.type === 'array') {
    for (const child of node.children ?? []) {
      const inner = repeatedKey(child);
      if (inner !== undefined) return inner;
    }
  }
  return undefined;
}

/** The plain JavaScript value of a node. */
export function nodeValue(node: Node): unknown {
  return getNodeValue(node);
}
