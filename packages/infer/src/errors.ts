/**
 * Typed errors of @dirac/infer. Each extends @dirac/core's {@link DiracError} (so `instanceof DiracError`
 * and the stable `code` work as everywhere else in the project); messages say what to do.
 */
import { DiracError } from '@dirac/core';

/** A downloaded, cached or local file does not have the size or sha256 that model.json (or the zoo) lists. */
export class IntegrityError extends DiracError {
  /** The file (path or URL) that failed the check. */
  readonly file: string;
  /** Which check failed. */
  readonly reason: 'sha256' | 'size' | 'unlisted';
  constructor(file: string, reason: IntegrityError['reason'], message: string) {
    super('E_INTEGRITY', message);
    this.file = file;
    this.reason = reason;
  }
}

/** A training-form model was given to the runtime, which only runs folded models. */
export class TrainingFormError extends DiracError {
  constructor(message: string) {
    super('E_TRAINING_FORM', message);
  }
}

/** A model file could not be downloaded (network error, HTTP error, or offline with nothing cached). */
export class DownloadError extends DiracError {
  /** The URL that failed. */
  readonly url: string;
  /** HTTP status when the server answered, else undefined. */
  readonly status: number | undefined;
  constructor(url: string, message: string, options: { status?: number; cause?: unknown } = {}) {
    super('E_DOWNLOAD', message, { cause: options.cause });
    this.url = url;
    this.status = options.status;
  }
}

/** An image input is empty, of a kind the runtime cannot read, or cannot be decoded. */
export class ImageError extends DiracError {
  /** Why the image was refused. */
  readonly reason: 'zero-size' | 'unsupported' | 'corrupt';
  constructor(reason: ImageError['reason'], message: string, options?: { cause?: unknown }) {
    super(`E_IMAGE_${reason.toUpperCase().replace('-', '_')}`, message, options);
    this.reason = reason;
  }
}
