//! The doctor's count of the tunnel slots this user's eic-ssh processes hold on the
//! target's endpoint (route::slots): how close this machine is to the endpoint's quota.

use super::checks::{Check, Status};
use crate::route::slots::{QUOTA, Slots};

/// Held slots from which the line warns (!): a `run` or an Ansible play beside them waits.
pub const NEAR: usize = QUOTA - 4;

/// How many slots this user holds on `endpoint_id` now; `None` when slots are not kept here.
pub fn held(endpoint_id: &str) -> Option<usize> {
    Slots::of(endpoint_id).map(|s| s.held())
}

/// The checklist line for `held` slots on `endpoint_id` (✓, or ! when near the quota).
pub fn check(endpoint_id: &str, held: usize) -> Check {
    let near = held >= NEAR;
    Check {
        check: "slots",
        status: if near { Status::Warn } else { Status::Ok },
        summary: format!(
            "your eic-ssh processes hold {held} of {endpoint_id}'s {QUOTA} connections on this machine"
        ),
        fix: near.then(|| {
            "close idle sessions, proxies or ControlMaster masters (`ssh -O exit HOST`); new tunnels wait for a free slot".to_string()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_the_quota_it_warns() {
        assert_eq!(check("eice-1", 3).status, Status::Ok);
        let c = check("eice-1", NEAR);
        assert_eq!(c.status, Status::Warn);
        assert!(c.fix.is_some());
    }
}
