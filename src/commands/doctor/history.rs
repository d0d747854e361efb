//! The doctor's one check of the audit trail: whether these credentials may read
//! CloudTrail's event history (`cloudtrail:LookupEvents`), which `eic-ssh audit` needs.
//! Only auditors need it, so a refusal is worth knowing (!), never a failure.

use super::checks::{Check, Status};
use crate::aws::cloudtrail::{self, Window};
use crate::aws::{AwsContext, AwsError};
use crate::error::Failure;

/// One LookupEvents call asking for a single event of the last hour.
pub async fn check(aws: &AwsContext) -> Check {
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
    let window = Window {
        start: now - 3600,
        end: now,
    };
    let (status, summary, fix) = match cloudtrail::probe(aws, window).await {
        Ok(()) => (
            Status::Ok,
            format!(
                "these credentials may read CloudTrail's history in {} (eic-ssh audit)",
                aws.region
            ),
            None,
        ),
        Err(AwsError::Service { code, .. })
            if matches!(code.as_str(), "AccessDenied" | "AccessDeniedException") =>
        {
            (
                Status::Warn,
                "these credentials may not read CloudTrail's history: eic-ssh audit will be refused"
                    .to_string(),
                Some(
                    "for auditors: allow cloudtrail:LookupEvents (docs/aws-setup.md, \"Auditors\")"
                        .to_string(),
                ),
            )
        }
        Err(e) => (
            Status::Warn,
            format!(
                "CloudTrail's history could not be read: {}",
                Failure::from(e).message
            ),
            None,
        ),
    };
    Check {
        check: "audit-history",
        status,
        summary,
        fix,
    }
}
