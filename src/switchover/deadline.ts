import { ExitCode, FerryError } from '../errors.js';

/** The time `--timeout` leaves for the steps before the point of no return. */
export class Deadline {
  private readonly at: number;

  constructor(seconds: number) {
    this.at = Date.now() + seconds * 1000;
  }

  /** Seconds left, never below a tenth (a wait given 0 would not even look once). */
  remaining(): number {
    return Math.max((this.at - Date.now()) / 1000, 0.1);
  }

  /**
   * The step's result, or a timeout error once the deadline passes first.
   * The step itself is left to finish or fail on its own: the switchover is
   * aborted either way and the process exits.
   */
  async race<T>(step: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(timeoutError(step)), Math.max(this.at - Date.now(), 0));
    });
    try {
      return await Promise.race([work, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export function timeoutError(step: string): FerryError {
  return new FerryError('FERRY_SWITCHOVER_TIMEOUT', `step ${step} did not finish within --timeout`, 'find out what holds it up ("ferry status"), then run the switchover again, perhaps with a longer --timeout',
    { exitCode: ExitCode.timeout });
}
