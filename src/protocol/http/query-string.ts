/**
 * Query strings, read strictly. Each name and value is percent-decoded as UTF-8 (`+` is a space,
 * as in a form); a malformed escape (`%ZZ`) or escaped bytes that are not UTF-8 (`%FF`) are
 * refused naming the parameter. URLSearchParams would keep the first as text and make the second
 * U+FFFD, so `group=%FF` and `group=%FE` would both read group "\uFFFD": another group than the
 * client named, and the same one for both.
 *
 * A route reads the parameters it declares (router.ts); any other, and one given twice, is
 * refused too (400 naming it) rather than ignored: a misspelt `wait_ms` or a repeated `max` would
 * otherwise be answered as if the client had not said it.
 */
import { WeirError } from '../../util/errors.js';
import { invalid } from './schema.js';

/** `text` percent-decoded as UTF-8, or null when it is not valid percent-encoding of UTF-8. */
export function decodeComponent(text: string): string | null {
  try {
    return decodeURIComponent(text);
  } catch {
    return null; // URIError: a malformed escape, or bytes that are not UTF-8 (a lone surrogate's included)
  }
}

/** The query of `search` (`?a=1&b=2`, or empty) as parameters; throws INVALID_REQUEST as described above. */
export function parseQuery(search: string, accepted: readonly string[]): URLSearchParams {
  const query = new URLSearchParams();
  const text = search.startsWith('?') ? search.slice(1) : search;
  if (text === '') return query;
  for (const pair of text.split('&')) {
    if (pair === '') continue; // `a=1&&b=2`, as URLSearchParams reads it
    const equals = pair.indexOf('=');
    const nameText = equals < 0 ? pair : pair.slice(0, equals);
    const valueText = equals < 0 ? '' : pair.slice(equals + 1);
    const name = decodeComponent(nameText.replaceAll('+', ' '));
    if (name === null) invalid('query parameter name', 'percent-encoded UTF-8 text', nameText);
    if (!accepted.includes(name)) {
      const takes = accepted.length === 0 ? 'takes no query parameters' : `takes ${accepted.join(', ')}`;
      throw new WeirError('INVALID_REQUEST', `unknown query parameter ${JSON.stringify(name)}: this route ${takes}`);
    }
    if (query.has(name)) throw new WeirError('INVALID_REQUEST', `query parameter ${name} is given more than once`);
    const value = decodeComponent(valueText.replaceAll('+', ' '));
    if (value === null) invalid(`query parameter ${name}`, 'percent-encoded UTF-8 text', valueText);
    query.set(name, value);
  }
  return query;
}
