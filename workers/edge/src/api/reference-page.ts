/**
 * The browsable API reference (`GET /docs`): one self-contained HTML page rendered on the server
 * from the generated OpenAPI document (no scripts, no CDN: the worker serves it offline). Lists
 * every operation with its parameters, request bodies (per content type) and responses, then every
 * named schema; `$ref`s are links to those.
 *
 * @example
 * return c.html(referencePage(app.getOpenAPI31Document(config)));
 */
import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/** The parts of an OpenAPI 3.1 document the page reads (structural: any generator's output fits). */
export interface Schema {
  $ref?: string;
  type?: string | string[];
  format?: string;
  description?: string;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
}
interface Media {
  schema?: Schema;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
}
interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { description?: string; required?: boolean; content?: Record<string, Media> };
  responses?: Record<
    string,
    {
      description?: string;
      headers?: Record<string, { description?: string; schema?: Schema }>;
      content?: Record<string, Media>;
    }
  >;
}
export interface ApiDocument {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Record<string, unknown>>;
  components?: {
    schemas?: Record<string, Schema>;
    securitySchemes?: Record<string, { type?: string; scheme?: string; description?: string }>;
  };
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;
type H = HtmlEscapedString | Promise<HtmlEscapedString>;

const refName = (ref: string) => ref.split('/').at(-1)!;
const anchor = (s: string) => s.replace(/[^A-Za-z0-9_-]+/g, '-');

/** A schema's type in a few words: `string (pattern …)`, `array of Problem`, `integer ≥ 1`. */
function typeOf(s: Schema | undefined): H {
  if (!s) return html`<i>any</i>`;
  if (s.$ref) return html`<a href="#schema-${anchor(refName(s.$ref))}">${refName(s.$ref)}</a>`;
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return html`${alts.map((a, i) => html`${i ? ' | ' : ''}${typeOf(a)}`)}`;
  if (s.allOf) return html`${s.allOf.map((a, i) => html`${i ? ' & ' : ''}${typeOf(a)}`)}`;
  const type = Array.isArray(s.type) ? s.type.join(' | ') : s.type;
  const facts: string[] = [];
  if (s.format) facts.push(s.format);
  if (s.enum) facts.push(`one of ${s.enum.map((v) => JSON.stringify(v)).join(', ')}`);
  if (s.const !== undefined) facts.push(`= ${JSON.stringify(s.const)}`);
  if (s.minimum !== undefined) facts.push(`≥ ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) facts.push(`> ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) facts.push(`≤ ${s.maximum}`);
  if (s.minLength !== undefined || s.maxLength !== undefined)
    facts.push(
      s.minLength === s.maxLength ? `length ${s.minLength}` : `length ${s.minLength ?? 0}–${s.maxLength ?? '∞'}`,
    );
  if (s.minItems !== undefined || s.maxItems !== undefined)
    facts.push(s.minItems === s.maxItems ? `${s.minItems} items` : `${s.minItems ?? 0}–${s.maxItems ?? '∞'} items`);
  if (s.default !== undefined) facts.push(`default ${JSON.stringify(s.default)}`);
  const head =
    type === 'array' ? html`array of ${typeOf(s.items)}` : html`${type ?? (s.properties ? 'object' : 'any')}`;
  return html`${head}${facts.length ? html` <span class="facts">(${facts.join(', ')})</span>` : ''}${s.pattern ? html` <span class="facts">pattern</span> <code>${s.pattern}</code>` : ''}`;
}

/** A schema: its type, description and, for an object, a table of its properties (nested objects inline). */
function schemaBlock(s: Schema | undefined, depth = 0): H {
  if (!s) return html``;
  const props = s.properties ? Object.entries(s.properties) : [];
  const item = s.type === 'array' && s.items?.properties ? s.items : undefined;
  return html`<div class="schema">${typeOf(s)}${s.description ? html`<div class="desc">${s.description}</div>` : ''}${props.length && depth < 4 ? html`<table class="props"><tr><th>property</th><th>type</th><th>description</th></tr>${props.map(([name, p]) => html`<tr><td><code>${name}</code>${s.required?.includes(name) ? html` <span class="req">required</span>` : ''}</td><td>${typeOf(p)}${p.properties || (p.type === 'array' && p.items?.properties) ? schemaBlock({ ...p, description: undefined }, depth + 1) : ''}</td><td>${p.description ?? ''}</td></tr>`)}</table>` : ''}${s.additionalProperties && typeof s.additionalProperties === 'object' ? html`<div class="desc">each value: ${typeOf(s.additionalProperties)}</div>` : ''}${item && depth < 4 ? schemaBlock({ ...item, description: undefined }, depth + 1) : ''}</div>`;
}

function content(c: Record<string, Media> | undefined): H {
  if (!c) return html``;
  return html`${Object.entries(c).map(([type, m]) => html`<div class="media"><code class="type">${type}</code>${schemaBlock(m.schema)}</div>`)}`;
}

function operation(path: string, method: string, op: Operation): H {
  const id = anchor(`${method}-${path}`);
  const params = op.parameters ?? [];
  return html`<section class="op" id="${id}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${path}</code></h3>
${op.summary ? html`<p class="summary">${op.summary}</p>` : ''}${op.description ? html`<p>${op.description}</p>` : ''}
${op.security?.length ? html`<p class="auth">Authorization: ${op.security.map((s) => Object.keys(s).join(', ')).join(' or ')}</p>` : ''}
${params.length ? html`<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th><th>description</th></tr>${params.map((p) => html`<tr><td><code>${p.name}</code>${p.required ? html` <span class="req">required</span>` : ''}</td><td>${p.in}</td><td>${typeOf(p.schema)}</td><td>${p.description ?? p.schema?.description ?? ''}</td></tr>`)}</table>` : ''}
${op.requestBody ? html`<h4>Request body${op.requestBody.required ? html` <span class="req">required</span>` : ''}</h4>${op.requestBody.description ? html`<p>${op.requestBody.description}</p>` : ''}${content(op.requestBody.content)}` : ''}
<h4>Responses</h4><table><tr><th>status</th><th>description</th><th>body</th></tr>${Object.entries(op.responses ?? {}).map(([status, r]) => html`<tr><td><b>${status}</b></td><td>${r.description ?? ''}${r.headers ? html`<div class="desc">headers: ${Object.entries(r.headers).map(([h, v], i) => html`${i ? ', ' : ''}<code>${h}</code>${v.description ? ` (${v.description})` : ''}`)}</div>` : ''}</td><td>${content(r.content)}</td></tr>`)}</table>
</section>`;
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
code{font:13px ui-monospace,monospace;background:#f3f3f5;padding:0 .25em;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.4rem 0}th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}th{background:#fafafa}
.op{border-top:1px solid #ccc;padding-top:.5rem;margin-top:1.5rem}.method{display:inline-block;min-width:4.5em;text-align:center;color:#fff;border-radius:3px;font-size:13px;padding:.1em .4em}
.get{background:#2f7d32}.post{background:#1565c0}.put{background:#ef6c00}.delete{background:#c62828}.patch,.head,.options{background:#555}
.req{color:#c62828;font-size:12px}.facts,.desc{color:#555;font-size:13px}.summary{font-weight:600}.media{margin:.3rem 0}.type{font-weight:600}.props{margin-left:.5rem;width:auto}
nav li{list-style:none}nav ul{padding-left:0;columns:2}`;

/** The page. */
export function referencePage(doc: ApiDocument): H {
  const ops = Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    METHODS.filter((m) => item[m]).map((m) => ({ path, method: m, op: item[m] as Operation })),
  );
  const schemas = Object.entries(doc.components?.schemas ?? {});
  const schemes = Object.entries(doc.components?.securitySchemes ?? {});
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${doc.info.title} — API reference</title><style>${raw(STYLE)}</style></head>
<body><h1>${doc.info.title} <small>${doc.info.version}</small></h1>
${doc.info.description ? html`<p>${doc.info.description}</p>` : ''}
<p>Generated from the <a href="/openapi.json">OpenAPI ${doc.openapi} document</a>, which is generated from the routes' own schemas.</p>
<nav><h2>Operations</h2><ul>${ops.map(({ path, method, op }) => html`<li><a href="#${anchor(`${method}-${path}`)}"><span class="method ${method}">${method.toUpperCase()}</span> <code>${path}</code></a> ${op.summary ?? ''}</li>`)}</ul></nav>
${schemes.length ? html`<h2>Authorization</h2>${schemes.map(([name, s]) => html`<p><code>${name}</code>: ${s.type}${s.scheme ? ` (${s.scheme})` : ''}${s.description ? ` — ${s.description}` : ''}</p>`)}` : ''}
<h2>Operations</h2>${ops.map(({ path, method, op }) => operation(path, method, op))}
<h2>Schemas</h2>${schemas.map(([name, s]) => html`<section class="op" id="schema-${anchor(name)}"><h3><code>${name}</code></h3>${schemaBlock(s)}</section>`)}
</body></html>`;
}
