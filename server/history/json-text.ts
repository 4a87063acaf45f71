import 'server-only';

// A keyframe's state is serialised twice on the event loop: by the recorder for its weight and
// by the store for its body — tens of ms each at 1,000 nodes. A taken state is never changed, so
// its text is kept with the object, for as long as the object lives.

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
