//! Every instance of a region with the endpoint that would serve it, for `list` and
//! `ssh-config --discover`: two Describe calls (all pages), then discovery's own choice.

use super::context::AwsContext;
use super::discovery::{check_instance, choose_endpoint};
use super::ec2::{self, Endpoint, EndpointFilter, Filter, Instance};
use crate::error::Failure;
use crate::target::looks_like_instance_id;

/// One instance and how a tunnel would reach it.
#[derive(Debug, Clone)]
pub struct Inventoried {
    /// The instance as DescribeInstances returned it.
    pub instance: Instance,
    /// The endpoint discovery would pick, or why there is none.
    pub endpoint: Result<Endpoint, String>,
    /// Why its Name tag cannot stand for it, if it has one that cannot.
    pub name_problem: Option<NameProblem>,
}

/// Why a Name tag is not used as a name for its instance (only its id is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameProblem {
    /// Another listed instance carries the same Name.
    Shared,
    /// It reads as an instance id: used as a name, it could take over another instance's id.
    LooksLikeAnId,
}

impl NameProblem {
    /// The documented JSON value (`list --json`).
    pub fn code(self) -> &'static str {
        match self {
            NameProblem::Shared => "shared",
            NameProblem::LooksLikeAnId => "looks_like_an_instance_id",
        }
    }

    /// Why, as the end of a sentence that starts with the Name.
    pub fn reason(self) -> &'static str {
        match self {
            NameProblem::Shared => "is the Name of several instances",
            NameProblem::LooksLikeAnId => {
                "looks like an instance id, so it never stands for an instance"
            }
        }
    }
}

impl Inventoried {
    /// The Name tag, when it can stand for this instance (present, unique, not id-shaped).
    pub fn usable_name(&self) -> Option<&str> {
        self.instance
            .name
            .as_deref()
            .filter(|_| self.name_problem.is_none())
    }
}

/// The instances matching `filters` (terminated ones left out), sorted by Name then id.
pub async fn inventory(ctx: &AwsContext, filters: &[Filter]) -> Result<Vec<Inventoried>, Failure> {
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
pub fn entries(mut instances: Vec<Instance>, endpoints: &[Endpoint]) -> Vec<Inventoried> {
    instances.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    let problem = |i: &Instance| {
        let name = i.name.as_deref()?;
        if looks_like_instance_id(name) {
            Some(NameProblem::LooksLikeAnId)
        } else if instances.iter().filter(|o| o.name == i.name).count() > 1 {
            Some(NameProblem::Shared)
        } else {
            None
        }
    };
    let problems: Vec<Option<NameProblem>> = instances.iter().map(problem).collect();
    instances
        .into_iter()
        .zip(problems)
        .map(|(instance, name_problem)| {
            let endpoint = check_instance(&instance)
                .and_then(|()| choose_endpoint(&instance, endpoints).cloned())
                .map_err(|f| f.message);
            Inventoried {
                instance,
                endpoint,
                name_problem,
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
        let shared = Some(NameProblem::Shared);
        assert_eq!(found[2].name_problem, shared);
        assert_eq!(found[3].name_problem, shared);
        assert_eq!(found[0].name_problem, None);
        assert_eq!(found[0].usable_name(), Some("db"));
        assert_eq!(found[2].usable_name(), None);
    }

    #[test]
    fn a_name_shaped_like_an_id_never_stands_for_its_instance() {
        let found = entries(
            vec![
                instance(
                    "i-0aaaaaaaaaaaaaaa1",
                    "i-0fedcba9876543210",
                    "running",
                    "vpc-a",
                ),
                instance("i-0fedcba9876543210", "real", "running", "vpc-a"),
                instance(
                    "i-0bbbbbbbbbbbbbbb2",
                    "I-0AAAAAAAAAAAAAAA1",
                    "running",
                    "vpc-a",
                ),
            ],
            &[],
        );
        for entry in &found {
            let id_like = entry.instance.name.as_deref() != Some("real");
            assert_eq!(
                entry.name_problem == Some(NameProblem::LooksLikeAnId),
                id_like,
                "{entry:?}"
            );
            assert_eq!(entry.usable_name().is_none(), id_like);
        }
    }
}
