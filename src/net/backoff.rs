//! How long to wait before each new try when a service says "not now" (the endpoint's 20
//! connections in use, HTTP 429; CloudTrail's ThrottlingException): jittered exponential
//! backoff, all waits together within the bound the user set.

use std::time::Duration;

/// The bound when neither `--quota-wait` nor `quota_wait` sets one: about half a minute.
pub const DEFAULT_BOUND: Duration = Duration::from_secs(30);

/// The first wait's ceiling; each later ceiling doubles, up to [`CEILING`].
const FIRST: Duration = Duration::from_secs(1);

/// No single wait is longer: a freed connection should not sit unused for long.
const CEILING: Duration = Duration::from_secs(15);

/// Less than this left of the bound is not worth another try.
const SHORTEST: Duration = Duration::from_millis(100);

/// The waits of one tunnel's tries. Each wait is between half its ceiling and the whole of
/// it ("equal jitter"), so clients refused at the same moment spread out yet all move on; the
/// last one is cut so that the waits add up to at most the bound.
#[derive(Debug)]
pub struct Backoff {
    /// What the waits may add up to; zero: no try after the first refusal.
    bound: Duration,
    /// What the waits so far add up to.
    waited: Duration,
    /// The ceiling of the next wait.
    ceiling: Duration,
}

impl Backoff {
    /// Waits that add up to at most `bound`.
    pub fn new(bound: Duration) -> Backoff {
        Backoff {
            bound,
            waited: Duration::ZERO,
            ceiling: FIRST,
        }
    }

    /// The next wait, given `jitter` in [0, 1); `None` once the bound is used up.
    pub fn next(&mut self, jitter: f64) -> Option<Duration> {
        let left = self.bound.saturating_sub(self.waited);
        if left < SHORTEST {
            return None;
        }
        let half = self.ceiling / 2;
        let wait = (half + half.mul_f64(jitter.clamp(0.0, 1.0))).min(left);
        self.waited += wait;
        self.ceiling = (self.ceiling * 2).min(CEILING);
        Some(wait)
    }

    /// What the waits so far add up to.
    pub fn waited(&self) -> Duration {
        self.waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(bound: u64, jitter: f64) -> Vec<Duration> {
        let mut b = Backoff::new(Duration::from_secs(bound));
        std::iter::from_fn(|| b.next(jitter)).collect()
    }

    #[test]
    fn waits_grow_and_add_up_to_the_bound() {
        let secs = |v: &[Duration]| v.iter().map(|d| d.as_secs_f64()).collect::<Vec<_>>();
        // The longest: the whole of each ceiling, 1, 2, 4, 8, 15 s: half a minute.
        let longest = all(30, 0.999_999);
        let rounded: Vec<f64> = secs(&longest).iter().map(|s| s.round()).collect();
        assert_eq!(rounded, [1.0, 2.0, 4.0, 8.0, 15.0]);
        assert!(longest.iter().sum::<Duration>() <= Duration::from_secs(30));
        // The shortest: half of each ceiling, so more tries fit in the same bound.
        let shortest = all(30, 0.0);
        assert_eq!(secs(&shortest[..5]), [0.5, 1.0, 2.0, 4.0, 7.5]);
        assert_eq!(shortest.iter().sum::<Duration>(), Duration::from_secs(30));
        assert_eq!(shortest.len(), 7, "…7.5, then the 7.5 s left");
    }

    #[test]
    fn zero_means_no_try_after_the_first_refusal() {
        assert!(all(0, 0.5).is_empty());
        let mut b = Backoff::new(Duration::from_secs(2));
        assert_eq!(b.next(0.0), Some(Duration::from_millis(500)));
        assert_eq!(b.next(0.0), Some(Duration::from_secs(1)));
        assert_eq!(
            b.next(0.0),
            Some(Duration::from_millis(500)),
            "cut to the bound"
        );
        assert_eq!(b.next(0.0), None);
        assert_eq!(b.waited(), Duration::from_secs(2));
    }
}
