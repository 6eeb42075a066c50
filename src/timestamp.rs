//! One way to write a moment wherever dsr shows or records one: RFC 3339 in UTC, with a `Z`
//! and milliseconds (`2026-12-03T10:25:00.123Z`). Sortable as text, exact enough to order a
//! request's steps, and without the nanoseconds that make reports and tables noisy.

use jiff::Timestamp;

/// `t` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (truncated to the millisecond, so order is kept).
pub fn stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Now, as [`stamp`] writes it.
pub fn now() -> String {
    stamp(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_with_milliseconds() {
        let t: Timestamp = "2026-01-31T09:30:00.123456789+05:30".parse().unwrap();
        assert_eq!(stamp(t), "2026-01-31T04:00:00.123Z");
        let whole: Timestamp = "2026-01-31T00:00:00Z".parse().unwrap();
        assert_eq!(stamp(whole), "2026-01-31T00:00:00.000Z");
        assert!(now().ends_with('Z') && now().len() == 24);
    }
}
