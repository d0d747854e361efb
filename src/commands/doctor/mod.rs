//! `eic-ssh doctor`: gather what AWS says about the target (read-only), then print the checklist.

pub mod checks;
pub mod fixes;
pub mod history;
pub mod permissions;
pub mod slots;

use crate::aws::connections::ApiConnections;
use crate::aws::discovery::{self, choose_endpoint, find_by_name};
use crate::aws::ec2::{self, Endpoint, EndpointFilter};
use crate::aws::{AwsChoices, AwsContext, AwsError};
use crate::cli::{DoctorArgs, Globals};
use crate::config;
use crate::error::{Failure, Kind, Outcome};
use crate::family::Family;
use crate::guard::{Path, current_ip_over};
use crate::net;
use crate::route::{self, Flags, Settings};
use crate::target::InstanceRef;
use checks::{Check, Facts, Missing, Status, evaluate};

/// Prints the checklist; exit 0 only when no check failed (✗) or went unchecked (?), else 1.
pub async fn run(args: DoctorArgs, g: &Globals) -> Result<Outcome, Failure> {
    let (file, path) = config::file::load(g.config.as_deref())?;
    let overrides = Flags {
        profile: g.profile.clone(),
        region: g.region.clone(),
        ..Flags::default()
    };
    let eff = route::settings::for_target(&file, path.as_deref(), &args.target, &overrides)?;
    let tls = net::client_config()?;
    let http = net::http_client(&tls)?;
    // The same check a connect makes first: on the tunnel's road (for the region's endpoint
    // domain until the endpoint is found).
    let family = crate::family::Family::preferred()?;
    let path = route::road::guard_path(&eff, family)?;
    tracing::info!("egress check {path}");
    let egress_ip = current_ip_over(&tls, &eff.egress_urls, &path)
        .await
        .map_err(|e| e.to_string());
    let aws = crate::aws::ready::load(
        &AwsChoices::from(&eff),
        http,
        ApiConnections::new(tls.clone()),
    )
    .await?;
    // A credentials problem stops everything: say so in the usual one line.
    aws.credentials().await?;
    let egress = Egress {
        tls,
        family,
        path,
        ip: egress_ip,
    };
    let (facts, path) = gather(&aws, &file, eff.clone(), args.port, egress).await;
    let mut checks = evaluate(&facts);
    // Whether `eic-ssh audit` can read the history (history.rs).
    checks.push(history::check(&aws).await);
    // This user's tunnels on the endpoint now (slots.rs), when slots are kept here.
    let held = facts
        .endpoint
        .as_ref()
        .ok()
        .and_then(|e| Some((e.id.clone(), slots::held(&e.id)?)));
    if let Some((endpoint, n)) = &held {
        checks.push(slots::check(endpoint, *n));
    }
    let failed = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Unknown))
        .count();
    let fixes = args.fix.then(|| fixes::fixes(&facts, &checks, &aws.region));
    if args.json {
        print_json(
            &eff,
            &aws,
            &path,
            &facts,
            &checks,
            held.map(|(_, n)| n),
            fixes.as_deref(),
        );
    } else {
        print_text(&eff, &aws, &path, &facts, &checks);
        if let Some(fixes) = &fixes {
            print_fixes(fixes);
        }
    }
    Ok(if failed == 0 {
        Outcome::Success
    } else {
        Outcome::Incomplete
    })
}

/// What the calls of one doctor run came to: the reads refused for a permission, whether
/// the EC2 API answered, and why not.
#[derive(Default)]
struct Tally {
    /// IAM actions refused with UnauthorizedOperation.
    denied: Vec<String>,
    /// An EC2 call got an answer that was not a refusal of the credentials.
    answered: bool,
    /// The first refusal of the credentials themselves (AuthFailure, expired token).
    rejected: Option<String>,
    /// The first call that got no answer, and why.
    unanswered: Option<String>,
}

impl Tally {
    /// Notes a call's error and says what it leaves unknown.
    fn aws(&mut self, e: AwsError) -> Missing {
        match &e {
            AwsError::Service { action, code, .. } if code == "UnauthorizedOperation" => {
                self.answered = true;
                self.denied.push(crate::aws::error::iam_action(action));
                Missing::Answered(Failure::from(e).message)
            }
            _ => self.failure(Failure::from(e)),
        }
    }

    /// The same for a failure already put into words.
    fn failure(&mut self, f: Failure) -> Missing {
        match f.kind {
            Kind::Network | Kind::Other => {
                self.unanswered.get_or_insert(f.message.clone());
                Missing::NoAnswer(f.message)
            }
            Kind::Credentials => {
                self.rejected.get_or_insert(f.message.clone());
                Missing::Answered(f.message)
            }
            _ => {
                self.answered = true;
                Missing::Answered(f.message)
            }
        }
    }

    /// Whether the EC2 API answered at all.
    fn reached(&self) -> Result<(), Missing> {
        match (&self.rejected, self.answered, &self.unanswered) {
            (Some(why), _, _) => Err(Missing::Answered(why.clone())),
            (None, true, _) => Ok(()),
            (None, false, Some(why)) => Err(Missing::NoAnswer(why.clone())),
            (None, false, None) => Err(Missing::NoAnswer("no call was made".into())),
        }
    }
}

/// The egress check so far: the road it took and what it found.
struct Egress {
    /// The TLS configuration, for a check made again.
    tls: std::sync::Arc<rustls::ClientConfig>,
    /// The family this machine reaches the internet over.
    family: Family,
    /// The road of the check.
    path: Path,
    /// The egress IP it found, or why not.
    ip: Result<std::net::IpAddr, String>,
}

impl Egress {
    /// When the tunnel to `endpoint` leaves another way than the check did (NO_PROXY names
    /// the endpoint's own name and not its region's domain, or the other way round), the
    /// check is made again on the tunnel's road, as a connect makes it.
    async fn on_the_tunnels_road(&mut self, eff: &Settings, aws: &AwsContext, endpoint: &Endpoint) {
        let tunnel = discovery::tunnel_name(endpoint, self.family, aws.use_fips, &aws.region)
            .and_then(|(name, _)| route::road::endpoint_dest(eff, &name))
            .and_then(|dest| route::road::path_to(&dest, self.family));
        let Ok(tunnel) = tunnel else {
            return;
        };
        if self.path.same_road(&tunnel.road()) {
            return;
        }
        tracing::info!(
            "the tunnel goes {}, not {} as checked: checking this network's egress on the tunnel's road",
            tunnel.road(),
            self.path.road()
        );
        self.ip = current_ip_over(&self.tls, &eff.egress_urls, &tunnel)
            .await
            .map_err(|e| e.to_string());
        self.path = tunnel;
    }
}

/// Reads the instance, its endpoint and both sides' security groups (read-only calls),
/// noting every action the credentials were denied, and asks IAM's policy simulator about
/// the two permissions a connection needs; the egress check is made again when the
/// endpoint's tunnel takes another road. The facts, and the road of the check.
async fn gather(
    aws: &AwsContext,
    file: &config::ConfigFile,
    mut eff: Settings,
    port: u16,
    mut egress: Egress,
) -> (Facts, Path) {
    let mut tally = Tally::default();
    let instance = match &eff.instance {
        InstanceRef::Id(id) => match ec2::describe_instance(aws, id).await {
            Ok(Some(i)) => Ok(i),
            Ok(None) => Err(tally.failure(Failure::new(
                Kind::NotFound,
                format!(
                    "instance {id} was not found in {}: {}",
                    aws.scope(),
                    aws.not_found_hint()
                ),
            ))),
            Err(e) => Err(tally.aws(e)),
        },
        InstanceRef::Name(name) => find_by_name(aws, name).await.map_err(|f| tally.failure(f)),
    };
    if instance.is_ok() {
        tally.answered = true;
    }
    // The sections naming the instance however it is typed, as the connect path binds them.
    if let Ok(i) = &instance {
        eff.bind_instance(file, &i.id, i.name.as_deref());
    }
    // The same choices the connect path makes (discovery's), on the same descriptions.
    let endpoint = match (&instance, &eff.endpoint_id) {
        (Err(_), _) => Err(Missing::NoAnswer(
            "unknown: the instance could not be read".to_string(),
        )),
        (Ok(i), Some(id)) => match ec2::describe_endpoints(aws, EndpointFilter::Id(id)).await {
            Ok(found) => discovery::endpoint_with_id(found, id, &aws.region, Some(i))
                .map_err(|f| Missing::Answered(f.message)),
            Err(e) => Err(tally.aws(e)),
        },
        (Ok(i), None) => {
            let vpc = i.vpc_id.as_deref().unwrap_or_default();
            match ec2::describe_endpoints(aws, EndpointFilter::Vpc(vpc)).await {
                Ok(found) => choose_endpoint(i, &found)
                    .cloned()
                    .map_err(|f| Missing::Answered(f.message)),
                Err(e) => Err(tally.aws(e)),
            }
        }
    };
    if let Ok(e) = &endpoint {
        egress.on_the_tunnels_road(&eff, aws, e).await;
    }
    let egress_ip = egress.ip;
    let mut ids: Vec<String> = Vec::new();
    if let Ok(i) = &instance {
        ids.extend(i.security_groups.iter().cloned());
    }
    if let Ok(e) = &endpoint {
        ids.extend(e.security_groups.iter().cloned());
    }
    ids.sort();
    ids.dedup();
    let groups = if ids.is_empty() {
        Ok(Vec::new())
    } else {
        ec2::describe_security_groups(aws, &ids)
            .await
            .map_err(|e| tally.aws(e))
    };
    let permissions = match (&instance, &endpoint) {
        (Ok(i), Ok(e)) => {
            let request = permissions::Request {
                user: eff.user.as_deref(),
                port,
                max_tunnel_duration: eff.max_tunnel_duration,
                source_ip: egress_ip.as_ref().ok().copied(),
            };
            permissions::simulate(aws, i, e, &request).await
        }
        _ => Vec::new(),
    };
    let facts = Facts {
        port,
        region: aws.region.clone(),
        reached: tally.reached(),
        denied: tally.denied,
        instance,
        endpoint,
        groups,
        permissions,
        egress_ip,
        settings: eff,
    };
    (facts, egress.path)
}

/// The documented JSON report.
fn print_json(
    eff: &Settings,
    aws: &AwsContext,
    path: &Path,
    facts: &Facts,
    checks: &[Check],
    slots_held: Option<usize>,
    fixes: Option<&[fixes::Fix]>,
) {
    let failed = checks
        .iter()
        .filter(|c| matches!(c.status, Status::Fail | Status::Unknown))
        .count();
    let mut report = serde_json::json!({
        "target": eff.target,
        "instance": facts.instance.as_ref().ok().map(|i| i.id.clone()),
        "region": aws.region,
        "port": facts.port,
        "road": path.road().to_string(),
        "ok": failed == 0,
        "slots_held": slots_held,
        "checks": checks,
    });
    if let Some(fixes) = fixes {
        report["fixes"] = serde_json::json!(fixes);
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}

/// The header and the road, ✓/!/✗/? lines with a fix under each problem, then the count.
fn print_text(eff: &Settings, aws: &AwsContext, path: &Path, facts: &Facts, checks: &[Check]) {
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    let unknown = checks
        .iter()
        .filter(|c| c.status == Status::Unknown)
        .count();
    let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
    let id = facts
        .instance
        .as_ref()
        .map(|i| i.id.clone())
        .unwrap_or_else(|_| "?".into());
    println!(
        "eic-ssh doctor: {} ({id}) in {}, port {}",
        eff.label(),
        aws.region,
        facts.port
    );
    println!("the egress check and the tunnel go {path}");
    for c in checks {
        println!("{} {}", c.status.mark(), c.summary);
        if let Some(fix) = c.fix.as_ref().filter(|_| c.status != Status::Ok) {
            println!("    fix: {fix}");
        }
    }
    let unchecked = if unknown == 0 {
        String::new()
    } else {
        format!("{unknown} not checked, ")
    };
    println!(
        "{failed} failed, {unchecked}{warned} warning{}",
        if warned == 1 { "" } else { "s" }
    );
}

/// `--fix`: the commands and Terraform for each problem, or that there is nothing to fix.
fn print_fixes(fixes: &[fixes::Fix]) {
    println!();
    if fixes.is_empty() {
        println!("nothing to fix");
        return;
    }
    println!("Fixes (printed only; eic-ssh changes nothing in AWS):");
    for fix in fixes {
        println!();
        println!("[{}]", fix.check);
        if let Some(note) = &fix.note {
            println!("# {note}");
        }
        for command in &fix.aws_cli {
            println!("{command}");
        }
        if let Some(config) = &fix.config {
            println!("{config}");
        }
        if let Some(terraform) = &fix.terraform {
            println!("# Terraform:");
            for line in terraform.lines() {
                println!("#   {line}");
            }
        }
    }
}
