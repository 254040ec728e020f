/**
 * Runs async jobs one at a time, in call order; a failed job does not block the ones after it.
 * For runtimes that must not be entered twice at once (an onnxruntime-web session, one GPU queue).
 *
 * @example
 * const serial = serialQueue();
 * const out = await serial(() => session.run(feeds));
 */
export function serialQueue(): <T>(job: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(job: () => Promise<T>): Promise<T> => {
    const next = tail.then(job, job);
    tail = next.catch(() => undefined);
    return next;
  };
}
