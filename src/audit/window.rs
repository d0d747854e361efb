//! The audit's window: `--since DURATION|TIME` and `--until TIME` read against "now",
//! checked against what CloudTrail's event history keeps (90 days).

use crate::aws::cloudtrail::Window;
use crate::error::Failure;

/// How far back the event history goes.
pub const KEPT_DAYS: i64 = 90;

/// The window when `--since` is not given: the last 24 hours.
pub const DEFAULT_SECS: i64 = 24 * 3600;

/// The window for `since` and `until` (as typed) at `now` (Unix seconds): one line per
/// problem, all usage errors.
pub fn window(since: Option<&str>, until: Option<&str>, now: i64) -> Result<Window, Failure> {
    let start = match since {
        None => now - DEFAULT_SECS,
        Some(text) => point(text, now).ok_or_else(|| unreadable("--since", text))?,
    };
    let end = match until {
        None => now,
        Some(text) => point(text, now).ok_or_else(|| unreadable("--until", text))?,
    };
    if start > now {
        return Err(Failure::usage(format!(
            "the window starts in the future ({}): --since must be a time before now ({})",
            format_time(start),
            format_time(now)
        )));
    }
    if end < start {
        return Err(Failure::usage(format!(
            "--until ({}) is before --since ({}): give an --until after the start of the window",
            format_time(end),
            format_time(start)
        )));
    }
    let oldest = now - KEPT_DAYS * 24 * 3600;
    if start < oldest {
        return Err(Failure::usage(format!(
            "CloudTrail keeps {KEPT_DAYS} days of event history: --since {} is older (the oldest readable is {}); for older events query a trail's logs in S3 (Athena) or CloudTrail Lake",
            format_time(start),
            format_time(oldest)
        )));
    }
    // Nothing has happened after now: the window ends there.
    Ok(Window {
        start,
        end: end.min(now),
    })
}

fn unreadable(flag: &str, text: &str) -> Failure {
    Failure::usage(format!(
        "cannot read {flag} {:?}: give a duration before now (30m, 24h, 7d, 2w) or a UTC time (2024-05-01T10:00:00Z, 2024-05-01)",
        crate::printable::escape(text)
    ))
}

/// A duration before `now` (`90s`, `30m`, `24h`, `7d`, `2w`) or an RFC 3339 time, or a
/// date (midnight UTC), in Unix seconds.
pub fn point(text: &str, now: i64) -> Option<i64> {
    let text = text.trim();
    if let Some(secs) = duration(text) {
        return now.checked_sub(secs);
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_string()
    };
    aws_smithy_types::DateTime::from_str(&full, aws_smithy_types::date_time::Format::DateTime)
        .ok()
        .map(|t| t.secs())
}

/// `N` followed by one unit: s, m, h, d or w.
fn duration(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Unix seconds as `2024-05-01T10:00:00Z`.
pub fn format_time(secs: i64) -> String {
    aws_smithy_types::DateTime::from_secs(secs)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_557_600; // 2024-05-01T10:00:00Z

    #[test]
    fn durations_times_and_dates_are_read() {
        assert_eq!(point("24h", NOW), Some(NOW - 86_400));
        assert_eq!(point("2w", NOW), Some(NOW - 14 * 86_400));
        assert_eq!(point("2024-05-01T09:00:00Z", NOW), Some(NOW - 3600));
        assert_eq!(point("2024-05-01", NOW), Some(NOW - 10 * 3600));
        for bad in ["", "h", "24", "24x", "yesterday", "2024-13-01", "-5h"] {
            assert_eq!(point(bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn the_window_defaults_to_a_day_and_is_checked() {
        assert_eq!(
            window(None, None, NOW).unwrap(),
            Window {
                start: NOW - 86_400,
                end: NOW
            }
        );
        let line = |s: Option<&str>, u: Option<&str>| window(s, u, NOW).unwrap_err().message;
        assert!(line(Some("soon"), None).starts_with("cannot read --since \"soon\""));
        assert!(line(None, Some("x")).starts_with("cannot read --until"));
        assert!(
            line(Some("1h"), Some("2h"))
                .starts_with("--until (2024-05-01T08:00:00Z) is before --since")
        );
        assert!(line(Some("2024-06-01"), None).starts_with("the window starts in the future"));
        assert!(line(Some("91d"), None).starts_with("CloudTrail keeps 90 days"));
        assert_eq!(
            window(Some("90d"), Some("2030-01-01"), NOW).unwrap().end,
            NOW
        );
    }
}
