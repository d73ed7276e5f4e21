// Owns uploads: one multipart file streamed to disk, size-limited, its type judged by content, stored under its sha256.

import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Request } from 'express';
import busboy from 'busboy';
import { fileTypeFromBuffer } from 'file-type';
import type { UploadList, UploadResponse } from '../protocol/index.js';
import { BadRequestError, isDiskFull, PayloadTooLargeError, StorageFullError, UnsupportedMediaError } from './errors.js';

/** What may be uploaded, by the type its bytes show (never by its name or label). */
const ACCEPTED: Record<string, { ext: string; kind: 'image' | 'video' }> = {
  'image/png': { ext: 'png', kind: 'image' },
  'image/jpeg': { ext: 'jpg', kind: 'image' },
  'image/webp': { ext: 'webp', kind: 'image' },
  'image/gif': { ext: 'gif', kind: 'image' },
  'video/mp4': { ext: 'mp4', kind: 'video' },
  'video/webm': { ext: 'webm', kind: 'video' },
  'video/quicktime': { ext: 'mov', kind: 'video' },
  'video/x-matroska': { ext: 'mkv', kind: 'video' },
};

// file-type needs at most a few KiB from the start of a file for these formats.
const SNIFF_BYTES = 4100;

/** The URL path under which uploads are served. */
export const UPLOADS_PATH = '/api/uploads/';

/**
 * Reads a multipart/form-data request holding one file part, writes it under `<sha256>.<ext>` in
 * `dir` (the same bytes uploaded twice are stored once) and reports what it is.
 * @throws BadRequestError when the request is not multipart or holds no file
 * @throws PayloadTooLargeError when the file is over `maxBytes` (nothing is kept)
 * @throws UnsupportedMediaError when the content is not an accepted image or video (nothing is kept)
 */
export async function receiveUpload(req: Request, dir: string, maxBytes: number): Promise<UploadResponse> {
  if (!req.headers['content-type']?.toLowerCase().startsWith('multipart/form-data')) {
    throw new BadRequestError('not_multipart', 'Upload a file as multipart/form-data (one file part, e.g. curl -F file=@clip.mp4)');
  }
  await mkdir(join(dir, '.partial'), { recursive: true });
  const partial = join(dir, '.partial', randomUUID());
  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes, fields: 10, parts: 12 } });
  } catch (cause) {
    throw new BadRequestError('bad_multipart', `The multipart body cannot be read: ${(cause as Error).message}`);
  }

  const received = new Promise<{ sha256: string; size: number; head: Buffer; truncated: boolean } | undefined>((resolve, reject) => {
    let file: Promise<{ sha256: string; size: number; head: Buffer; truncated: boolean }> | undefined;
    parser.on('file', (_field, stream) => {
      if (file) {
        stream.resume();
        return;
      }
      file = new Promise((resolveFile, rejectFile) => {
        const hash = createHash('sha256');
        const heads: Buffer[] = [];
        let headBytes = 0;
        let size = 0;
        const out = createWriteStream(partial);
        stream.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
          if (headBytes < SNIFF_BYTES) {
            heads.push(chunk);
            headBytes += chunk.length;
          }
        });
        stream.pipe(out);
        out.on('error', rejectFile);
        stream.on('error', rejectFile);
        out.on('finish', () => resolveFile({ sha256: hash.digest('hex'), size, head: Buffer.concat(heads).subarray(0, SNIFF_BYTES), truncated: stream.truncated === true }));
      });
      file.catch(() => {});
    });
    parser.on('error', (cause: Error) => reject(new BadRequestError('bad_multipart', `The multipart body cannot be read: ${cause.message}`)));
    parser.on('close', () => (file ? file.then(resolve, reject) : resolve(undefined)));
  });
  req.on('error', () => parser.destroy());
  req.on('aborted', () => parser.destroy(new Error('the request was aborted')));
  req.pipe(parser);

  try {
    let got: Awaited<typeof received>;
    try {
      got = await received;
    } catch (error) {
      if (isDiskFull(error)) throw new StorageFullError("The server's disk is full: the upload was not kept. Try again once space is freed.", { cause: error });
      throw error;
    }
    if (!got) throw new BadRequestError('no_file', 'The upload holds no file part');
    if (got.truncated) {
      throw new PayloadTooLargeError(`The file is larger than this server accepts (${maxBytes} bytes)`);
    }
    const type = await fileTypeFromBuffer(got.head);
    const accepted = type ? ACCEPTED[type.mime] : undefined;
    if (!type || !accepted) {
      throw new UnsupportedMediaError(
        `The file's content is ${type ? type.mime : 'not a recognised image or video'}; accepted: ${Object.keys(ACCEPTED).join(', ')} (judged by content, not by name or label)`,
      );
    }
    const name = `${got.sha256}.${accepted.ext}`;
    const target = join(dir, name);
    let created = true;
    try {
      await access(target);
      created = false;
    } catch {
      // Content-addressed: renaming over an existing file with the same bytes would be harmless, but keeping it saves a write.
      await rename(partial, target);
    }
    return { name, sha256: got.sha256, size: got.size, mime: type.mime, kind: accepted.kind, url: UPLOADS_PATH + name, created };
  } finally {
    await rm(partial, { force: true });
  }
}

const KIND_BY_EXT: Record<string, 'image' | 'video'> = Object.fromEntries(
  Object.values(ACCEPTED).flatMap(({ ext, kind }) =>
    ext === 'jpg'
      ? [
          [ext, kind],
          ['jpeg', kind],
        ]
      : [[ext, kind]],
  ),
);

/**
 * Every image and video under the uploads folder (subfolders too, such as the shipped samples),
 * newest first; half-received files and dot-folders are left out.
 * @throws the file system's error when the folder cannot be read
 */
export async function listUploads(dir: string): Promise<UploadList> {
  const items: UploadList['items'] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await readdir(join(dir, rel), { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue;
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        await walk(name);
        continue;
      }
      const kind = KIND_BY_EXT[entry.name.split('.').pop()!.toLowerCase()];
      if (!entry.isFile() || !kind) continue;
      const s = await stat(join(dir, name));
      items.push({ name, kind, size: s.size, modified: s.mtimeMs, url: UPLOADS_PATH + name.split('/').map(encodeURIComponent).join('/') });
    }
  };
  await walk('');
  items.sort((a, b) => b.modified - a.modified || a.name.localeCompare(b.name));
  return { items };
}
