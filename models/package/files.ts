// Small file helpers of the package readers: existence checks and JSON with errors that name the path.
import { readFile, stat } from 'node:fs/promises';
import { ModelLoadError } from '../errors.js';

/** Whether a path exists (file or folder). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Parse a JSON file.
 * @throws ModelLoadError FILE_MISSING when absent, MANIFEST_INVALID when it is not JSON.
 */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ModelLoadError('FILE_MISSING', path, `${path} is missing`, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError('MANIFEST_INVALID', path, `${path} is not valid JSON (${reason})`, { cause: error });
  }
}

/** A JSON object file, or `{}` when the file is absent. @throws ModelLoadError when present but not JSON. */
export async function optionalJson(path: string): Promise<Record<string, unknown>> {
  if (!(await exists(path))) return {};
  const value = await readJson(path);
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
}
