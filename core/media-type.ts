/**
 * The media type of a `Content-Type` header, canonical: parameters (`; charset=…`) and whitespace
 * dropped, lowercased (media types are case-insensitive, RFC 9110 section 8.3.1); '' when absent.
 * Every route that accepts or refuses a body by its type decides on this value.
 *
 * @example
 * mediaType('Application/JSON; charset=utf-8'); // 'application/json'
 */
export function mediaType(header: string | null | undefined): string {
  return (header ?? '').split(';')[0]!.trim().toLowerCase();
}
