//! Integration tests, AWS as eic-ssh meets it: credentials and MFA, discovery, presigned URLs
//! against botocore's, the endpoint's quota, answers read within bounds, `doctor` and `audit`.
//! One test binary per surface; the shared harness is tests/common/mod.rs.

#[path = "../common/mod.rs"]
mod common;

mod audit;
mod credentials;
mod discovery;
mod doctor;
mod limits;
mod mfa;
mod presign_vectors;
mod quota;
