// Error classes of the models layer: every failure to load or run a model is one of these.

/** Machine-readable reason of a {@link ModelLoadError}. */
export type ModelLoadErrorCode =
  | 'NOT_FOUND' // no package with that name or folder
  | 'FILE_MISSING' // a file the manifest lists (or the layout needs) is absent
  | 'HASH_MISMATCH' // a file's sha256 differs from the manifest
  | 'MANIFEST_INVALID' // skyloom.json is not JSON or breaks the schema
  | 'ONNX_INVALID' // ONNX Runtime could not create a session from the file
  | 'SIGNATURE_MISMATCH' // tensor names, ranks or element types differ from the manifest
  | 'DEVICE_UNAVAILABLE' // the requested execution provider cannot be used
  | 'TOKENIZER_INVALID' // tokenizer.json cannot be parsed
  | 'UNSUPPORTED_OP' // a graph uses an operator the chosen execution provider lacks
  | 'WRONG_FAMILY'; // the folder is a package of another family than asked for

/** Base class of every error thrown by `models/`, with a stable `code`. */
export class ModelError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A model package, or one of its files, cannot be loaded. The message always names the file. */
export class ModelLoadError extends ModelError {
  declare readonly code: ModelLoadErrorCode;
  /** The file or folder at fault. */
  readonly path: string;
  /** For HASH_MISMATCH: the sha256 the manifest lists. */
  readonly expected?: string;
  /** For HASH_MISMATCH: the sha256 of the file on disk. */
  readonly actual?: string;

  constructor(code: ModelLoadErrorCode, path: string, message: string, details: { expected?: string; actual?: string; cause?: unknown } = {}) {
    super(code, message, { cause: details.cause });
    this.path = path;
    this.expected = details.expected;
    this.actual = details.actual;
  }
}

/** A device name outside the supported set; the message lists the valid choices. */
export class UnsupportedDeviceError extends ModelError {
  readonly device: string;

  constructor(device: string, choices: readonly string[]) {
    super('UNSUPPORTED_DEVICE', `Unsupported device "${device}". Should be one of: ${choices.join(', ')}`);
    this.device = device;
  }
}

/** An argument (size, frame count, tensor shape, seed, sampler option) the model cannot accept. */
export class ModelInputError extends ModelError {
  constructor(message: string) {
    super('INVALID_INPUT', message);
  }
}

/** ONNX Runtime failed while running a session that loaded fine. */
export class ModelRunError extends ModelError {
  readonly path: string;

  constructor(path: string, message: string, cause: unknown) {
    super('RUN_FAILED', message, { cause });
    this.path = path;
  }
}
