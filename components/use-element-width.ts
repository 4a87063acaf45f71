'use client';

import { useEffect, useRef, useState, type RefObject } from 'react';

/**
 * The width of an element, kept current by a ResizeObserver, so a chart can draw at its real
 * size (crisp text, no scaling) instead of stretching a fixed viewBox. `fallback` is used until
 * the first measure (and on the server).
 */
export function useElementWidth<T extends HTMLElement>(
  fallback: number,
): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => {
      const measured = Math.round(entry?.contentRect.width ?? 0);
      if (measured > 0) setWidth(measured);
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}
