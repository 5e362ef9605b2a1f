// Loaded with `node --import` (NODE_OPTIONS) into a CLI process to give it a clock that runs
// REGBUCKET_TEST_CLOCK_SHIFT_MS ahead (negative: behind) of the machine's: Date.now() and
// `new Date()` move, file times and the storage's clocks do not.
const shift = Number(process.env.REGBUCKET_TEST_CLOCK_SHIFT_MS || 0);
if (shift) {
  const RealDate = Date;
  const realNow = RealDate.now;
  class ShiftedDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(realNow() + shift);
      else super(...args);
    }
    static now() {
      return realNow() + shift;
    }
  }
  globalThis.Date = ShiftedDate;
}
