/**
 * Typed errors shared by every `@dirac` package. Each has a stable `code` so that callers and the CLI can
 * branch on the kind of failure without parsing messages.
 */

/** Base class of every error thrown on purpose by `@dirac` packages. */
export class DiracError extends Error {
  /** A stable, machine-readable identifier of the kind of failure. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A tensor or argument has the wrong shape, rank or size. */
export class ShapeError extends DiracError {
  constructor(message: string) {
    super('E_SHAPE', message);
  }
}

/** A model spec is malformed, or disagrees with the tensors given for it. */
export class SpecError extends DiracError {
  constructor(message: string) {
    super('E_SPEC', message);
  }
}

/** A parameter tensor the spec requires is absent from the tensor map. */
export class MissingTensorError extends DiracError {
  readonly tensorName: string;
  constructor(tensorName: string, context = '') {
    super('E_MISSING_TENSOR', `missing tensor '${tensorName}'${context ? ` ${context}` : ''}`);
    this.tensorName = tensorName;
  }
}

/** fold() output disagrees with the training form by more than the tolerance. */
export class FoldVerificationError extends DiracError {
  constructor(message: string) {
    super('E_FOLD_VERIFY', message);
  }
}

/** The requested backend could not be initialised, or a GPU was required and not obtained. */
export class BackendError extends DiracError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND', message, options);
  }
}

/** A safetensors file is malformed. `reason` says which check failed. */
export class SafetensorsError extends DiracError {
  readonly reason:
    | 'truncated'
    | 'header-too-large'
    | 'bad-header'
    | 'bad-offsets'
    | 'overlap'
    | 'out-of-range'
    | 'unknown-dtype';
  constructor(reason: SafetensorsError['reason'], message: string) {
    super(`E_SAFETENSORS_${reason.toUpperCase().replaceAll('-', '_')}`, message);
    this.reason = reason;
  }
}

/** Input data (a dataset file, an image, a checkpoint) is malformed or unreadable. */
export class DataError extends DiracError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_DATA', message, options);
  }
}

/** A value given by the user (an option, a name, a path) is invalid. */
export class UsageError extends DiracError {
  constructor(message: string) {
    super('E_USAGE', message);
  }
}
