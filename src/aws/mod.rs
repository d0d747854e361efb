//! AWS: credentials and region, signed API calls, EC2 reads, endpoint discovery, key push.

pub mod client;
pub mod cloudtrail;
pub mod connections;
pub mod context;
pub mod discovery;
pub mod ec2;
pub mod endpoints;
pub mod environment;
pub mod error;
pub mod iam;
pub mod instance_connect;
pub mod inventory;
pub mod mfa;
pub mod process;
pub mod profile_file;
pub mod ready;
pub mod sdk_http;
pub mod security_groups;
pub mod sso;

pub use context::{AwsChoices, AwsContext};
pub use error::AwsError;
