// Owns the saved-workflow library on disk and reading the workflow embedded in an output file.

import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { open, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { checkWorkflowSchema, type Workflow } from '../engine/index.js';
import type { WorkflowList } from '../protocol/index.js';
import { MediaError } from '../media/errors.js';
import { probe } from '../media/ffmpeg.js';
import { readPngText } from '../media/image.js';
import { BadRequestError, isDiskFull, NotFoundError, PathEscapeError, StorageFullError, UnsupportedMediaError } from './errors.js';

// Letters, digits, space, "_", "-", "." and no leading dot: a name can never be a path or a hidden file.
const NAME = /^[\p{L}\p{N}_-][\p{L}\p{N} _.-]{0,127}$/u;

/**
 * Checks a library name; `.json` is added on disk, so `a` and `a.json` are the same workflow.
 * @throws BadRequestError naming the rule the name breaks
 */
export function workflowFileName(name: string): string {
  const base = name.toLowerCase().endsWith('.json') ? name.slice(0, -5) : name;
  if (!NAME.test(base) || base.endsWith('.') || base.endsWith(' ')) {
    throw new BadRequestError(
      'bad_workflow_name',
      `Workflow name ${JSON.stringify(name)} must be 1–128 letters, digits, spaces, "_", "-" or ".", not starting with "." or a space`,
    );
  }
  return `${base}.json`;
}

/**
 * Checks a document is a workflow (any version, migrated) by the format's schema; node types are
 * not checked, so a workflow using a node pack not loaded now can still be saved.
 * @throws WorkflowValidationError listing the schema problems
 */
export function checkWorkflowDocument(doc: unknown): Workflow {
  return checkWorkflowSchema(doc).workflow;
}

/** The saved workflows in a folder, one `<name>.json` each, written atomically. */
export class WorkflowLibrary {
  constructor(readonly dir: string) {}

  async list(): Promise<WorkflowList> {
    await mkdir(this.dir, { recursive: true });
    const items: WorkflowList['items'] = [];
    for (const entry of await readdir(this.dir, { withFileTypes: true })) {
      if (!entry.isFile() || extname(entry.name) !== '.json' || entry.name.startsWith('.')) continue;
      const s = await stat(join(this.dir, entry.name));
      items.push({ name: entry.name.slice(0, -5), size: s.size, modified: s.mtimeMs });
    }
    items.sort((a, b) => a.name.localeCompare(b.name));
    return { items };
  }

  /**
   * @throws BadRequestError for a bad name; NotFoundError when there is no such workflow
   * @throws PathEscapeError when the name is a symlink (it could point anywhere)
   */
  async get(name: string): Promise<unknown> {
    const file = join(this.dir, workflowFileName(name));
    let text: string;
    try {
      // O_NOFOLLOW: a link placed in the folder is refused, never followed out of it.
      const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        if (!(await handle.stat()).isFile()) throw Object.assign(new Error('not a file'), { code: 'ELOOP' });
        text = await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw new PathEscapeError(`Saved workflow ${JSON.stringify(name)} is a link, not a file; it is not read`);
      throw new NotFoundError(`No saved workflow named ${JSON.stringify(name)}`);
    }
    return JSON.parse(text) as unknown;
  }

  /**
   * Saves (creates or replaces) a workflow.
   * @returns whether it was created
   * @throws BadRequestError for a bad name; WorkflowValidationError for a document that is not a workflow
   */
  async put(name: string, doc: unknown): Promise<{ created: boolean }> {
    const file = join(this.dir, workflowFileName(name));
    const workflow = checkWorkflowDocument(doc);
    await mkdir(this.dir, { recursive: true });
    const created = !(await exists(file));
    // Written beside and renamed: a crash mid-write never leaves a torn workflow file.
    const partial = join(this.dir, `.${randomUUID()}.partial`);
    try {
      await writeFile(partial, `${JSON.stringify(workflow, null, 2)}\n`);
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      if (isDiskFull(error))
        throw new StorageFullError(`The server's disk is full: workflow ${JSON.stringify(name)} was not saved (the old one, if any, is unchanged).`, { cause: error });
      throw error;
    }
    return { created };
  }

  /** @throws BadRequestError for a bad name; NotFoundError when there is no such workflow */
  async delete(name: string): Promise<void> {
    const file = join(this.dir, workflowFileName(name));
    if (!(await exists(file))) throw new NotFoundError(`No saved workflow named ${JSON.stringify(name)}`);
    await rm(file);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads the workflow and provenance that Skyloom's save nodes embed in a file: PNG text chunks,
 * or mp4 / webm container tags.
 * @throws UnsupportedMediaError for a file type that holds none; NotFoundError when the file has no workflow
 */
export async function extractEmbedded(file: string): Promise<{ workflow: Record<string, unknown>; provenance: Record<string, unknown> | null }> {
  const head = Buffer.alloc(16);
  const handle = await open(file, 'r');
  try {
    await handle.read(head, 0, 16, 0);
  } finally {
    await handle.close();
  }
  let tags: Record<string, string>;
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    tags = readPngText(await readFile(file), file);
  } else if (head.toString('latin1', 4, 8) === 'ftyp' || head.readUInt32BE(0) === 0x1a45dfa3) {
    // ISO BMFF (mp4, mov) or EBML (webm, mkv): ffprobe reads the container tags.
    try {
      tags = (await probe(file)).tags;
    } catch (cause) {
      if (cause instanceof MediaError) throw new UnsupportedMediaError(`The file cannot be read as a video: ${cause.message}`);
      throw cause;
    }
  } else {
    throw new UnsupportedMediaError('Workflows are read from PNG, mp4 and webm files written by Skyloom');
  }
  const text = tags.workflow;
  if (!text) throw new NotFoundError('The file holds no embedded workflow');
  let workflow: Record<string, unknown>;
  try {
    workflow = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new BadRequestError('bad_embedded_workflow', 'The embedded workflow is not valid JSON');
  }
  let provenance: Record<string, unknown> | null;
  try {
    provenance = tags.provenance ? (JSON.parse(tags.provenance) as Record<string, unknown>) : null;
  } catch {
    provenance = null;
  }
  return { workflow, provenance };
}
