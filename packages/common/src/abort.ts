// Cancellation: the AbortSignalLike shape Azure's SDKs accept, AbortError, and helpers that bridge any
// AbortSignalLike to a native AbortSignal for fetch and to abortable delays.

/** Anything shaped like the DOM AbortSignal (Azure's `AbortSignalLike`); a native AbortSignal qualifies. */
export interface AbortSignalLike {
  /** Whether the operation has been aborted. */
  readonly aborted: boolean;
  /** The abort reason, if any. */
  readonly reason?: unknown;
  /** Registers an abort listener. */
  addEventListener(type: "abort", listener: (this: AbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
  /** Removes an abort listener. */
  removeEventListener(type: "abort", listener: (this: AbortSignalLike, ev: unknown) => unknown, options?: unknown): void;
}

/** Thrown when an operation is cancelled through its `abortSignal` (name "AbortError", like Azure's). */
export class AbortError extends Error {
  /**
   * Creates an AbortError.
   * @param message - The error message.
   */
  constructor(message = "The operation was aborted.") {
    super(message);
    this.name = "AbortError";
  }
}

/**
 * Resolves after `ms` milliseconds, or rejects with an AbortError as soon as `abortSignal` aborts.
 * @param ms - Delay in milliseconds.
 * @param abortSignal - Optional cancellation signal.
 */
export function abortableDelay(ms: number, abortSignal?: AbortSignalLike): Promise<void> {
  return new Promise((resolve, reject) => {
    if (abortSignal?.aborted) {
      reject(new AbortError());
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError());
    };
    const timer = setTimeout(() => {
      abortSignal?.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    abortSignal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Links an optional caller signal to a fresh AbortController (for one fetch attempt). Call `dispose` afterwards.
 * @param abortSignal - The caller's signal, if any.
 * @param timeoutMs - Optional per-attempt timeout; when it fires, `timedOut` becomes true and the attempt aborts.
 */
export function linkAbortSignal(
  abortSignal: AbortSignalLike | undefined,
  timeoutMs?: number,
): { signal: AbortSignal; dispose: () => void; timedOut: () => boolean } {
  const controller = new AbortController();
  let timedOut = false;
  const onAbort = (): void => controller.abort();
  if (abortSignal?.aborted) controller.abort();
  else abortSignal?.addEventListener("abort", onAbort, { once: true });
  const timer =
    timeoutMs && timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          controller.abort();
        }, timeoutMs)
      : undefined;
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    dispose: () => {
      if (timer !== undefined) clearTimeout(timer);
      abortSignal?.removeEventListener("abort", onAbort);
    },
  };
}
