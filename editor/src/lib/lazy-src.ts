// Owns `v-lazy-src`: a history video's or image's file is requested only once its element scrolls into view.

import type { Directive } from 'vue';

type Lazy = (HTMLVideoElement | HTMLImageElement) & { _lazy?: IntersectionObserver; _lazySrc?: string };

/**
 * `v-lazy-src="url"` on a `<video>` or `<img>`: sets `src` the first time the element is visible
 * (in the viewport and inside every scrolling ancestor). A long history would otherwise fetch
 * every clip as soon as its list is shown.
 */
export const vLazySrc: Directive<Lazy, string> = {
  mounted(el, { value }) {
    el._lazySrc = value;
    const seen = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      el.src = el._lazySrc ?? value;
      seen.disconnect();
      el._lazy = undefined;
    });
    seen.observe(el);
    el._lazy = seen;
  },
  updated(el, { value }) {
    el._lazySrc = value;
    // Not yet shown: the observer sets the new value when it is.
    if (el._lazy) return;
    if (el.getAttribute('src') !== value) el.src = value;
  },
  unmounted(el) {
    el._lazy?.disconnect();
  },
};
