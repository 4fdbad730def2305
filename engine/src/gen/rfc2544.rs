//! RFC 2544 §26.1 throughput: the highest offered rate at which the device
//! forwards every frame (or loses at most a set fraction), found by a
//! binary search over trials at fixed rates.
//!
//! The search itself is pure (a trial is a closure), so it is tested
//! without sockets.

/// Search bounds and stop condition.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Lowest rate tried (pps).
    pub min: u64,
    /// Highest rate tried (pps).
    pub max: u64,
    /// Stop when `hi - lo <= resolution * hi` (a fraction, e.g. 0.01).
    pub resolution: f64,
    /// Give up after this many trials (the answer so far stands).
    pub max_trials: usize,
    /// The caller already knows `max` fails (a line-rate trial lost
    /// frames), so it is not tried again.
    pub max_fails: bool,
}

/// The answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// Highest rate that passed, if any did.
    pub best: Option<u64>,
    /// Every trial: (rate, passed), in order.
    pub trials: Vec<(u64, bool)>,
    /// The final interval [lo, hi].
    pub lo: u64,
    pub hi: u64,
    /// The search stopped early (aborted or out of trials).
    pub incomplete: bool,
}

/// Runs the search; `trial(rate)` returns whether the trial at `rate`
/// passed, or `None` to abort (Ctrl-C).
pub fn search(b: Bounds, mut trial: impl FnMut(u64) -> Option<bool>) -> Outcome {
    let min = b.min.max(1);
    let max = b.max.max(min);
    let mut out = Outcome {
        best: None,
        trials: Vec::new(),
        lo: min,
        hi: max,
        incomplete: false,
    };
    let mut run = |rate: u64, out: &mut Outcome| -> Option<bool> {
        if out.trials.len() >= b.max_trials {
            out.incomplete = true;
            return None;
        }
        let r = trial(rate);
        match r {
            Some(p) => out.trials.push((rate, p)),
            None => out.incomplete = true,
        }
        r
    };
    if !b.max_fails {
        match run(max, &mut out) {
            Some(true) => {
                out.best = Some(max);
                out.lo = max;
                return out;
            }
            Some(false) => {}
            None => return out,
        }
    }
    // Invariant: hi failed; lo passed or is the untried minimum.
    let (mut lo, mut hi) = (min, max);
    while (hi - lo) as f64 > b.resolution * hi as f64 && hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        match run(mid, &mut out) {
            Some(true) => {
                lo = mid;
                out.best = Some(mid);
            }
            Some(false) => hi = mid,
            None => break,
        }
    }
    out.lo = lo;
    out.hi = hi;
    if out.best.is_none() && !out.incomplete && lo == min && hi != min {
        // Everything tried failed: does the minimum itself pass?
        if let Some(true) = run(min, &mut out) {
            out.best = Some(min);
        } else {
            out.hi = min;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(min: u64, max: u64, res: f64) -> Bounds {
        Bounds {
            min,
            max,
            resolution: res,
            max_trials: 64,
            max_fails: false,
        }
    }

    #[test]
    fn finds_the_threshold_within_resolution() {
        for threshold in [1_000u64, 123_456, 499_999, 500_000, 777_777, 999_999] {
            let o = search(bounds(1_000, 1_000_000, 0.01), |r| Some(r <= threshold));
            let best = o.best.unwrap();
            assert!(best <= threshold, "{threshold}: {best} passed beyond it");
            assert!(
                (threshold - best) as f64 <= 0.01 * 1_000_000.0,
                "{threshold}: {best} too far, trials {:?}",
                o.trials
            );
            assert!(o.trials.len() <= 25, "{:?}", o.trials);
            // every pass is ≤ threshold, every fail above it
            for &(r, p) in &o.trials {
                assert_eq!(p, r <= threshold);
            }
        }
    }

    #[test]
    fn max_passing_ends_at_once() {
        let o = search(bounds(1_000, 500_000, 0.01), |_| Some(true));
        assert_eq!(o.best, Some(500_000));
        assert_eq!(o.trials, vec![(500_000, true)]);
    }

    #[test]
    fn nothing_passes() {
        let o = search(bounds(1_000, 500_000, 0.05), |_| Some(false));
        assert_eq!(o.best, None);
        assert_eq!(o.trials.last(), Some(&(1_000, false)));
        assert!(!o.incomplete);
    }

    #[test]
    fn known_failing_max_is_not_retried() {
        let mut b = bounds(10, 1_000, 0.01);
        b.max_fails = true;
        let o = search(b, |r| Some(r <= 600));
        assert!(o.trials.iter().all(|&(r, _)| r != 1_000));
        assert!(o.best.unwrap() >= 590);
    }

    #[test]
    fn abort_and_trial_limit() {
        let mut n = 0;
        let o = search(bounds(1, 1_000_000, 0.0001), |r| {
            n += 1;
            (n < 4).then_some(r < 300_000)
        });
        assert!(o.incomplete);
        assert_eq!(o.trials.len(), 3);
        let mut b = bounds(1, 1_000_000, 0.0);
        b.max_trials = 5;
        let o = search(b, |r| Some(r < 300_000));
        assert!(o.incomplete);
        assert_eq!(o.trials.len(), 5);
    }
}
