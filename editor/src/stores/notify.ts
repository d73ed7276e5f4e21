// Owns the transient messages shown to the user (toasts).

import { defineStore } from 'pinia';
import { ref } from 'vue';

export interface Toast {
  id: number;
  level: 'info' | 'success' | 'error';
  text: string;
}

export const useNotifyStore = defineStore('notify', () => {
  const toasts = ref<Toast[]>([]);
  let next = 1;

  function push(level: Toast['level'], text: string, ms = level === 'error' ? 7000 : 3500): void {
    const id = next++;
    toasts.value.push({ id, level, text });
    if (toasts.value.length > 5) toasts.value.shift();
    setTimeout(() => dismiss(id), ms);
  }

  function dismiss(id: number): void {
    toasts.value = toasts.value.filter((t) => t.id !== id);
  }

  return { toasts, dismiss, info: (t: string) => push('info', t), success: (t: string) => push('success', t), error: (t: string) => push('error', t) };
});
