//! Credentials and region straight from the environment, when the SDK's chain would take
//! them from there anyway (its first provider reads the same variables): the SDK's provider
//! chains are then never built, which keeps `eic-ssh proxy` small (docs/design.md, "Dependencies, and why").

use aws_credential_types::Credentials;

/// What the SDK would have found.
pub struct FromEnvironment {
    /// The region.
    pub region: String,
    /// The credentials.
    pub credentials: Credentials,
    /// `AWS_USE_FIPS_ENDPOINT`.
    pub use_fips: bool,
    /// `AWS_USE_DUALSTACK_ENDPOINT`.
    pub use_dualstack: bool,
    /// `AWS_ENDPOINT_URL`, the base URL for every service.
    pub endpoint_url: Option<String>,
}

/// Profile settings that change endpoints: with any of them, the SDK decides.
const ENDPOINT_SETTINGS: &[&str] = &[
    "use_fips_endpoint",
    "use_dualstack_endpoint",
    "endpoint_url",
    "services",
    "ignore_configured_endpoint_urls",
];

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The environment's keys and region, when both are there, no profile was named on purpose
/// (`profile`: a flag or a config section; such a profile gives the credentials, as with
/// `aws --profile`) and the one `AWS_PROFILE` selects sets nothing about endpoints; else
/// `None`, and the SDK's chain is loaded.
pub async fn from_environment(
    profile: Option<&str>,
    region: Option<&str>,
) -> Option<FromEnvironment> {
    if profile.is_some() {
        return None;
    }
    let key = var("AWS_ACCESS_KEY_ID")?;
    let secret = var("AWS_SECRET_ACCESS_KEY")?;
    let region = region
        .map(str::to_string)
        .or_else(|| var("AWS_REGION"))
        .or_else(|| var("AWS_DEFAULT_REGION"))?;
    if let Some(p) = super::profile_file::selected(profile).await.ok()?
        && ENDPOINT_SETTINGS.iter().any(|k| p.get(k).is_some())
    {
        return None;
    }
    let flag = |name: &str| var(name).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    Some(FromEnvironment {
        region,
        credentials: Credentials::new(key, secret, var("AWS_SESSION_TOKEN"), None, "Environment"),
        use_fips: flag("AWS_USE_FIPS_ENDPOINT"),
        use_dualstack: flag("AWS_USE_DUALSTACK_ENDPOINT"),
        endpoint_url: var("AWS_ENDPOINT_URL")
            .filter(|_| !flag("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")),
    })
}
