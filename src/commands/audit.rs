//! `eic-ssh audit`: CloudTrail's record of tunnels and key pushes in a window, each event
//! with the instance that has its private IP now and today's allowlist verdict on its
//! source (`audit::report`); the table and summary, or JSON lines.

use std::collections::HashMap;

use crate::audit::report::{self, Reached, Row};
use crate::audit::window;
use crate::aws::cloudtrail;
use crate::aws::connections::ApiConnections;
use crate::aws::inventory::{Inventoried, inventory};
use crate::aws::security_groups::{Admitted, admitted};
use crate::aws::{AwsChoices, AwsContext, AwsError, ec2};
use crate::cli::{AuditArgs, Globals};
use crate::config::{self, ConfigFile};
use crate::error::{Failure, Kind, Outcome};
use crate::fleet::listing::{aliases, instance_settings, parse_filters};
use crate::printable::escape;
use crate::target::{InstanceRef, instance_ref};
use crate::{net, route};

/// Prints the report; exit 0, or 9 with `--fail-on-outside` when a tunnel came from
/// outside today's allowlist.
pub async fn run(args: AuditArgs, g: &Globals) -> Result<Outcome, Failure> {
    if args.all_regions && g.region.is_some() {
        return Err(Failure::usage(
            "--all-regions and --region ask for different regions: give one of them",
        ));
    }
    let now = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
    let window = window::window(args.since.as_deref(), args.until.as_deref(), now)?;
    let (file, path) = config::file::load(g.config.as_deref())?;
    let filters = parse_filters(&args.filter)?;
    let wanted: Vec<InstanceRef> = args
        .targets
        .iter()
        .map(|t| instance_ref(t, file.hosts.get(t).map(|h| h.section())))
        .collect::<Result<_, _>>()?;
    let flags = route::Flags::aws(g.profile.clone(), g.region.clone());
    let defaults = route::settings::defaults_for(&file, path.as_deref(), &flags)?;
    let choices = AwsChoices::from(&defaults);
    let tls = net::client_config()?;
    let http = net::http_client(&tls)?;
    let aws = crate::aws::ready::load(&choices, http, ApiConnections::new(tls)).await?;
    let regions = if args.all_regions {
        ec2::describe_regions(&aws).await?
    } else {
        vec![aws.region.clone()]
    };
    let progress = Progress::new();
    let mut rows = Vec::new();
    for region in &regions {
        let here = aws.in_region(region)?;
        let events = cloudtrail::tunnel_events(&here, window, |pages, events| {
            progress.show(region, pages, events)
        })
        .await
        .map_err(|e| lookup_failure(e, region))?;
        if events.is_empty() {
            continue;
        }
        let entries = inventory(&here, &[]).await?;
        let selected = selection(&here, &entries, &filters, &wanted).await?;
        let mut judge = Judge::new(&here, &file, path.as_deref());
        for event in events {
            let entry = report::reached(&event, &entries);
            if let Some(ids) = &selected
                && !entry.is_some_and(|e| ids.contains(&e.instance.id))
            {
                continue;
            }
            let allowed = match entry {
                Some(entry) => judge.allowed(entry, &event).await?,
                None => None,
            };
            rows.push(Row {
                region: region.clone(),
                reached: entry.map(|e| Reached {
                    id: e.instance.id.clone(),
                    name: e.instance.name.clone(),
                    aliases: aliases(&file, e),
                }),
                event,
                allowed,
            });
        }
    }
    progress.done();
    // CloudTrail answers newest first; within a second its order is kept.
    rows.reverse();
    rows.sort_by_key(|r| r.event.time);
    if args.json {
        for row in &rows {
            println!("{}", report::json_line(row));
        }
    } else {
        let lines = report::table(&rows, args.all_regions);
        if !rows.is_empty() {
            for line in lines {
                println!("{line}");
            }
            println!();
        }
        for line in report::summary(&rows, window, &regions) {
            println!("{line}");
        }
    }
    if args.fail_on_outside && rows.iter().any(Row::outside) {
        return Ok(Outcome::Outside);
    }
    Ok(Outcome::Success)
}

/// The instance ids TARGETs and `--filter` keep, or `None` when neither is given.
async fn selection(
    aws: &AwsContext,
    entries: &[Inventoried],
    filters: &[ec2::Filter],
    wanted: &[InstanceRef],
) -> Result<Option<Vec<String>>, Failure> {
    if filters.is_empty() && wanted.is_empty() {
        return Ok(None);
    }
    let filtered: Vec<Inventoried> = if filters.is_empty() {
        entries.to_vec()
    } else {
        inventory(aws, filters).await?
    };
    let ids = filtered
        .iter()
        .filter(|e| {
            wanted.is_empty()
                || wanted.iter().any(|w| match w {
                    InstanceRef::Id(id) => &e.instance.id == id,
                    InstanceRef::Name(name) => e.usable_name() == Some(name),
                })
        })
        .map(|e| e.instance.id.clone())
        .collect();
    Ok(Some(ids))
}

/// Today's verdicts, with each instance's security groups read once and only when its
/// settings let them decide.
struct Judge<'a> {
    aws: &'a AwsContext,
    file: &'a ConfigFile,
    path: Option<&'a std::path::Path>,
    groups: HashMap<(String, u16), Admitted>,
}

impl<'a> Judge<'a> {
    fn new(aws: &'a AwsContext, file: &'a ConfigFile, path: Option<&'a std::path::Path>) -> Self {
        Judge {
            aws,
            file,
            path,
            groups: HashMap::new(),
        }
    }

    async fn allowed(
        &mut self,
        entry: &Inventoried,
        event: &cloudtrail::TrailEvent,
    ) -> Result<Option<bool>, Failure> {
        let Some(eff) = instance_settings(self.file, self.path, entry) else {
            return Ok(None);
        };
        match report::allowed(&eff, &event.source_ip, None) {
            Ok(verdict) => Ok(verdict),
            Err(report::NeedsGroups) => {
                let port = event.port.unwrap_or(22);
                let key = (entry.instance.id.clone(), port);
                if !self.groups.contains_key(&key) {
                    let read = self.read_groups(entry, port).await?;
                    self.groups.insert(key.clone(), read);
                }
                Ok(report::allowed(&eff, &event.source_ip, self.groups.get(&key)).unwrap_or(None))
            }
        }
    }

    async fn read_groups(&self, entry: &Inventoried, port: u16) -> Result<Admitted, Failure> {
        let groups =
            ec2::describe_security_groups(self.aws, &entry.instance.security_groups).await?;
        let (endpoint_groups, preserve) = match &entry.endpoint {
            Ok(e) => (e.security_groups.clone(), e.preserve_client_ip),
            Err(_) => (Vec::new(), true),
        };
        Ok(admitted(&groups, &endpoint_groups, preserve, port))
    }
}

/// A LookupEvents failure as one line: a region that does not know the credentials is
/// most likely not enabled for the account.
fn lookup_failure(e: AwsError, region: &str) -> Failure {
    match &e {
        AwsError::Service { code, .. }
            if code == "UnrecognizedClientException" || code == "OptInRequired" =>
        {
            Failure::new(
                Kind::Credentials,
                format!(
                    "CloudTrail in {} has no history for these credentials: the region is not enabled for this account ({code}). Enable it (Account settings), or pass --region with a region the account uses",
                    escape(region)
                ),
            )
        }
        _ => Failure::from(e),
    }
}

/// The spinner on stderr while pages load; drawn only on a terminal.
struct Progress(indicatif::ProgressBar);

impl Progress {
    fn new() -> Self {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Progress(bar)
    }

    fn show(&self, region: &str, pages: usize, events: usize) {
        self.0.set_message(format!(
            "reading CloudTrail in {region}: {pages} pages, {events} events"
        ));
        self.0.tick();
    }

    fn done(&self) {
        self.0.finish_and_clear();
    }
}
