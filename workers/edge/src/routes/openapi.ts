/** `GET /openapi.json`: the public and admin API, schemas generated from the zod validators. */
import type { Context } from 'hono';
import { z } from 'zod';
import { regionSettingsSchema, regionEntrySchema } from '../../../../core/regions.js';
import { edgeModel } from '../model/edge-model.js';
import { classifyResponseSchema } from './classify.js';
import { pixelsSchema } from './input.js';

const problem = {
  description: 'problem+json error with a stable code',
  content: { 'application/problem+json': { schema: { type: 'object', properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, code: { type: 'string' }, detail: { type: 'string' }, requestId: { type: 'string' } }, required: ['status', 'code', 'detail'] } } },
};
const json = (schema: z.ZodType) => ({ 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } });

export function openapi(c: Context): Response {
  const m = edgeModel().manifest;
  const n = m.input.shape.reduce((a, b) => a * b, 1);
  const admin = { security: [{ bearer: [] }] };
  return c.json({
    openapi: '3.1.0',
    info: { title: 'edge-cascade edge worker', version: '0.1.0', description: `Early-exit cascade on ${m.name}: ${m.classes.length} classes, input ${m.input.shape.join('×')}.` },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    paths: {
      '/v1/classify': {
        post: {
          summary: 'Classify one image at the edge, forwarding to the backend when no edge exit is confident',
          requestBody: {
            required: true,
            content: {
              'image/png': { schema: { type: 'string', format: 'binary' } },
              'application/octet-stream': { schema: { type: 'string', format: 'binary', description: `exactly ${n} u8 pixels, channels last` } },
              ...json(pixelsSchema(n)),
            },
          },
          responses: { 200: { description: 'the answer', content: json(classifyResponseSchema) }, 400: problem, 413: problem, 415: problem },
        },
      },
      '/healthz': { get: { summary: 'liveness', responses: { 200: { description: 'alive' } } } },
      '/readyz': { get: { summary: 'readiness: model, KV, backend, threshold problems', responses: { 200: { description: 'ready' }, 503: { description: 'not ready' } } } },
      '/admin/regions': { get: { ...admin, summary: 'list region entries', responses: { 200: { description: 'keys and versions' }, 401: problem } } },
      '/admin/regions/{key}': {
        parameters: [{ name: 'key', in: 'path', required: true, schema: { type: 'string', pattern: '^(default|colo:[A-Z]{3}|country:[A-Z]{2}|continent:[A-Z]{2})$' } }],
        get: { ...admin, summary: 'read an entry (ETag = version)', responses: { 200: { description: 'entry', content: json(regionEntrySchema) }, 404: problem } },
        put: { ...admin, summary: 'write an entry; If-Match: <version> to replace', requestBody: { required: true, content: json(regionSettingsSchema) }, responses: { 200: { description: 'replaced' }, 201: { description: 'created' }, 400: problem, 412: problem, 428: problem } },
        delete: { ...admin, summary: 'delete an entry (If-Match required)', responses: { 204: { description: 'deleted' }, 412: problem, 428: problem } },
      },
      '/admin/regions/{key}/history': { get: { ...admin, summary: 'every version of an entry', responses: { 200: { description: 'versions' } } } },
      '/admin/regions/{key}/rollback': { post: { ...admin, summary: 'write a new version with an old version\'s settings', responses: { 200: { description: 'rolled back' }, 404: problem, 412: problem } } },
    },
  });
}
