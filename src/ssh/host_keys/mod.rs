//! Host keys: the known_hosts file (`known_hosts`) and the policy applied to the key a
//! server presents (`policy`).

pub mod known_hosts;
pub mod policy;

pub use known_hosts::{
    Known, changed_warning, file, fingerprint, from_console, host_name, learn, lookup, lookup_in,
    type_label,
};
pub use policy::{HostKeyCheck, Policy, verify};
