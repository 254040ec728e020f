/**
 * The edge's errors are the services' one problem+json module (core/problem.ts); this re-export keeps
 * the routes' `../errors.js` imports short.
 *
 * @example
 * throw new ProblemError(415, 'UNSUPPORTED_MEDIA_TYPE', 'content-type text/plain is not accepted; use image/png, …');
 */
export { ProblemError, problem, problemOnError } from '../../../core/problem.js';
