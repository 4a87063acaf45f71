// A state is never changed once built, and the same objects are serialised again and again: a
// keyframe's state by the recorder for its weight and by the store for its body (tens of ms each
// at 1,000 nodes), a node's links and registries at every packing (`member-pack.ts`). So an
// object's text is kept with the object, for as long as the object lives.

const texts = new WeakMap<object, string>();

/** `JSON.stringify(value)`, made once per object. `value` must not change after the first call. */
export function jsonText(value: object): string {
  let text = texts.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    texts.set(value, text);
  }
  return text;
}

/**
 * {@link jsonText} made in parts, the event loop free between them (`between`): the array at
 * `value[field]` is serialised `perPart` elements at a time. A 1,000-node keyframe's text is 4 MB
 * (each node's links), and serialised in one go under load it held the loop 70–140 ms. The text
 * is the one `JSON.stringify` makes, kept for `jsonText` as its own would be.
 */
export async function jsonTextInParts(
  value: Record<string, unknown>,
  field: string,
  between: () => Promise<void>,
  perPart = 100,
): Promise<string> {
  const made = texts.get(value);
  if (made !== undefined) return made;
  const parts: string[] = [];
  for (const key of Object.keys(value)) {
    const entry = value[key];
    if (key === field && Array.isArray(entry)) {
      const elements: string[] = [];
      for (let index = 0; index < entry.length; index++) {
        if (index > 0 && index % perPart === 0) await between();
        // As JSON.stringify writes an array's element that has no JSON (undefined, a function).
        elements.push((JSON.stringify(entry[index]) as string | undefined) ?? 'null');
      }
      parts.push(`${JSON.stringify(key)}:[${elements.join(',')}]`);
      continue;
    }
    const text = JSON.stringify(entry) as string | undefined;
    if (text !== undefined) parts.push(`${JSON.stringify(key)}:${text}`);
  }
  const text = `{${parts.join(',')}}`;
  texts.set(value, text);
  return text;
}
