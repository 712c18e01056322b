/** Cutting text for limits counted in UTF-16 code units (JavaScript string length). */

/**
 * The first `charsMax` code units of `text`, one fewer where the cut would end in the first half
 * of a surrogate pair (an emoji, say), so that the result is still well-formed text.
 */
export function headOfText(text: string, charsMax: number): string {
  if (text.length <= charsMax) return text;
  const head = text.slice(0, charsMax);
  const last = head.charCodeAt(head.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? head.slice(0, -1) : head;
}
