// Wall-clock time in ms with sub-ms resolution, comparable between the bench's processes (a send's timestamp is
// taken in one process and its receipt in another). performance.timeOrigin is the wall clock when the process
// started, so after a clock step (an NTP or VM clock resync) processes started on either side of it disagree by
// the step: one full run saw every latency 5.3 s high. The time is re-anchored to Date.now() when the two drift
// more than 2 ms apart, keeping performance.now()'s resolution between steps.
let anchor = performance.timeOrigin;

export function nowMs() {
  const elapsed = performance.now();
  const wall = Date.now();
  if (Math.abs(wall - (anchor + elapsed)) > 2) anchor = wall - elapsed;
  return anchor + elapsed;
}
