//! The host each AWS API is called at, for a region, FIPS and dual-stack: the partition
//! table and the services' endpoint rules as botocore publishes them.
//!
//! The data below is botocore's `data/partitions.json` (partition, region regex, listed
//! regions, DNS suffixes, what the partition supports); the rules are those of the
//! services' `endpoint-rule-set-1.json` for EC2, EC2 Instance Connect, STS, SSO and
//! CloudTrail, and IAM's global hosts (one per partition, signed for the partition's global
//! region).
//! `scripts/endpoint-vectors.py` asks botocore itself for every region × {plain, FIPS,
//! dual-stack, both} × service and writes `tests/vectors/endpoints.tsv`; the test at the
//! end of this file compares every row with [`host`].

use std::sync::LazyLock;

/// One partition of `partitions.json`.
#[derive(Debug)]
pub struct Partition {
    /// The partition's id: `aws`, `aws-cn`, `aws-us-gov`, …
    pub id: &'static str,
    /// `regionRegex`: an unlisted region belongs to the partition whose regex matches it.
    region_regex: &'static str,
    /// `regions`: the regions the partition lists (checked before any regex).
    regions: &'static [&'static str],
    /// `dnsSuffix`: the API hosts' domain.
    pub dns_suffix: &'static str,
    /// `dualStackDnsSuffix`: the domain of the dual-stack (IPv4 and IPv6) API hosts.
    pub dual_stack_dns_suffix: &'static str,
    /// `supportsFIPS`.
    supports_fips: bool,
    /// `supportsDualStack`.
    supports_dual_stack: bool,
    /// Whether botocore builds a dual-stack client for the regions this partition's regex
    /// matches: its older endpoint data (`endpoints.json`), still read when a client is
    /// created, models no dual-stack variant in `aws-iso-e` and `aws-iso-f`, so botocore
    /// refuses such a client there (though `partitions.json` says `supportsDualStack`);
    /// the `…-global` names that regex does not match are left to the rules, which allow it.
    dual_stack_client: bool,
}

/// The partitions of botocore 1.44.18's `partitions.json`, in its order (the first is the
/// one a region no partition matches falls back to).
pub const PARTITIONS: &[Partition] = &[
    Partition {
        id: "aws",
        region_regex: r"^(us|eu|ap|sa|ca|me|af|il|mx)\-\w+\-\d+$",
        regions: &[
            "af-south-1",
            "ap-east-1",
            "ap-east-2",
            "ap-northeast-1",
            "ap-northeast-2",
            "ap-northeast-3",
            "ap-south-1",
            "ap-south-2",
            "ap-southeast-1",
            "ap-southeast-2",
            "ap-southeast-3",
            "ap-southeast-4",
            "ap-southeast-5",
            "ap-southeast-6",
            "ap-southeast-7",
            "aws-global",
            "ca-central-1",
            "ca-west-1",
            "eu-central-1",
            "eu-central-2",
            "eu-north-1",
            "eu-south-1",
            "eu-south-2",
            "eu-west-1",
            "eu-west-2",
            "eu-west-3",
            "il-central-1",
            "me-central-1",
            "me-south-1",
            "me-west-1",
            "mx-central-1",
            "sa-east-1",
            "sa-west-1",
            "us-east-1",
            "us-east-2",
            "us-west-1",
            "us-west-2",
        ],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
    Partition {
        id: "aws-cn",
        region_regex: r"^cn\-\w+\-\d+$",
        regions: &["aws-cn-global", "cn-north-1", "cn-northwest-1"],
        dns_suffix: "amazonaws.com.cn",
        dual_stack_dns_suffix: "api.amazonwebservices.com.cn",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
    Partition {
        id: "aws-eusc",
        region_regex: r"^eusc\-(de)\-\w+\-\d+$",
        regions: &["eusc-de-east-1"],
        dns_suffix: "amazonaws.eu",
        dual_stack_dns_suffix: "api.amazonwebservices.eu",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
    Partition {
        id: "aws-iso",
        region_regex: r"^us\-iso\-\w+\-\d+$",
        regions: &["aws-iso-global", "us-iso-east-1", "us-iso-west-1"],
        dns_suffix: "c2s.ic.gov",
        dual_stack_dns_suffix: "api.aws.ic.gov",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
    Partition {
        id: "aws-iso-b",
        region_regex: r"^us\-isob\-\w+\-\d+$",
        regions: &["aws-iso-b-global", "us-isob-east-1", "us-isob-west-1"],
        dns_suffix: "sc2s.sgov.gov",
        dual_stack_dns_suffix: "api.aws.scloud",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
    Partition {
        id: "aws-iso-e",
        region_regex: r"^eu\-isoe\-\w+\-\d+$",
        regions: &["aws-iso-e-global", "eu-isoe-west-1"],
        dns_suffix: "cloud.adc-e.uk",
        dual_stack_dns_suffix: "api.cloud-aws.adc-e.uk",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: false,
    },
    Partition {
        id: "aws-iso-f",
        region_regex: r"^us\-isof\-\w+\-\d+$",
        regions: &["aws-iso-f-global", "us-isof-east-1", "us-isof-south-1"],
        dns_suffix: "csp.hci.ic.gov",
        dual_stack_dns_suffix: "api.aws.hci.ic.gov",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: false,
    },
    Partition {
        id: "aws-us-gov",
        region_regex: r"^us\-gov\-\w+\-\d+$",
        regions: &["aws-us-gov-global", "us-gov-east-1", "us-gov-west-1"],
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_fips: true,
        supports_dual_stack: true,
        dual_stack_client: true,
    },
];

/// The partitions' region regexes, compiled once (same order as [`PARTITIONS`]).
static REGEXES: LazyLock<Vec<regex_lite::Regex>> = LazyLock::new(|| {
    PARTITIONS
        .iter()
        .map(|p| regex_lite::Regex::new(p.region_regex).expect("a partition regex compiles"))
        .collect()
});

/// The partition of `region`, as the rules' `aws.partition` picks it: the first that lists
/// the region or whose regex matches it, else the first partition (`aws`).
pub fn partition(region: &str) -> &'static Partition {
    matched(region).map_or(&PARTITIONS[0], |(p, _)| p)
}

/// The partition that lists `region` or whose regex matches it, and whether the regex does.
fn matched(region: &str) -> Option<(&'static Partition, bool)> {
    PARTITIONS.iter().zip(REGEXES.iter()).find_map(|(p, re)| {
        let by_regex = re.is_match(region);
        (by_regex || p.regions.contains(&region)).then_some((p, by_regex))
    })
}

/// An AWS API that eic-ssh (or the SDK on its behalf) calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// EC2 (`ec2`): the Describe calls.
    Ec2,
    /// EC2 Instance Connect (`ec2-instance-connect`): SendSSHPublicKey.
    InstanceConnect,
    /// STS (`sts`): AssumeRole for roles that need an MFA code.
    Sts,
    /// IAM Identity Center's portal (`sso`, host `portal.sso`): GetRoleCredentials, which
    /// the SDK's SSO credentials provider calls in the profile's `sso_region`.
    Sso,
    /// IAM (`iam`): SimulatePrincipalPolicy and GetRole, for `doctor`. A global service:
    /// one host per partition, see [`IAM`].
    Iam,
    /// CloudTrail (`cloudtrail`): LookupEvents, for `eic-ssh audit`.
    CloudTrail,
}

impl Service {
    /// The services, for tests and listings.
    pub const ALL: [Service; 6] = [
        Service::Ec2,
        Service::InstanceConnect,
        Service::Sts,
        Service::Sso,
        Service::Iam,
        Service::CloudTrail,
    ];

    /// The service's name in botocore (and in `AWS_ENDPOINT_URL_<NAME>`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::InstanceConnect => "ec2-instance-connect",
            Service::Sts => "sts",
            Service::Sso => "sso",
            Service::Iam => "iam",
            Service::CloudTrail => "cloudtrail",
        }
    }

    /// The host's first labels, before `.REGION.`.
    fn label(self) -> &'static str {
        match self {
            Service::Ec2 => "ec2",
            Service::InstanceConnect => "ec2-instance-connect",
            Service::Sts => "sts",
            Service::Sso => "portal.sso",
            Service::Iam => "iam",
            Service::CloudTrail => "cloudtrail",
        }
    }

    /// Whether its FIPS host in `region` of `aws-us-gov` is the plain one: the rules of EC2,
    /// STS and SSO say `SERVICE.REGION.amazonaws.com` everywhere there, CloudTrail's only in
    /// us-gov-east-1 and us-gov-west-1 (those hosts are FIPS endpoints).
    fn plain_is_fips_in_gov(self, region: &str) -> bool {
        match self {
            Service::InstanceConnect => false,
            Service::CloudTrail => matches!(region, "us-gov-east-1" | "us-gov-west-1"),
            _ => true,
        }
    }
}

/// Which API endpoints: FIPS, dual-stack (IPv4 and IPv6), both or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    /// FIPS 140 endpoints (`AWS_USE_FIPS_ENDPOINT`, `use_fips_endpoint`).
    pub fips: bool,
    /// Dual-stack endpoints (`AWS_USE_DUALSTACK_ENDPOINT`, `use_dualstack_endpoint`).
    pub dual_stack: bool,
}

/// A variant the partition does not offer, and which of the two settings asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The partition's id.
    pub partition: &'static str,
    /// FIPS was asked for and the partition has none.
    pub fips: bool,
    /// Dual-stack was asked for and the partition has none.
    pub dual_stack: bool,
}

/// IAM's hosts in one partition: IAM is global, so every region of the partition calls the
/// same host and signs for the same region (botocore's `iam/endpoint-rule-set-1.json`).
#[derive(Debug)]
pub struct GlobalHosts {
    /// The partition's id.
    pub partition: &'static str,
    /// The region every request is signed for.
    pub signing_region: &'static str,
    /// Plain, FIPS, dual-stack, FIPS and dual-stack; `None`: not offered.
    hosts: [Option<&'static str>; 4],
}

/// IAM's hosts, per partition.
pub const IAM: &[GlobalHosts] = &[
    GlobalHosts {
        partition: "aws",
        signing_region: "us-east-1",
        hosts: [
            Some("iam.amazonaws.com"),
            Some("iam-fips.amazonaws.com"),
            Some("iam.global.api.aws"),
            Some("iam-fips.global.api.aws"),
        ],
    },
    GlobalHosts {
        partition: "aws-cn",
        signing_region: "cn-north-1",
        hosts: [
            Some("iam.cn-north-1.amazonaws.com.cn"),
            Some("iam-fips.amazonaws.com.cn"),
            Some("iam.global.api.amazonwebservices.com.cn"),
            Some("iam-fips.api.amazonwebservices.com.cn"),
        ],
    },
    GlobalHosts {
        partition: "aws-eusc",
        signing_region: "eusc-de-east-1",
        hosts: [
            Some("iam.eusc-de-east-1.amazonaws.eu"),
            Some("iam-fips.amazonaws.eu"),
            Some("iam.global.api.amazonwebservices.eu"),
            Some("iam-fips.api.amazonwebservices.eu"),
        ],
    },
    GlobalHosts {
        partition: "aws-iso",
        signing_region: "us-iso-east-1",
        hosts: [
            Some("iam.us-iso-east-1.c2s.ic.gov"),
            Some("iam-fips.us-iso-east-1.c2s.ic.gov"),
            Some("iam.api.aws.ic.gov"),
            Some("iam-fips.api.aws.ic.gov"),
        ],
    },
    GlobalHosts {
        partition: "aws-iso-b",
        signing_region: "us-isob-east-1",
        hosts: [
            Some("iam.us-isob-east-1.sc2s.sgov.gov"),
            Some("iam-fips.us-isob-east-1.sc2s.sgov.gov"),
            Some("iam.api.aws.scloud"),
            Some("iam-fips.api.aws.scloud"),
        ],
    },
    GlobalHosts {
        partition: "aws-iso-e",
        signing_region: "eu-isoe-west-1",
        hosts: [
            Some("iam.eu-isoe-west-1.cloud.adc-e.uk"),
            Some("iam-fips.cloud.adc-e.uk"),
            Some("iam.api.cloud-aws.adc-e.uk"),
            Some("iam-fips.api.cloud-aws.adc-e.uk"),
        ],
    },
    GlobalHosts {
        partition: "aws-iso-f",
        signing_region: "us-isof-south-1",
        hosts: [
            Some("iam.us-isof-south-1.csp.hci.ic.gov"),
            Some("iam-fips.csp.hci.ic.gov"),
            None,
            None,
        ],
    },
    GlobalHosts {
        partition: "aws-us-gov",
        signing_region: "us-gov-west-1",
        hosts: [
            Some("iam.us-gov.amazonaws.com"),
            Some("iam.us-gov.amazonaws.com"),
            Some("iam.us-gov.api.aws"),
            Some("iam.us-gov.api.aws"),
        ],
    },
];

/// IAM's hosts in the partition of `region`.
fn iam_hosts(region: &str) -> &'static GlobalHosts {
    let id = partition(region).id;
    IAM.iter()
        .find(|g| g.partition == id)
        .expect("every partition has IAM hosts")
}

/// The region a request to `service` in `region` is signed for: the region itself, but for
/// a global host (IAM everywhere, STS's plain `aws-global` host), its partition's global
/// region.
pub fn signing_region(service: Service, region: &str, variant: Variant) -> String {
    match service {
        Service::Iam => iam_hosts(region).signing_region.to_string(),
        Service::Sts if region == "aws-global" && variant == Variant::default() => {
            "us-east-1".to_string()
        }
        _ => region.to_string(),
    }
}

/// The host of `service` in `region` (already checked: `[a-z0-9-]`) for `variant`.
pub fn host(service: Service, region: &str, variant: Variant) -> Result<String, Unsupported> {
    let (p, by_regex) = matched(region).unwrap_or((&PARTITIONS[0], false));
    let no_fips = variant.fips && !p.supports_fips;
    let no_dual =
        variant.dual_stack && !(p.supports_dual_stack && (p.dual_stack_client || !by_regex));
    // FIPS with dual-stack needs both; botocore refuses either alone the same way.
    if no_fips || no_dual {
        return Err(Unsupported {
            partition: p.id,
            fips: no_fips,
            dual_stack: no_dual,
        });
    }
    if service == Service::Iam {
        let global = iam_hosts(region);
        let at = usize::from(variant.fips) + 2 * usize::from(variant.dual_stack);
        return global.hosts[at].map(str::to_string).ok_or(Unsupported {
            partition: p.id,
            fips: false,
            dual_stack: true,
        });
    }
    let label = service.label();
    Ok(match (variant.fips, variant.dual_stack) {
        (true, true) => format!("{label}-fips.{region}.{}", p.dual_stack_dns_suffix),
        (true, false) if p.id == "aws-us-gov" && service.plain_is_fips_in_gov(region) => {
            format!("{label}.{region}.amazonaws.com")
        }
        (true, false) => format!("{label}-fips.{region}.{}", p.dns_suffix),
        (false, true) => format!("{label}.{region}.{}", p.dual_stack_dns_suffix),
        (false, false) if service == Service::Sts && region == "aws-global" => {
            "sts.amazonaws.com".to_string()
        }
        (false, false) => format!("{label}.{region}.{}", p.dns_suffix),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = include_str!("../../tests/vectors/endpoints.tsv");

    #[test]
    fn every_botocore_vector_matches_the_table() {
        let mut rows = 0;
        let mut partitions = std::collections::BTreeSet::new();
        for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (service, region, partition_id, variant, expected, signed) = match cols[..] {
                [s, r, p, v, e] => (s, r, p, v, e, r),
                [s, r, p, v, e, signed] => (s, r, p, v, e, signed),
                _ => panic!("a vector has five or six columns: {line:?}"),
            };
            let service = Service::ALL
                .into_iter()
                .find(|s| s.name() == service)
                .unwrap_or_else(|| panic!("unknown service in {line:?}"));
            let variant = match variant {
                "plain" => Variant::default(),
                "fips" => Variant {
                    fips: true,
                    dual_stack: false,
                },
                "dualstack" => Variant {
                    fips: false,
                    dual_stack: true,
                },
                "fips+dualstack" => Variant {
                    fips: true,
                    dual_stack: true,
                },
                other => panic!("unknown variant {other:?}"),
            };
            assert!(crate::aws::context::check_region(region).is_ok(), "{line}");
            assert_eq!(partition(region).id, partition_id, "{line}");
            partitions.insert(partition_id);
            let got = host(service, region, variant);
            match expected.strip_prefix("refused: ") {
                Some(_) => assert!(got.is_err(), "{line}: the table gives {got:?}"),
                None => {
                    assert_eq!(got.as_deref(), Ok(expected), "{line}");
                    assert_eq!(signing_region(service, region, variant), signed, "{line}");
                }
            }
            rows += 1;
        }
        // Every region × 4 variants × 5 services, and every partition seen.
        assert!(rows >= 20 * 40, "only {rows} vectors");
        let known: std::collections::BTreeSet<_> = PARTITIONS.iter().map(|p| p.id).collect();
        assert_eq!(partitions, known);
    }

    #[test]
    fn a_region_no_partition_matches_falls_back_to_aws() {
        assert_eq!(partition("xx-nowhere-1").id, "aws");
        assert_eq!(partition("us-isof-west-4").id, "aws-iso-f");
        assert_eq!(
            host(Service::Ec2, "xx-nowhere-1", Variant::default()).as_deref(),
            Ok("ec2.xx-nowhere-1.amazonaws.com")
        );
    }

    #[test]
    fn refusals_say_which_setting_is_not_offered() {
        let both = Variant {
            fips: true,
            dual_stack: true,
        };
        assert_eq!(
            host(Service::Ec2, "eu-isoe-west-1", both),
            Err(Unsupported {
                partition: "aws-iso-e",
                fips: false,
                dual_stack: true
            })
        );
    }
}
