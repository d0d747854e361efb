//! The route stage: what one target means (its settings: flags, environment and config file
//! merged once, in `settings`) and where it leads (an instance, an endpoint and the sections
//! bound to that instance, with the egress guard deciding before each step, in `resolve`),
//! then tunnels along it (`open`; a route from the cache confirmed beside its first tunnel,
//! in `recheck`). Commands only wire it to a front end.

pub mod cache;
pub mod open;
pub mod quota;
pub mod recheck;
pub mod resolve;
pub mod road;
pub mod settings;

use std::sync::Arc;

pub use open::{Connector, prepare, prepare_and_open};
pub use resolve::{Destination, resolve};
pub use settings::{Flags, Settings};

use crate::guard::Verdict;
use crate::tunnel::stream::Traffic;

/// What the stages learned about one connection attempt, kept even when a later step
/// fails: the front end builds the attempt's log entry from it.
#[derive(Debug, Default, Clone)]
pub struct Learned {
    /// `log = false` in the config file: the attempt is not logged.
    pub log_off: bool,
    /// The guard's last verdict.
    pub verdict: Option<Verdict>,
    /// The instance id, once known.
    pub instance: Option<String>,
    /// The endpoint id, once known.
    pub endpoint: Option<String>,
    /// `SHA256:…` of the host key the instance presented, once seen.
    pub host_key: Option<String>,
    /// The byte counters of every tunnel opened.
    pub traffic: Vec<Arc<Traffic>>,
}
