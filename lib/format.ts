/** Small formatting helpers shared by the server's CLI output and the browser. */

/** `3s`, `4m`, `2h 5m`, `3d 4h`: a compact age for a table cell. */
export function formatAge(fromMs: number, nowMs: number): string {
  const seconds = Math.max(0, Math.floor((nowMs - fromMs) / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours}h ${minutes % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

// One formatter for every call: toLocaleTimeString builds a new Intl.DateTimeFormat each time,
// which the timeline did for each of its 200 rows on every render (half the page's CPU under load).
let clock: Intl.DateTimeFormat | undefined;

/** `HH:MM:SS` in the viewer's time zone. */
export function formatClock(ms: number): string {
  clock ??= new Intl.DateTimeFormat([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    // h23, not hour12: false, which some locales render as 24:00:00 at midnight.
    hourCycle: 'h23',
  });
  return clock.format(ms);
}

// Number#toLocaleString builds a new Intl.NumberFormat per call too: the members table called it
// for every registry cell of 200 rows on every delta (the top of the page's profile at 1,000
// members).
let count: Intl.NumberFormat | undefined;

/** `12,345` (in the viewer's locale): a count for a table cell. */
export function formatCount(value: number): string {
  count ??= new Intl.NumberFormat();
  return count.format(value);
}

/** `512 B`, `3.4 MB`, `1.2 GB`: a byte count for a table cell. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 100 ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** A duration in ms as {@link formatAge} writes ages: `3s`, `4m`, `2h 5m`, `3d 4h`. */
export function formatDuration(ms: number): string {
  return formatAge(0, ms);
}
