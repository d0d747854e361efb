//! The one jittered exponential backoff: how long to wait before each new try when a
//! service says "not now" (the endpoint's 20 connections in use, HTTP 429; CloudTrail's
//! ThrottlingException; a full tunnel slot), all waits together within the bound the user
//! set; and between `-N`'s attempts to log in again, which a count of attempts bounds.

use std::time::Duration;

/// The bound when neither `--quota-wait` nor `quota_wait` sets one: about half a minute.
pub const DEFAULT_BOUND: Duration = Duration::from_secs(30);

/// The first wait's ceiling; each later ceiling doubles, up to the cap.
const FIRST: Duration = Duration::from_secs(1);

/// No single "not now" wait is longer: a freed connection should not sit unused for long.
const CEILING: Duration = Duration::from_secs(15);

/// No single wait between reconnections is longer.
const RECONNECT_CEILING: Duration = Duration::from_secs(30);

/// Less than this left of the bound is not worth another try.
const SHORTEST: Duration = Duration::from_millis(100);

/// The waits of one series of tries. Each wait is between half its ceiling and the whole of
/// it ("equal jitter"), so clients refused at the same moment spread out yet all move on;
/// the ceilings double from 1 s up to a cap, and the last wait is cut so that the waits add
/// up to at most the bound.
#[derive(Debug)]
pub struct Backoff {
    /// What the waits may add up to; zero: no try after the first refusal.
    bound: Duration,
    /// What the waits so far add up to.
    waited: Duration,
    /// The ceiling of the next wait.
    ceiling: Duration,
    /// The largest ceiling.
    cap: Duration,
}

impl Backoff {
    /// "Not now" waits (ceilings up to 15 s) that add up to at most `bound`.
    pub fn new(bound: Duration) -> Backoff {
        Backoff {
            bound,
            waited: Duration::ZERO,
            ceiling: FIRST,
            cap: CEILING,
        }
    }

    /// Waits between reconnections: ceilings up to 30 s, as many as there are attempts.
    pub fn reconnecting() -> Backoff {
        Backoff {
            bound: Duration::MAX,
            cap: RECONNECT_CEILING,
            ..Backoff::new(Duration::ZERO)
        }
    }

    /// The next wait, jittered at random; `None` once the bound is used up.
    pub fn next_wait(&mut self) -> Option<Duration> {
        // Not for security: only to spread the tries of many clients.
        self.next_wait_with(rand::random::<f64>())
    }

    /// The next wait, given `jitter` in [0, 1); `None` once the bound is used up.
    fn next_wait_with(&mut self, jitter: f64) -> Option<Duration> {
        let left = self.bound.saturating_sub(self.waited);
        if left < SHORTEST {
            return None;
        }
        let half = self.ceiling / 2;
        let wait = (half + half.mul_f64(jitter.clamp(0.0, 1.0))).min(left);
        self.waited += wait;
        self.ceiling = (self.ceiling * 2).min(self.cap);
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
        std::iter::from_fn(|| b.next_wait_with(jitter)).collect()
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
        // Random jitter stays within half and the whole of each ceiling (the last wait may
        // be cut to what is left of the bound).
        let mut b = Backoff::new(Duration::from_secs(30));
        let mut ceiling = 1.0_f64;
        while let Some(wait) = b.next_wait() {
            let wait = wait.as_secs_f64();
            let left = 30.0 - (b.waited().as_secs_f64() - wait);
            assert!(
                wait <= ceiling && (wait >= ceiling / 2.0 || (wait - left).abs() < 1e-6),
                "{wait}"
            );
            ceiling = (ceiling * 2.0).min(15.0);
        }
        assert!(b.waited() <= Duration::from_secs(30));
        // Between reconnections: 1, 2, 4 … up to 30 s, with no bound but the attempts'.
        let mut r = Backoff::reconnecting();
        let ceilings: Vec<f64> = (0..8)
            .map(|_| r.next_wait_with(0.999_999).unwrap().as_secs_f64().round())
            .collect();
        assert_eq!(ceilings, [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]);
        let mut r = Backoff::reconnecting();
        assert_eq!(r.next_wait_with(0.0), Some(Duration::from_millis(500)));
    }

    #[test]
    fn zero_means_no_try_after_the_first_refusal() {
        assert!(all(0, 0.5).is_empty());
        let mut b = Backoff::new(Duration::from_secs(2));
        assert_eq!(b.next_wait_with(0.0), Some(Duration::from_millis(500)));
        assert_eq!(b.next_wait_with(0.0), Some(Duration::from_secs(1)));
        assert_eq!(
            b.next_wait_with(0.0),
            Some(Duration::from_millis(500)),
            "cut to the bound"
        );
        assert_eq!(b.next_wait_with(0.0), None);
        assert_eq!(b.waited(), Duration::from_secs(2));
    }
}
