//! When a request must be answered: pure date arithmetic over the rules of each regime.
//!
//! A period is either calendar months or calendar days. Months follow GDPR Art. 12(3) as the
//! EDPB reads it: the same day number in the next month, or that month's last day when it has
//! no such day (31 January + 1 month = 28 or 29 February). Arithmetic happens in the offset the
//! request was received in, so "one month" means the person's calendar, not UTC's.
//!
//! An extension is added to the original period (GDPR: +2 months, so 3 months in all) and must
//! carry a reason, which the report records. A playbook may define its own policies under
//! `deadlines:` (or override a built-in one by using its name).

use crate::playbook::model::DeadlinePolicy;
use jiff::tz::{Offset, TimeZone};
use jiff::{Span, Timestamp, ToSpan, Zoned};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// A length of time in the law's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Months(u32),
    Days(u32),
}

impl Period {
    fn span(self) -> Span {
        match self {
            Period::Months(m) => i64::from(m).months(),
            Period::Days(d) => i64::from(d).days(),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Months(1) => f.write_str("1 month"),
            Period::Months(m) => write!(f, "{m} months"),
            Period::Days(1) => f.write_str("1 day"),
            Period::Days(d) => write!(f, "{d} days"),
        }
    }
}

/// A regime's deadline rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub period: Period,
    /// How much longer the controller may take, with a reason; `None` when the law allows none.
    pub extension: Option<Period>,
}

/// Regimes dsr knows without configuration.
pub const BUILTIN: [&str; 6] = ["gdpr", "uk_gdpr", "ccpa", "lgpd", "pipeda", "vcdpa"];

/// The default when neither the playbook nor `--regulation` names one.
pub const DEFAULT_REGULATION: &str = "gdpr";

pub fn builtin(name: &str) -> Option<Policy> {
    let (period, extension) = match name {
        "gdpr" | "uk_gdpr" => (Period::Months(1), Some(Period::Months(2))),
        "ccpa" | "vcdpa" => (Period::Days(45), Some(Period::Days(45))),
        "lgpd" => (Period::Days(15), None),
        "pipeda" => (Period::Days(30), Some(Period::Days(30))),
        _ => return None,
    };
    Some(Policy {
        name: name.to_string(),
        period,
        extension,
    })
}

/// Why a policy from the playbook is not usable (validation reports these with a location).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("give exactly one of `days` or `months`")]
    PeriodCount,
    #[error("give at most one of `extension_days` or `extension_months`")]
    ExtensionCount,
    #[error("a period must be at least 1")]
    Zero,
    #[error("a period must be at most 366 days or 12 months")]
    TooLong,
}

fn checked(p: Period) -> Result<Period, PolicyError> {
    match p {
        Period::Days(0) | Period::Months(0) => Err(PolicyError::Zero),
        Period::Days(d) if d > 366 => Err(PolicyError::TooLong),
        Period::Months(m) if m > 12 => Err(PolicyError::TooLong),
        p => Ok(p),
    }
}

/// Turns a playbook `deadlines:` entry into a policy.
pub fn from_playbook(name: &str, raw: &DeadlinePolicy) -> Result<Policy, PolicyError> {
    let period = match (raw.days, raw.months) {
        (Some(d), None) => Period::Days(d),
        (None, Some(m)) => Period::Months(m),
        _ => return Err(PolicyError::PeriodCount),
    };
    let extension = match (raw.extension_days, raw.extension_months) {
        (Some(d), None) => Some(checked(Period::Days(d))?),
        (None, Some(m)) => Some(checked(Period::Months(m))?),
        (None, None) => None,
        _ => return Err(PolicyError::ExtensionCount),
    };
    Ok(Policy {
        name: name.to_string(),
        period: checked(period)?,
        extension,
    })
}

/// Finds a policy: the playbook's own first (so it may override a built-in), then built-ins.
pub fn lookup(name: &str, custom: &BTreeMap<String, DeadlinePolicy>) -> Option<Policy> {
    match custom.get(name) {
        Some(raw) => from_playbook(name, raw).ok(),
        None => builtin(name),
    }
}

/// The moment a request was received, with the offset it was given in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub at: Timestamp,
    pub offset: Offset,
}

impl Received {
    pub fn now() -> Self {
        Self {
            at: Timestamp::now(),
            offset: Offset::UTC,
        }
    }

    fn zoned(&self) -> Zoned {
        self.at.to_zoned(TimeZone::fixed(self.offset))
    }

    /// RFC 3339 in the offset it was received in.
    pub fn rfc3339(&self) -> String {
        self.at.display_with_offset(self.offset).to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{0}' is not an RFC 3339 date or date-time with an explicit offset (e.g. 2026-01-31 or 2026-01-31T09:30:00+01:00)"
)]
pub struct ReceivedError(pub String);

/// Parses `--received`: a date (midnight UTC) or a date-time with `Z` or a numeric offset.
/// A date-time without an offset is refused: guessing the zone could move the deadline a day.
pub fn parse_received(text: &str) -> Result<Received, ReceivedError> {
    let text = text.trim();
    let err = || ReceivedError(text.to_string());
    if text.len() == 10 {
        let date: jiff::civil::Date = text.parse().map_err(|_| err())?;
        let at = date.to_zoned(TimeZone::UTC).map_err(|_| err())?.timestamp();
        return Ok(Received {
            at,
            offset: Offset::UTC,
        });
    }
    // RFC 3339 ends in `Z` or `±HH:MM`; jiff's Timestamp parser insists on one of them.
    let at: Timestamp = text.parse().map_err(|_| err())?;
    let offset = match text.get(text.len().saturating_sub(6)..) {
        Some(tail) if tail.starts_with(['+', '-']) && tail.as_bytes().get(3) == Some(&b':') => {
            let sign = if tail.starts_with('-') { -1 } else { 1 };
            let hours: i32 = tail[1..3].parse().map_err(|_| err())?;
            let minutes: i32 = tail[4..6].parse().map_err(|_| err())?;
            Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).map_err(|_| err())?
        }
        _ if text.ends_with(['Z', 'z']) => Offset::UTC,
        _ => return Err(err()),
    };
    Ok(Received { at, offset })
}

/// The deadline of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub policy: Policy,
    pub received: Received,
    pub due: Timestamp,
    /// Set when the deadline was extended; the reason is recorded in the report.
    pub extension_reason: Option<String>,
    /// When the extension was decided (GDPR Art. 12(3): within the original period).
    pub extension_decided: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadlineError {
    #[error("{0} allows no extension of its deadline")]
    NoExtension(String),
    #[error("the deadline falls outside the supported range of dates")]
    Range,
}

/// Computes the due moment: received + period (+ extension when a reason is given).
pub fn due(
    policy: &Policy,
    received: &Received,
    extension_reason: Option<&str>,
) -> Result<Deadline, DeadlineError> {
    let mut span = policy.period.span();
    if extension_reason.is_some() {
        let ext = policy
            .extension
            .ok_or_else(|| DeadlineError::NoExtension(policy.name.clone()))?;
        // Added to the original moment as one span, so Jan 31 + 1 month + 2 months is Apr 30
        // (3 months from receipt), not the 28th carried over from February.
        span = match (policy.period, ext) {
            (Period::Months(a), Period::Months(b)) => Period::Months(a + b).span(),
            (Period::Days(a), Period::Days(b)) => Period::Days(a + b).span(),
            (Period::Months(m), Period::Days(d)) | (Period::Days(d), Period::Months(m)) => {
                Span::new()
                    .try_months(i64::from(m))
                    .and_then(|s| s.try_days(i64::from(d)))
                    .map_err(|_| DeadlineError::Range)?
            }
        };
    }
    let at = received
        .zoned()
        .checked_add(span)
        .map_err(|_| DeadlineError::Range)?;
    Ok(Deadline {
        policy: policy.clone(),
        received: received.clone(),
        due: at.timestamp(),
        extension_reason: extension_reason.map(str::to_string),
        extension_decided: None,
    })
}

/// The due moment without any extension: the end of the period in which the person must be
/// told of an extension, and why (GDPR Art. 12(3)).
pub fn original_due(d: &Deadline) -> Result<Timestamp, DeadlineError> {
    Ok(due(&d.policy, &d.received, None)?.due)
}

fn days(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_second() - from.as_second()).div_euclid(86_400)
}

fn day(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d").to_string()
}

/// What the operator must hear about a new request's deadline: that it is overdue already
/// (received long ago), or will be by the time it runs (`runs_at`, a queued request's
/// `--not-before`). Empty when it can still be answered in time.
pub fn warnings(d: &Deadline, now: Timestamp, runs_at: Option<Timestamp>) -> Vec<String> {
    let mut out = Vec::new();
    if now > d.due {
        out.push(format!(
            "this request is already overdue: received {}, due {}, {} days late",
            day(d.received.at),
            day(d.due),
            days(d.due, now).max(1)
        ));
    } else if let Some(at) = runs_at.filter(|at| *at > d.due) {
        out.push(format!(
            "this request will be overdue when it runs: due {}, it runs from {}, {} days late",
            day(d.due),
            day(at),
            days(d.due, at).max(1)
        ));
    }
    out
}

impl Deadline {
    /// The due moment in the offset the request was received in.
    pub fn due_rfc3339(&self) -> String {
        self.due
            .display_with_offset(self.received.offset)
            .to_string()
    }

    /// Whether an answer at `completed` is on time (the due moment itself still counts).
    pub fn met_by(&self, completed: Timestamp) -> bool {
        completed <= self.due
    }
}

/// Whole days from `now` until `due`, rounded towards the past: 0 on the due day, negative once
/// it has passed.
pub fn days_left(due: Timestamp, now: Timestamp) -> i64 {
    let secs = due.as_second() - now.as_second();
    secs.div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(s: &str) -> Received {
        parse_received(s).unwrap()
    }

    fn due_of(policy: &str, recv: &str, ext: Option<&str>) -> String {
        due(&builtin(policy).unwrap(), &received(recv), ext)
            .unwrap()
            .due_rfc3339()
    }

    #[test]
    fn gdpr_month_ends_and_leap_years() {
        let table = [
            ("2026-01-15", "2026-02-15T00:00:00+00:00"),
            ("2026-01-31", "2026-02-28T00:00:00+00:00"),
            ("2028-01-31", "2028-02-29T00:00:00+00:00"),
            ("2028-01-29", "2028-02-29T00:00:00+00:00"),
            ("2026-03-31", "2026-04-30T00:00:00+00:00"),
            ("2026-12-31", "2027-01-31T00:00:00+00:00"),
            ("2026-02-28", "2026-03-28T00:00:00+00:00"),
            ("2100-01-31", "2100-02-28T00:00:00+00:00"),
            ("2000-01-31", "2000-02-29T00:00:00+00:00"),
        ];
        for (recv, want) in table {
            assert_eq!(due_of("gdpr", recv, None), want, "{recv}");
            assert_eq!(due_of("uk_gdpr", recv, None), want, "{recv}");
        }
    }

    #[test]
    fn months_are_counted_in_the_offset_received() {
        // 23:30 on Jan 31 in Berlin is Jan 31 locally, though Jan 31 22:30 UTC too; but
        // 00:30 on Feb 1 in Berlin is still Jan 31 in UTC: the person's calendar decides.
        assert_eq!(
            due_of("gdpr", "2026-02-01T00:30:00+01:00", None),
            "2026-03-01T00:30:00+01:00"
        );
        assert_eq!(
            due_of("gdpr", "2026-01-31T23:30:00Z", None),
            "2026-02-28T23:30:00+00:00"
        );
    }

    #[test]
    fn extensions_add_to_the_original_period() {
        let table = [
            ("gdpr", "2026-01-31", "2026-04-30T00:00:00+00:00"),
            ("gdpr", "2026-11-30", "2027-02-28T00:00:00+00:00"),
            ("ccpa", "2026-01-01", "2026-04-01T00:00:00+00:00"),
            ("pipeda", "2026-01-01", "2026-03-02T00:00:00+00:00"),
            ("vcdpa", "2026-01-01", "2026-04-01T00:00:00+00:00"),
        ];
        for (policy, recv, want) in table {
            assert_eq!(
                due_of(policy, recv, Some("many systems")),
                want,
                "{policy} {recv}"
            );
        }
        assert_eq!(
            due(
                &builtin("lgpd").unwrap(),
                &received("2026-01-01"),
                Some("x")
            ),
            Err(DeadlineError::NoExtension("lgpd".into()))
        );
    }

    #[test]
    fn day_counts() {
        let table = [
            ("ccpa", "2026-01-01", "2026-02-15T00:00:00+00:00"),
            ("ccpa", "2028-02-01", "2028-03-17T00:00:00+00:00"),
            ("vcdpa", "2026-12-01", "2027-01-15T00:00:00+00:00"),
            ("lgpd", "2026-12-20", "2027-01-04T00:00:00+00:00"),
            ("pipeda", "2026-02-01", "2026-03-03T00:00:00+00:00"),
            ("pipeda", "2028-02-01", "2028-03-02T00:00:00+00:00"),
        ];
        for (policy, recv, want) in table {
            assert_eq!(due_of(policy, recv, None), want, "{policy} {recv}");
        }
    }

    #[test]
    fn custom_policies_from_the_playbook() {
        let mut custom = BTreeMap::new();
        custom.insert(
            "house".to_string(),
            DeadlinePolicy {
                days: Some(10),
                extension_days: Some(5),
                ..Default::default()
            },
        );
        custom.insert(
            "gdpr".to_string(),
            DeadlinePolicy {
                months: Some(2),
                ..Default::default()
            },
        );
        let house = lookup("house", &custom).unwrap();
        assert_eq!(
            due(&house, &received("2026-01-01"), Some("r"))
                .unwrap()
                .due_rfc3339(),
            "2026-01-16T00:00:00+00:00"
        );
        // A playbook entry overrides the built-in of the same name.
        assert_eq!(lookup("gdpr", &custom).unwrap().period, Period::Months(2));
        assert_eq!(lookup("ccpa", &custom).unwrap().period, Period::Days(45));
        assert_eq!(lookup("nope", &custom), None);
        let bad = |p: DeadlinePolicy| from_playbook("x", &p).unwrap_err();
        assert_eq!(bad(DeadlinePolicy::default()), PolicyError::PeriodCount);
        assert_eq!(
            bad(DeadlinePolicy {
                days: Some(1),
                months: Some(1),
                ..Default::default()
            }),
            PolicyError::PeriodCount
        );
        assert_eq!(
            bad(DeadlinePolicy {
                days: Some(0),
                ..Default::default()
            }),
            PolicyError::Zero
        );
        assert_eq!(
            bad(DeadlinePolicy {
                days: Some(400),
                ..Default::default()
            }),
            PolicyError::TooLong
        );
        assert_eq!(
            bad(DeadlinePolicy {
                days: Some(4),
                extension_days: Some(1),
                extension_months: Some(1),
                ..Default::default()
            }),
            PolicyError::ExtensionCount
        );
    }

    #[test]
    fn received_must_name_its_offset() {
        assert_eq!(
            received("2026-01-31").rfc3339(),
            "2026-01-31T00:00:00+00:00"
        );
        assert_eq!(
            received("2026-01-31T09:30:00+05:30").rfc3339(),
            "2026-01-31T09:30:00+05:30"
        );
        assert_eq!(
            received("2026-01-31T09:30:00Z").rfc3339(),
            "2026-01-31T09:30:00+00:00"
        );
        for bad in [
            "2026-01-31T09:30:00",
            "31/01/2026",
            "2026-02-30",
            "",
            "tomorrow",
        ] {
            assert!(parse_received(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn warnings_for_requests_overdue_now_or_when_they_run() {
        let d = due(&builtin("gdpr").unwrap(), &received("2026-01-31"), None).unwrap();
        let before: Timestamp = "2026-02-10T00:00:00Z".parse().unwrap();
        assert!(warnings(&d, before, None).is_empty());
        let late: Timestamp = "2026-03-10T12:00:00Z".parse().unwrap();
        assert_eq!(
            warnings(&d, late, None),
            ["this request is already overdue: received 2026-01-31, due 2026-02-28, 10 days late"]
        );
        let runs: Timestamp = "2026-03-02T00:00:00Z".parse().unwrap();
        assert_eq!(
            warnings(&d, before, Some(runs)),
            [
                "this request will be overdue when it runs: due 2026-02-28, it runs from 2026-03-02, 2 days late"
            ]
        );
        assert!(warnings(&d, before, Some(before)).is_empty());
        let extended = due(
            &builtin("gdpr").unwrap(),
            &received("2026-01-31"),
            Some("x"),
        )
        .unwrap();
        assert_eq!(original_due(&extended).unwrap(), d.due);
    }

    #[test]
    fn deadline_met_and_days_left() {
        let d = due(&builtin("ccpa").unwrap(), &received("2026-01-01"), None).unwrap();
        assert!(d.met_by(d.due));
        assert!(!d.met_by(d.due + 1.second()));
        let now: Timestamp = "2026-02-13T12:00:00Z".parse().unwrap();
        assert_eq!(days_left(d.due, now), 1);
        let later: Timestamp = "2026-02-15T00:00:01Z".parse().unwrap();
        assert_eq!(days_left(d.due, later), -1);
        assert_eq!(days_left(d.due, d.due), 0);
    }
}
