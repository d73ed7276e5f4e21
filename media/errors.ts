// Owns MediaError: the one error class thrown by the media plumbing (frames, ffmpeg, images).

/** What went wrong, as a stable string a caller can branch on. */
export type MediaErrorCode =
  /** The input file does not exist. */
  | 'NOT_FOUND'
  /** The file exists but is not a video or image that ffmpeg / sharp can read. */
  | 'UNREADABLE'
  /** ffmpeg or ffprobe exited with an error while working on a readable input. */
  | 'FFMPEG_FAILED'
  /** A caller passed a value outside what the function accepts (odd size for H.264, partial frame, ...). */
  | 'INVALID_ARGUMENT'
  /** The object is in the wrong state for the call (append after finish, read after dispose, ...). */
  | 'INVALID_STATE'
  /** A file-system operation on a frame store or output file failed. */
  | 'IO_FAILED';

/** An error from the media plumbing; `path` names the file involved when there is one. */
export class MediaError extends Error {
  override readonly name = 'MediaError';

  constructor(
    readonly code: MediaErrorCode,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(path === undefined ? message : `${message} (${path})`, options);
  }
}
