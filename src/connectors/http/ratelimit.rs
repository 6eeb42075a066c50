//! A token bucket per connector: every call of a run waits its turn, so a vendor's published
//! limit is respected however many steps run at once.

use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The bucket's arithmetic, separate from the clock so it can be tested without waiting.
#[derive(Debug)]
pub struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn new(per_second: f64, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second,
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes a token at `now`, or says how long to wait before one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.per_second,
            ))
        }
    }
}

/// A bucket shared by every call of one connector (none: no limit).
pub struct RateLimiter(Option<Mutex<Bucket>>);

impl RateLimiter {
    pub fn new(limit: Option<(f64, u32)>) -> Self {
        Self(limit.map(|(rate, burst)| Mutex::new(Bucket::new(rate, burst, Instant::now()))))
    }

    /// Waits until a call may be made.
    pub async fn acquire(&self) {
        let Some(bucket) = &self.0 else { return };
        loop {
            let wait = match bucket.lock().await.take(Instant::now()) {
                Ok(()) => return,
                Err(wait) => wait,
            };
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_the_sustained_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(2.0, 3, t0);
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        assert!(b.take(t0).is_ok());
        let wait = b.take(t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later one token has come back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert!(b.take(t1).is_ok());
        assert!(b.take(t1).is_err());
        // A long pause refills to the burst size, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(b.take(t2).is_ok());
        }
        assert!(b.take(t2).is_err());
    }
}
