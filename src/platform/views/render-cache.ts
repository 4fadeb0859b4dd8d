// Rendering the NHS design system's macros is most of the CPU a patient page costs (about 1 ms for the
// date-of-birth page, more than the database work behind it), and the pages patients hit hardest — a
// link's date-of-birth and security-code pages — differ between requests only in the link token and
// the CSRF token. So a page may be rendered once with stand-ins for those values and the result kept;
// later requests substitute the real values into the kept HTML.
//
// Why this is safe:
// - Only values made of [A-Za-z0-9_-] (or empty) are substituted. Such a value reads the same
//   HTML-escaped, URL-encoded or raw, so wherever a template put it, the substitution matches what
//   rendering it would have produced. Any other value is rendered the normal way.
// - A long volatile value (a token) is also replaced wherever else it appears in the context (a URL
//   built from the link token, say), so those strings do not split the cache per link.
// - The stand-ins are random per process, so no content (a message, an organisation name) can contain
//   one by accident or design.
// - Whether each value is empty is part of the key, so a template's `{% if value %}` picks its branch.
//   The first time a page shape is seen it is rendered both ways and the results compared; a template
//   that does anything with a volatile value beyond printing it (a length, a comparison, a filter that
//   changes it) shows a difference, is logged, and that shape is never cached.
// - Opt-in per page, and the cache key is the whole rest of the context, so nothing that changes the
//   page can be left out of the key. Pages with patient data are not cached (their callers do not ask).
import { randomBytes } from 'node:crypto';

const SAFE_VALUE = /^[A-Za-z0-9_-]*$/;

export interface RenderCacheOptions {
  /** Page shapes kept; the least recently used is dropped beyond this. */
  maxEntries?: number;
  /** Told once for each page shape that cannot be cached. */
  onUncacheable?: (template: string) => void;
}

type Render = (template: string, context: Record<string, unknown>) => string;

interface Entry {
  /** The page split at each stand-in; `slots[i]` says which volatile value goes after `parts[i]`. */
  parts: string[];
  slots: number[];
}

export class RenderCache {
  private readonly render: Render;
  private readonly maxEntries: number;
  private readonly onUncacheable: (template: string) => void;
  private readonly entries = new Map<string, Entry | 'uncacheable'>();
  private readonly marker = `dcv${randomBytes(12).toString('hex')}`;
  private readonly markerPattern = new RegExp(`${this.marker}(\\d{2})x`, 'g');

  constructor(render: Render, options: RenderCacheOptions = {}) {
    this.render = render;
    this.maxEntries = options.maxEntries ?? 500;
    this.onUncacheable = options.onUncacheable ?? (() => {});
  }

  /**
   * The page for `context`, where the values at the `volatile` paths ('token', 'values.day') are the
   * only things that differ from one request to the next.
   */
  renderPage(template: string, context: Record<string, unknown>, volatile: readonly string[]): string {
    const values = volatile.map((path) => valueAt(context, path));
    if (volatile.length > 99 || !values.every((v): v is string => typeof v === 'string' && SAFE_VALUE.test(v))) {
      return this.render(template, context);
    }
    // The context with stand-ins: rendered once to make the entry, and (as JSON) the cache key.
    const replacements = values.flatMap((v, i) => (v.length >= 16 ? [[v, this.standIn(i)] as const] : []));
    const withStandIns = replaceStrings(context, replacements) as Record<string, unknown>;
    volatile.forEach((path, i) => setAt(withStandIns, path, this.standIn(i)));
    const key = `${template}\u0000${values.map((v) => (v === '' ? '0' : '1')).join('')}\u0000${JSON.stringify(withStandIns)}`;

    const cached = this.entries.get(key);
    if (cached === 'uncacheable') return this.render(template, context);
    if (cached) {
      // Most recently used goes to the back of the Map's order.
      this.entries.delete(key);
      this.entries.set(key, cached);
      return fill(cached, values);
    }

    const real = this.render(template, context);
    const entry = this.split(this.render(template, withStandIns));
    if (fill(entry, values) === real) {
      this.remember(key, entry);
    } else {
      this.remember(key, 'uncacheable');
      this.onUncacheable(template);
    }
    return real;
  }

  get size(): number {
    return this.entries.size;
  }

  private standIn(index: number): string {
    return `${this.marker}${String(index).padStart(2, '0')}x`;
  }

  private split(html: string): Entry {
    const parts: string[] = [];
    const slots: number[] = [];
    let last = 0;
    for (const match of html.matchAll(this.markerPattern)) {
      parts.push(html.slice(last, match.index));
      slots.push(Number(match[1]));
      last = match.index + match[0].length;
    }
    parts.push(html.slice(last));
    return { parts, slots };
  }

  private remember(key: string, entry: Entry | 'uncacheable'): void {
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

function fill(entry: Entry, values: string[]): string {
  let html = entry.parts[0]!;
  for (let i = 0; i < entry.slots.length; i++) html += values[entry.slots[i]!]! + entry.parts[i + 1]!;
  return html;
}

function valueAt(context: Record<string, unknown>, path: string): unknown {
  let value: unknown = context;
  for (const part of path.split('.')) value = value && typeof value === 'object' ? (value as Record<string, unknown>)[part] : undefined;
  return value;
}

/** Sets a value in a context that replaceStrings has already copied (so no caller's object changes). */
function setAt(context: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split('.');
  let target = context;
  for (const part of parts.slice(0, -1)) target = target[part] as Record<string, unknown>;
  target[parts.at(-1)!] = value;
}

/** A copy of plain objects and arrays with each `from` replaced by `to` in every string. */
function replaceStrings(value: unknown, replacements: ReadonlyArray<readonly [string, string]>): unknown {
  if (typeof value === 'string') {
    let out = value;
    for (const [from, to] of replacements) if (out.includes(from)) out = out.split(from).join(to);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => replaceStrings(v, replacements));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const copy: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) copy[k] = replaceStrings(v, replacements);
    return copy;
  }
  return value;
}
