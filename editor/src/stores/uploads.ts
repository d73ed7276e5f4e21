// Owns the input files on the server: the list a file widget picks from, and uploading a new one.

import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { UploadList, UploadResponse } from '../../../protocol/index.js';
import { api } from '../api/client';

export type UploadItem = UploadList['items'][number];

/** The URL an input file is served at, for a path param's value (an upload's name or a sample's path). */
export function uploadUrl(name: string): string {
  return `/api/uploads/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export const useUploadsStore = defineStore('uploads', () => {
  const items = shallowRef<UploadItem[]>([]);
  const loaded = ref(false);
  let loading: Promise<void> | undefined;

  /** Fetches the list once; later calls share it until `refresh()`. */
  function ensure(): Promise<void> {
    loading ??= refresh();
    return loading;
  }

  async function refresh(): Promise<void> {
    try {
      items.value = (await api.uploads()).items;
      loaded.value = true;
    } catch {
      // The picker shows what it has; an upload or the next open tries again.
      loading = undefined;
    }
  }

  /** @throws ApiError with the server's reason (too large, not an image or video) */
  async function upload(file: File): Promise<UploadResponse> {
    const out = await api.upload(file);
    await refresh();
    return out;
  }

  return { items, loaded, ensure, refresh, upload };
});
