//! Every instance of a region with the endpoint that would serve it, for `list` and
//! `ssh-config --discover`: two Describe calls (all pages), then discovery's own choice.

use super::context::AwsContext;
use super::discovery::{check_instance, choose_endpoint};
use super::ec2::{self, Endpoint, EndpointFilter, Filter, Instance};
use crate::error::Failure;

/// One instance and how a tunnel would reach it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The instance as DescribeInstances returned it.
    pub instance: Instance,
    /// The endpoint discovery would pick, or why there is none.
    pub endpoint: Result<Endpoint, String>,
    /// Whether another listed instance carries the same Name tag.
    pub name_shared: bool,
}

/// The instances matching `filters` (terminated ones left out), sorted by Name then id.
pub async fn inventory(ctx: &AwsContext, filters: &[Filter]) -> Result<Vec<Entry>, Failure> {
    let mut filters = filters.to_vec();
    if !filters
        .iter()
        .any(|(name, _)| name == "instance-state-name")
    {
        let live = ["pending", "running", "stopping", "stopped"];
        filters.push((
            "instance-state-name".into(),
            live.iter().map(|s| s.to_string()).collect(),
        ));
    }
    let instances = ec2::describe_instances(ctx, &filters).await?;
    let endpoints = if instances.is_empty() {
        Vec::new()
    } else {
        ec2::describe_endpoints(ctx, EndpointFilter::Usable).await?
    };
    Ok(entries(instances, &endpoints))
}

/// Pairs each instance with its endpoint; no I/O.
pub fn entries(mut instances: Vec<Instance>, endpoints: &[Endpoint]) -> Vec<Entry> {
    instances.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let shared = |i: &Instance| {
        i.name.is_some() && instances.iter().filter(|o| o.name == i.name).count() > 1
    };
    let flags: Vec<bool> = instances.iter().map(shared).collect();
    instances
        .into_iter()
        .zip(flags)
        .map(|(instance, name_shared)| {
            let endpoint = check_instance(&instance)
                .and_then(|()| choose_endpoint(&instance, endpoints).cloned())
                .map_err(|f| f.message);
            Entry {
                instance,
                endpoint,
                name_shared,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: &str, name: &str, state: &str, vpc: &str) -> Instance {
        Instance {
            id: id.into(),
            name: Some(name.into()),
            state: state.into(),
            vpc_id: Some(vpc.into()),
            subnet_id: Some("subnet-1".into()),
            ..Instance::default()
        }
    }

    #[test]
    fn each_instance_gets_its_endpoint_or_the_reason() {
        let endpoint = Endpoint {
            id: "eice-1".into(),
            state: "create-complete".into(),
            vpc_id: "vpc-a".into(),
            subnet_id: "subnet-1".into(),
            ..Endpoint::default()
        };
        let found = entries(
            vec![
                instance("i-3", "web", "running", "vpc-a"),
                instance("i-1", "web", "running", "vpc-a"),
                instance("i-2", "db", "stopped", "vpc-a"),
                instance("i-4", "lonely", "running", "vpc-b"),
            ],
            &[endpoint],
        );
        let ids: Vec<&str> = found.iter().map(|e| e.instance.id.as_str()).collect();
        assert_eq!(ids, ["i-2", "i-4", "i-1", "i-3"], "by name, then id");
        assert!(
            found[1]
                .endpoint
                .as_ref()
                .unwrap_err()
                .contains("no EC2 Instance Connect Endpoint in vpc-b")
        );
        assert!(found[0].endpoint.as_ref().unwrap_err().contains("stopped"));
        assert_eq!(found[2].endpoint.as_ref().unwrap().id, "eice-1");
        assert!(found[2].name_shared && found[3].name_shared && !found[0].name_shared);
    }
}
