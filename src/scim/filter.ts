import { type AttributePath, getAttribute, isObject, parseAttributePath, valuesAt } from './attribute-paths.js';
import { invalidFilter } from './errors.js';
import type { ResourceSchema, ScimDocument } from './schemas.js';

/*
 * RFC 7644 §3.4.2.2 filters, parsed into a tree and evaluated against resources. Hand-written
 * rather than scimmy's Filter: scimmy compares every string case-sensitively (userName is
 * caseExact false, so `userName eq "Bob@X.com"` must find bob@x.com, or an IdP re-creates users
 * it cannot find), parses `True` as false, accepts a dangling `or`, and expands every filter into
 * disjunctive normal form, which grows exponentially with nested `or`s.
 */

type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'lt' | 'ge' | 'le';
type Literal = string | number | boolean | null;

export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; expr: FilterNode }
  | { kind: 'present'; path: AttributePath }
  | { kind: 'compare'; path: AttributePath; op: CompareOp; value: Literal }
  | { kind: 'valuePath'; path: AttributePath; filter: FilterNode };

const COMPARE_OPS = new Set<string>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'lt', 'ge', 'le']);
const MAX_LENGTH = 2000;
const MAX_NODES = 200;

type Token = { type: '(' | ')' | '[' | ']' } | { type: 'word'; text: string } | { type: 'literal'; value: Literal };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === '(' || c === ')' || c === '[' || c === ']') {
      tokens.push({ type: c });
      i++;
    } else if (c === '"') {
      const match = /^"(?:[^"\\]|\\.)*"/.exec(text.slice(i));
      if (!match) throw invalidFilter('unterminated string in filter');
      try {
        tokens.push({ type: 'literal', value: JSON.parse(match[0]) as string });
      } catch {
        throw invalidFilter('invalid string in filter');
      }
      i += match[0].length;
    } else {
      const match = /^[^\s()[\]"]+/.exec(text.slice(i)) as RegExpExecArray;
      tokens.push({ type: 'word', text: match[0] });
      i += match[0].length;
    }
  }
  return tokens;
}

class Parser {
  private position = 0;
  private nodes = 0;

  constructor(
    private readonly tokens: Token[],
    private readonly schema: ResourceSchema,
  ) {}

  parse(): FilterNode {
    const node = this.or();
    if (this.position < this.tokens.length) throw invalidFilter(`unexpected ${describe(this.tokens[this.position])} in filter`);
    return node;
  }

  private or(parent?: AttributePath): FilterNode {
    let left = this.and(parent);
    while (this.keyword('or')) left = this.node({ kind: 'or', left, right: this.and(parent) });
    return left;
  }

  private and(parent?: AttributePath): FilterNode {
    let left = this.unary(parent);
    while (this.keyword('and')) left = this.node({ kind: 'and', left, right: this.unary(parent) });
    return left;
  }

  private unary(parent?: AttributePath): FilterNode {
    if (this.keyword('not')) {
      this.expect('(');
      const expr = this.or(parent);
      this.expect(')');
      return this.node({ kind: 'not', expr });
    }
    if (this.peek()?.type === '(') {
      this.position++;
      const inner = this.or(parent);
      this.expect(')');
      return inner;
    }
    return this.attributeExpression(parent);
  }

  private attributeExpression(parent?: AttributePath): FilterNode {
    const token = this.next();
    if (token?.type !== 'word') throw invalidFilter(`expected an attribute name, found ${describe(token)}`);
    const path = parseAttributePath(token.text, this.schema, parent);
    if (!path) throw invalidFilter(`unknown attribute "${token.text}" in filter`);
    if (this.peek()?.type === '[') {
      if (parent || path.sub) throw invalidFilter('a value filter cannot be nested or follow a sub-attribute');
      if (path.info.type !== 'complex') throw invalidFilter(`"${token.text}" is not complex: it takes no value filter`);
      this.position++;
      const filter = this.or(path);
      this.expect(']');
      return this.node({ kind: 'valuePath', path, filter });
    }
    const op = this.next();
    const name = op?.type === 'word' ? op.text.toLowerCase() : '';
    if (name === 'pr') return this.node({ kind: 'present', path });
    if (!COMPARE_OPS.has(name)) throw invalidFilter(`expected an operator after "${token.text}", found ${describe(op)}`);
    const value = this.literal();
    if (path.info.type === 'complex' && !path.info.multiValued)
      throw invalidFilter(`"${token.text}" is complex: compare one of its sub-attributes`);
    if (['gt', 'lt', 'ge', 'le'].includes(name) && (path.info.type === 'boolean' || path.info.type === 'binary'))
      throw invalidFilter(`"${name}" does not apply to ${path.info.type} "${token.text}"`);
    return this.node({ kind: 'compare', path, op: name as CompareOp, value });
  }

  private literal(): Literal {
    const token = this.next();
    if (token?.type === 'literal') return token.value;
    if (token?.type === 'word') {
      const lower = token.text.toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
      if (lower === 'null') return null;
      if (/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(token.text)) return Number(token.text);
    }
    throw invalidFilter(`expected a value (a string, number, true, false or null), found ${describe(token)}`);
  }

  private node(node: FilterNode): FilterNode {
    if (++this.nodes > MAX_NODES) throw invalidFilter('the filter is too complex');
    return node;
  }

  private keyword(word: string): boolean {
    const token = this.peek();
    if (token?.type === 'word' && token.text.toLowerCase() === word) {
      this.position++;
      return true;
    }
    return false;
  }

  private expect(type: '(' | ')' | ']'): void {
    const token = this.next();
    if (token?.type !== type) throw invalidFilter(`expected "${type}", found ${describe(token)}`);
  }

  private peek(): Token | undefined {
    return this.tokens[this.position];
  }

  private next(): Token | undefined {
    return this.tokens[this.position++];
  }
}

function describe(token: Token | undefined): string {
  if (!token) return 'the end of the filter';
  if (token.type === 'word') return `"${token.text}"`;
  if (token.type === 'literal') return JSON.stringify(token.value);
  return `"${token.type}"`;
}

/** Parses a filter for resources of `schema`; a bad one answers 400 invalidFilter. */
export function parseFilter(text: string, schema: ResourceSchema): FilterNode {
  if (text.length > MAX_LENGTH) throw invalidFilter(`the filter is longer than ${MAX_LENGTH} characters`);
  const tokens = tokenize(text);
  if (tokens.length === 0) throw invalidFilter('the filter is empty');
  return new Parser(tokens, schema).parse();
}

/** Whether the resource matches the filter. */
export function matches(node: FilterNode, resource: ScimDocument): boolean {
  switch (node.kind) {
    case 'and':
      return matches(node.left, resource) && matches(node.right, resource);
    case 'or':
      return matches(node.left, resource) || matches(node.right, resource);
    case 'not':
      return !matches(node.expr, resource);
    case 'present':
      return valuesAt(resource, node.path).some(isPresent);
    case 'valuePath':
      return valuesAt(resource, node.path).some((element) => isObject(element) && matchesElement(node.filter, element));
    case 'compare': {
      const values = valuesAt(resource, node.path).map((v) => (isObject(v) ? getAttribute(v, 'value') : v));
      // RFC 7644 §3.4.2.2: "ne" holds when no value equals; an absent attribute equals only null.
      if (node.op === 'ne') return !values.some((v) => compare('eq', v, node.value, node.path));
      if (node.op === 'eq' && node.value === null) return !values.some(isPresent);
      return values.some((v) => compare(node.op, v, node.value, node.path));
    }
  }
}

/** Inside a value filter (`emails[type eq "work"]`), paths name the element's sub-attributes. */
function matchesElement(node: FilterNode, element: ScimDocument): boolean {
  switch (node.kind) {
    case 'and':
      return matchesElement(node.left, element) && matchesElement(node.right, element);
    case 'or':
      return matchesElement(node.left, element) || matchesElement(node.right, element);
    case 'not':
      return !matchesElement(node.expr, element);
    case 'valuePath':
      return false;
    default: {
      const { extension: _extension, ...path } = node.path;
      return matches({ ...node, path }, { [path.attr]: element });
    }
  }
}

function isPresent(value: unknown): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.values(value).some(isPresent);
  return true;
}

function compare(op: CompareOp, actual: unknown, expected: Literal, path: AttributePath): boolean {
  if (actual === undefined || actual === null || expected === null) return false;
  if (typeof actual === 'boolean' || typeof expected === 'boolean') return op === 'eq' && actual === expected;
  if (path.info.type === 'dateTime' && typeof expected === 'string' && typeof actual === 'string') {
    const a = Date.parse(actual);
    const e = Date.parse(expected);
    if (!Number.isNaN(a) && !Number.isNaN(e)) return ordered(op, a, e, String(actual), expected);
  }
  if (typeof actual === 'number' && typeof expected === 'number') return ordered(op, actual, expected, String(actual), String(expected));
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  // RFC 7643 §2.3.1: strings compare case-insensitively unless the attribute is caseExact.
  const a = path.info.caseExact ? actual : actual.toLowerCase();
  const e = path.info.caseExact ? expected : expected.toLowerCase();
  return ordered(op, a, e, a, e);
}

function ordered<T extends number | string>(op: CompareOp, a: T, e: T, text: string, expected: string): boolean {
  switch (op) {
    case 'eq':
      return a === e;
    case 'ne':
      return a !== e;
    case 'co':
      return text.includes(expected);
    case 'sw':
      return text.startsWith(expected);
    case 'ew':
      return text.endsWith(expected);
    case 'gt':
      return a > e;
    case 'ge':
      return a >= e;
    case 'lt':
      return a < e;
    case 'le':
      return a <= e;
  }
}

/**
 * When the filter requires `attr eq "value"` at its top level (alone or under `and`), that
 * equality: the store narrows its query by it before the filter runs in full.
 */
export function requiredEquality(node: FilterNode, attr: string): string | undefined {
  if (node.kind === 'and') return requiredEquality(node.left, attr) ?? requiredEquality(node.right, attr);
  if (
    node.kind === 'compare' &&
    node.op === 'eq' &&
    !node.path.extension &&
    !node.path.sub &&
    node.path.attr.toLowerCase() === attr.toLowerCase() &&
    typeof node.value === 'string'
  )
    return node.value;
  return undefined;
}
