//! AWS credentials, region and service endpoints for this run, from the standard AWS config chain.

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};

use super::connections::ApiConnections;
use super::endpoints::{self, Service, Variant};
use super::error::AwsError;
use crate::error::{Failure, Kind};

/// Everything needed to sign and send AWS calls.
#[derive(Clone)]
pub struct AwsContext {
    /// The AWS profile chosen (flag, else `AWS_PROFILE`), for messages; `None`: the default
    /// chain's.
    pub profile: Option<String>,
    /// Region of the instance and its endpoint.
    pub region: String,
    /// Credentials provider (env, profiles, SSO, credential_process, IMDS), caching.
    pub credentials: SharedCredentialsProvider,
    /// Use FIPS endpoints and the endpoint's FIPS DNS name.
    pub use_fips: bool,
    /// Use dual-stack (IPv4 and IPv6) API endpoints (`AWS_USE_DUALSTACK_ENDPOINT`, the
    /// profile's `use_dualstack_endpoint`).
    pub use_dualstack: bool,
    /// HTTP client for the SDK's credential providers, on the shared rustls configuration.
    pub http: crate::net::http::Client,
    /// The signed API calls' connections (`connections.rs`).
    pub api: ApiConnections,
    /// Base URL of the EC2 API.
    pub ec2_url: String,
    /// Base URL of the EC2 Instance Connect API.
    pub eic_url: String,
    /// Base URL of STS, for roles that need an MFA code and doctor's GetCallerIdentity.
    pub sts_url: String,
    /// Base URL of IAM (global: one per partition), for doctor's policy simulation; `None`
    /// where the partition offers no IAM host of the variant asked for (the reason is only
    /// doctor's to tell, so it does not stop anything else).
    pub iam_url: Option<String>,
    /// Base URL of CloudTrail, for `audit`'s LookupEvents.
    pub cloudtrail_url: String,
    /// The credentials come from an SSO profile: a failure to get them is fixed by
    /// `aws sso login` (`sso.rs`).
    pub sso: bool,
}

/// Explicit choices from flags; `None` defers to the AWS config chain.
#[derive(Debug, Default, Clone)]
pub struct AwsChoices {
    /// `--profile`.
    pub profile: Option<String>,
    /// `--region`.
    pub region: Option<String>,
}

impl AwsContext {
    /// Whether [`AwsContext::settings`] finds the region without asking the instance
    /// metadata service: from the flag, the environment or the selected profile.
    pub async fn region_is_local(choices: &AwsChoices) -> bool {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        if choices.region.is_some() || set("AWS_REGION") || set("AWS_DEFAULT_REGION") {
            return true;
        }
        super::profile_file::check_files().is_ok()
            && matches!(
                super::profile_file::selected(choices.profile.as_deref()).await,
                Ok(Some(p)) if p.get("region").is_some()
            )
    }

    /// Loads the credentials provider and region: from the environment when the SDK's chain
    /// would take them from there, else through the chain. Sends nothing (credentials are
    /// fetched when first used), unless no region is set anywhere and the SDK asks the
    /// instance metadata service for one.
    pub async fn settings(
        choices: &AwsChoices,
        http: crate::net::http::Client,
        api: ApiConnections,
    ) -> Result<Self, Failure> {
        super::profile_file::check_files()?;
        check_profile_exists(choices.profile.as_deref()).await?;
        let found = super::environment::from_environment(
            choices.profile.as_deref(),
            choices.region.as_deref(),
        )
        .await;
        let (region, credentials, variant, global, sso) = match found {
            Some(env) => {
                tracing::debug!("credentials and region from the environment");
                let credentials = SharedCredentialsProvider::new(env.credentials);
                let variant = Variant {
                    fips: env.use_fips,
                    dual_stack: env.use_dualstack,
                };
                (
                    Some(env.region),
                    credentials,
                    variant,
                    env.endpoint_url,
                    false,
                )
            }
            None => {
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .http_client(super::sdk_http::SdkHttp(http.clone()));
                if let Some(profile) = &choices.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(region) = &choices.region {
                    loader = loader.region(Region::new(region.clone()));
                }
                let sdk = loader.load().await;
                let credentials = match &choices.profile {
                    // A profile named on purpose (flag or config section) gives the
                    // credentials, as `aws --profile` does: keys exported for another
                    // account must not sign these calls.
                    Some(profile) => {
                        let config = ProviderConfig::default()
                            .with_http_client(super::sdk_http::SdkHttp(http.clone()))
                            .with_region(sdk.region().cloned())
                            .with_use_fips(sdk.use_fips())
                            .with_use_dual_stack(sdk.use_dual_stack());
                        SharedCredentialsProvider::new(
                            ProfileFileCredentialsProvider::builder()
                                .configure(&config)
                                .profile_name(profile)
                                .build(),
                        )
                    }
                    None => sdk.credentials_provider().ok_or_else(|| {
                        Failure::new(
                            Kind::Credentials,
                            "no AWS credentials provider could be configured",
                        )
                    })?,
                };
                let region = sdk.region().map(|r| r.to_string());
                let global = sdk.endpoint_url().map(str::to_string);
                let sso = super::sso::uses_sso(choices.profile.as_deref()).await;
                let variant = Variant {
                    fips: sdk.use_fips().unwrap_or(false),
                    dual_stack: sdk.use_dual_stack().unwrap_or(false),
                };
                (region, credentials, variant, global, sso)
            }
        };
        let region = region.ok_or_else(|| {
            Failure::usage(
                "no AWS region: pass --region, set AWS_REGION, or set `region` in your AWS profile",
            )
        })?;
        check_region(&region)?;
        let url = |var: &str, service: Service| match endpoint_url(var, global.as_deref()) {
            Some(url) => Ok(url),
            None => default_url(service, &region, variant, choices.profile.as_deref()),
        };
        let ec2_url = url("AWS_ENDPOINT_URL_EC2", Service::Ec2)?;
        let eic_url = url(
            "AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT",
            Service::InstanceConnect,
        )?;
        let sts_url = url("AWS_ENDPOINT_URL_STS", Service::Sts)?;
        let iam_url = url("AWS_ENDPOINT_URL_IAM", Service::Iam).ok();
        let cloudtrail_url = url("AWS_ENDPOINT_URL_CLOUDTRAIL", Service::CloudTrail)?;
        tracing::debug!(
            "region {region}, EC2 API {ec2_url}, Instance Connect API {eic_url}, STS {sts_url}"
        );
        Ok(AwsContext {
            profile: choices
                .profile
                .clone()
                .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty())),
            region,
            credentials,
            use_fips: variant.fips,
            use_dualstack: variant.dual_stack,
            http,
            api,
            ec2_url,
            eic_url,
            sts_url,
            iam_url,
            cloudtrail_url,
            sso,
        })
    }

    /// The same credentials in another region (API URLs follow, unless overridden).
    pub fn in_region(&self, region: &str) -> Result<AwsContext, Failure> {
        check_region(region)?;
        let variant = Variant {
            fips: self.use_fips,
            dual_stack: self.use_dualstack,
        };
        let profile = self.profile.as_deref();
        let moved = |url: &str, service: Service| match default_url(
            service,
            &self.region,
            variant,
            profile,
        ) {
            Ok(default) if default == url => default_url(service, region, variant, profile),
            _ => Ok(url.to_string()),
        };
        Ok(AwsContext {
            region: region.to_string(),
            ec2_url: moved(&self.ec2_url, Service::Ec2)?,
            eic_url: moved(&self.eic_url, Service::InstanceConnect)?,
            cloudtrail_url: moved(&self.cloudtrail_url, Service::CloudTrail)?,
            ..self.clone()
        })
    }

    /// Where a lookup looked, for "not found" messages: `us-east-1 with profile prod`.
    pub fn scope(&self) -> String {
        match &self.profile {
            Some(p) => format!(
                "{} with profile {}",
                self.region,
                crate::printable::escape(p)
            ),
            None => format!("{} with the default credentials", self.region),
        }
    }

    /// The hint for something not found: it may be in another region or account.
    pub fn not_found_hint(&self) -> &'static str {
        "it may be in another region or account: pass --region or --profile (or set AWS_REGION / AWS_PROFILE)"
    }

    /// Current credentials, refreshed by the provider when they near expiry.
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        let credentials = self.credentials.provide_credentials().await.map_err(|e| {
            let not_loaded = matches!(e, CredentialsError::CredentialsNotLoaded(_));
            let process = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<super::process::ProcessError>());
            AwsError::Credentials(if let Some(process) = process {
                process.to_string()
            } else if self.sso && !not_loaded {
                super::sso::sentence(&e, self.profile.as_deref())
            } else {
                credentials_sentence(&e)
            })
        })?;
        check_credentials(&credentials).map_err(AwsError::Credentials)?;
        Ok(credentials)
    }
}

/// Credentials go into headers and URLs: only visible ASCII may pass. Says which part is
/// wrong and where, never the value (the secret must not reach a terminal or a log).
pub fn check_credentials(c: &Credentials) -> Result<(), String> {
    let parts = [
        (
            "access key id",
            "AWS_ACCESS_KEY_ID",
            Some(c.access_key_id()),
        ),
        (
            "secret access key",
            "AWS_SECRET_ACCESS_KEY",
            Some(c.secret_access_key()),
        ),
        ("session token", "AWS_SESSION_TOKEN", c.session_token()),
    ];
    for (what, var, value) in parts {
        let Some(value) = value else { continue };
        if value.is_empty() {
            return Err(format!(
                "the AWS {what} is empty: check {var} or your AWS profile"
            ));
        }
        if let Some((at, ch)) = value.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
            let name = match ch {
                '\n' => "a newline".to_string(),
                '\r' => "a carriage return".to_string(),
                ' ' => "a space".to_string(),
                '\t' => "a tab".to_string(),
                c => format!("the character U+{:04X}", c as u32),
            };
            return Err(format!(
                "the AWS {what} holds {name} (at byte {at}), which no AWS key has: check {var} or your AWS profile for a stray character"
            ));
        }
    }
    Ok(())
}

fn endpoint_url(var: &str, global: Option<&str>) -> Option<String> {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| global.map(str::to_string))
        .map(|u| u.trim_end_matches('/').to_string())
}

/// A region name becomes part of URLs and host names: only `[a-z0-9-]` may pass.
pub fn check_region(region: &str) -> Result<(), Failure> {
    let ok = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "invalid AWS region {:?}: a region looks like us-east-1 (lower-case letters, digits and '-')",
            crate::printable::escape(region)
        )))
    }
}

/// The URL of `service` in `region` from the partition table (`endpoints.rs`), or one line
/// naming the setting that asks for endpoints the partition does not offer.
fn default_url(
    service: Service,
    region: &str,
    variant: Variant,
    profile: Option<&str>,
) -> Result<String, Failure> {
    endpoints::host(service, region, variant)
        .map(|host| format!("https://{host}"))
        .map_err(|no| {
            let (what, var, key) = match (no.fips, no.dual_stack) {
                (true, true) => (
                    "FIPS and dual-stack API endpoints",
                    "AWS_USE_FIPS_ENDPOINT and AWS_USE_DUALSTACK_ENDPOINT",
                    "use_fips_endpoint and use_dualstack_endpoint",
                ),
                (true, false) => (
                    "FIPS API endpoints",
                    "AWS_USE_FIPS_ENDPOINT",
                    "use_fips_endpoint",
                ),
                _ => (
                    "dual-stack API endpoints",
                    "AWS_USE_DUALSTACK_ENDPOINT",
                    "use_dualstack_endpoint",
                ),
            };
            let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
            let from_env = var.split(" and ").any(set);
            let setting = if from_env {
                format!("unset {var}")
            } else {
                let profile = profile
                    .map(str::to_string)
                    .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
                    .unwrap_or_else(|| "default".into());
                format!(
                    "remove {key} from the AWS profile {}",
                    crate::printable::escape(&profile)
                )
            };
            Failure::usage(format!(
                "{what} are not offered in {region} (partition {}): {setting}",
                no.partition
            ))
        })
}

/// A profile named on purpose (`--profile`, the config file's `profile`, else
/// `AWS_PROFILE`) must exist, as the AWS CLI requires even when the environment holds
/// keys: else the chain goes on without it and the user reads about missing credentials,
/// or runs as another account.
async fn check_profile_exists(chosen: Option<&str>) -> Result<(), Failure> {
    let env = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let (name, from_env) = match (chosen, env) {
        (Some(name), _) => (name.to_string(), false),
        (None, Some(name)) => (name, true),
        (None, None) => return Ok(()),
    };
    if !matches!(super::profile_file::selected(Some(&name)).await, Ok(None)) {
        return Ok(());
    }
    let name = crate::printable::escape(&name);
    let unset = if from_env { ", unset AWS_PROFILE" } else { "" };
    Err(Failure::new(
        Kind::Credentials,
        format!(
            "there is no AWS profile {name:?}{} in ~/.aws/config or ~/.aws/credentials: check the name (`aws configure list-profiles`){unset}, or run `aws configure sso --profile {name}`",
            if from_env { " (AWS_PROFILE)" } else { "" },
        ),
    ))
}

fn credentials_sentence(e: &CredentialsError) -> String {
    match e {
        CredentialsError::CredentialsNotLoaded(_) => "no AWS credentials found: set AWS_PROFILE (or pass --profile), run `aws sso login`, or export AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".into(),
        other => format!(
            "could not load AWS credentials: {}; check your AWS profile (or run `aws sso login`)",
            with_causes(other)
        ),
    }
}

pub use crate::error::with_causes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_is_said_once() {
        /// One link of an error chain.
        #[derive(Debug)]
        struct Link(&'static str, Option<Box<Link>>);
        impl std::fmt::Display for Link {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.0)
            }
        }
        impl std::error::Error for Link {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                self.1.as_deref().map(|l| l as _)
            }
        }
        let chain = |texts: &[&'static str]| {
            texts
                .iter()
                .rev()
                .fold(None, |below, t| Some(Box::new(Link(t, below))))
                .unwrap()
        };
        // reqwest over hyper-util, failing a DNS lookup (as measured here).
        let dns = chain(&[
            "error sending request for url (https://checkip.nowhere.invalid/)",
            "client error (Connect)",
            "dns error",
            "error resolving DNS",
            "failed to lookup address information: Name or service not known",
        ]);
        assert_eq!(
            with_causes(dns.as_ref()),
            "failed to lookup address information: Name or service not known"
        );
        let repeated = chain(&["cannot reach a:443: refused", "refused"]);
        assert_eq!(
            with_causes(repeated.as_ref()),
            "cannot reach a:443: refused"
        );
        // A label with nothing below it is all there is to say.
        assert_eq!(with_causes(chain(&["dns error"]).as_ref()), "dns error");
    }

    #[test]
    fn default_urls_come_from_the_partition_table() {
        let plain = Variant::default();
        let fips = Variant {
            fips: true,
            dual_stack: false,
        };
        let dual = Variant {
            fips: false,
            dual_stack: true,
        };
        let url = |s, r, v| default_url(s, r, v, None).unwrap();
        assert_eq!(
            url(Service::Ec2, "us-east-1", plain),
            "https://ec2.us-east-1.amazonaws.com"
        );
        assert_eq!(
            url(Service::InstanceConnect, "us-gov-west-1", fips),
            "https://ec2-instance-connect-fips.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            url(Service::Ec2, "us-gov-west-1", fips),
            "https://ec2.us-gov-west-1.amazonaws.com"
        );
        assert_eq!(
            url(Service::Ec2, "cn-north-1", dual),
            "https://ec2.cn-north-1.api.amazonwebservices.com.cn"
        );
        assert_eq!(
            url(Service::Sts, "us-iso-east-1", plain),
            "https://sts.us-iso-east-1.c2s.ic.gov"
        );
        let refused = default_url(Service::Ec2, "eu-isoe-west-1", dual, Some("gov")).unwrap_err();
        assert_eq!(refused.kind, Kind::Usage);
        assert!(
            refused.message.starts_with(
                "dual-stack API endpoints are not offered in eu-isoe-west-1 (partition aws-iso-e): "
            ),
            "{}",
            refused.message
        );
    }

    #[test]
    fn credentials_hold_visible_ascii_only_and_are_never_shown() {
        let ok = Credentials::new("AKIDEXAMPLE", "wJalr/K7+MDENG=", None, None, "t");
        assert!(check_credentials(&ok).is_ok());
        let bad = Credentials::new("AKID\nEXAMPLE", "s", None, None, "t");
        assert_eq!(
            check_credentials(&bad).unwrap_err(),
            "the AWS access key id holds a newline (at byte 4), which no AWS key has: check AWS_ACCESS_KEY_ID or your AWS profile for a stray character"
        );
        let bad = Credentials::new("AKID", "top secret", None, None, "t");
        let err = check_credentials(&bad).unwrap_err();
        assert!(
            err.starts_with("the AWS secret access key holds a space"),
            "{err}"
        );
        assert!(!err.contains("top "), "{err}");
        let bad = Credentials::new("AKID", "s", Some("tok\u{e9}n".into()), None, "t");
        let err = check_credentials(&bad).unwrap_err();
        assert!(
            err.contains("session token holds the character U+00E9"),
            "{err}"
        );
    }

    #[test]
    fn region_names_are_checked_before_any_url() {
        assert!(check_region("us-east-1").is_ok() && check_region("cn-north-1").is_ok());
        for bad in ["", "US-EAST-1", "us-east-1.evil.com/x", "us east", "a@b"] {
            assert_eq!(check_region(bad).unwrap_err().kind, Kind::Usage, "{bad}");
        }
    }
}
