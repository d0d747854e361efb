//! What the man pages say that clap does not know: FILES, ENVIRONMENT, EXIT STATUS and SEE
//! ALSO for eic-ssh(1), and eic-ssh-config(5), the config file's own page.

use crate::error::Exit;

/// How the session form exits, by default and with detailed codes (EXIT STATUS).
const SESSION_EXIT_STATUS: &str = "\
.PP
The session (\\fBeic\\-ssh [user@]TARGET [COMMAND…]\\fR, or \\fBeic\\-ssh ssh …\\fR) exits as ssh(1) \
does: with the remote command's status, or 255 when eic\\-ssh itself fails (its command line, \
the egress guard, no region or credentials, the network, the tunnel, SSH), so that every code \
below 255 is the remote command's; SIGHUP, SIGINT or SIGTERM sent to eic\\-ssh ends it, as \
\\-N, \\fBproxy\\fR, \\fBtunnel\\fR and \\fBrun\\fR, with 129, 130 or 143 once what was open is \
closed and logged. The other commands always exit with the codes above.
.PP
With \\fB\\-\\-exit\\-codes detailed\\fR, or \\fBEIC_SSH_EXIT_CODES=detailed\\fR in the environment, \
the session exits with the code above for the cause instead (3 when the guard refuses, 4 without \
credentials, …), and the error line of every command carries the cause's tag: \
\\fBeic\\-ssh: error[refused]: refusing to connect: …\\fR. The remote command's status still \
passes through, so a script tells the two apart by that line: it is printed only when \
eic\\-ssh itself failed. Codes and tags are stable.
";

/// The sections appended to eic-ssh(1), as roff.
pub fn main_page_extras() -> String {
    let mut out = String::new();
    out.push_str(".SH FILES\n");
    for (path, what) in FILES {
        out.push_str(&format!(".TP\n\\fI{path}\\fR\n{what}\n"));
    }
    out.push_str(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        out.push_str(&format!(".TP\n\\fB{name}\\fR\n{what}\n"));
    }
    out.push_str(".SH \"EXIT STATUS\"\n.TP\n\\fB0\\fR\nsuccess\n");
    for exit in Exit::ALL {
        let tag = exit
            .tag()
            .map_or(String::new(), |t| format!(" (tag \\fB{t}\\fR)"));
        out.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}{tag}\n",
            exit.code(),
            exit.meaning()
        ));
    }
    out.push_str(SESSION_EXIT_STATUS);
    out.push_str(".SH \"SEE ALSO\"\n");
    out.push_str(SEE_ALSO);
    out.push('\n');
    out
}

/// Files read or written, with what each is for.
const FILES: &[(&str, &str)] = &[
    (
        "~/.config/eic-ssh/config.toml",
        "The config file: host aliases and the egress allowlist (see eic-ssh-config(5)). Refused when someone else could have changed it.",
    ),
    (
        "~/.ssh/known_hosts",
        "Host keys, recorded under the instance id (or host_key_alias).",
    ),
    (
        "$XDG_RUNTIME_DIR/eic-ssh/slots/ENDPOINT/N.lock",
        "The per-endpoint tunnel slots: one locked file per open tunnel of this user's, at most 20 an endpoint (without XDG_RUNTIME_DIR, under ~/.cache/eic-ssh/slots). The operating system drops a lock when its process ends.",
    ),
    (
        "~/.ssh/eic-ssh.conf",
        "What \\fBeic\\-ssh ssh\\-config \\-\\-write\\fR writes, for an Include in ~/.ssh/config.",
    ),
    (
        "~/.cache/eic-ssh/",
        "The egress IP (egress-ip.json, at most 60 seconds) and the routes to targets (routes.json, 10 minutes; --no-cache skips it).",
    ),
    (
        "~/.local/state/eic-ssh/log.jsonl",
        "The local log of connection attempts (\\fBeic\\-ssh log\\fR).",
    ),
    (
        "~/.aws/config, ~/.aws/credentials",
        "AWS profiles, SSO sessions and credentials, read as the AWS CLI reads them.",
    ),
];

/// Variables read, with what each does.
const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "EIC_SSH_CONFIG",
        "The config file, instead of the default place.",
    ),
    (
        "EIC_SSH_EXIT_CODES",
        "\\fBdetailed\\fR: the session exits with the per-cause code, and error lines carry a tag (see EXIT STATUS); \\fBssh\\fR (the default): 255, as ssh does. \\fB\\-\\-exit\\-codes\\fR wins.",
    ),
    (
        "EIC_SSH_KNOWN_HOSTS",
        "The known_hosts file, instead of ~/.ssh/known_hosts.",
    ),
    (
        "EIC_SSH_EGRESS_CHECK_URL",
        "Where to learn the egress IP (comma-separated URLs that must agree).",
    ),
    (
        "EIC_SSH_EGRESS_CACHE_SECS",
        "How long the egress IP is cached, at most 60 (0 turns the cache off).",
    ),
    (
        "EIC_SSH_CREDENTIAL_PROCESS_TIMEOUT_SECS",
        "How long a profile's credential_process may run, at most 60 (the default).",
    ),
    (
        "EIC_SSH_LIMIT_WARNING_SECS",
        "Seconds before a tunnel's maximum duration the warning comes (default 60; 0: none). For tests.",
    ),
    (
        "EIC_SSH_TUNNEL_ENDPOINT_URL",
        "Open tunnels at this wss:// URL instead of the endpoint's DNS name.",
    ),
    (
        "AWS_PROFILE, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "AWS credentials and region, as for the AWS CLI; \\-\\-profile and \\-\\-region win, then the target's own [hosts] section; both variables win over [defaults].",
    ),
    (
        "AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL_EC2_INSTANCE_CONNECT, AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL_CLOUDTRAIL, AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT, AWS_CA_BUNDLE",
        "API endpoints, FIPS and dual\\-stack endpoints, and the CA certificates that replace the system roots.",
    ),
    (
        "https_proxy, HTTPS_PROXY, http_proxy, all_proxy, ALL_PROXY, no_proxy, NO_PROXY",
        "An HTTP CONNECT proxy for the egress check, the API calls and the tunnel, read with curl's rules (lower case first; HTTP_PROXY in upper case is ignored); the egress check takes the tunnel's road. An unusable value is an error naming the variable.",
    ),
    (
        "XDG_CONFIG_HOME, XDG_CACHE_HOME, XDG_STATE_HOME",
        "Where the config file, the cache and the log live.",
    ),
];

const SEE_ALSO: &str = "eic\\-ssh\\-config(5), ssh(1), ssh_config(5), scp(1), sftp(1), aws(1)";

/// eic-ssh-config(5): the config file.
pub fn config_page() -> String {
    let version = env!("CARGO_PKG_VERSION");
    let mut out = format!(
        ".TH eic-ssh-config 5 \"\" \"eic-ssh {version}\"\n.SH NAME\neic\\-ssh\\-config \\- the eic\\-ssh config file\n.SH SYNOPSIS\n~/.config/eic\\-ssh/config.toml\n.SH DESCRIPTION\n"
    );
    out.push_str(DESCRIPTION);
    out.push_str(".SH KEYS\n");
    for (key, where_, what) in KEYS {
        out.push_str(&format!(".TP\n\\fB{key}\\fR ({where_})\n{what}\n"));
    }
    out.push_str(".SH EXAMPLE\n.nf\n");
    out.push_str(EXAMPLE);
    out.push_str(".fi\n.SH \"SEE ALSO\"\neic\\-ssh(1), eic\\-ssh\\-config\\-check(1), eic\\-ssh\\-config\\-init(1)\n");
    out
}

const DESCRIPTION: &str = "A TOML file: \\fB[defaults]\\fR applies to every target, and each \\fB[hosts.ALIAS]\\fR names one instance (by \\fBinstance\\fR id or \\fBname\\fR tag) and may replace any default. Found at \\-\\-config, else $EIC_SSH_CONFIG, else $XDG_CONFIG_HOME/eic\\-ssh/config.toml. Precedence: flags, then the target's host section, then the environment, then [defaults], then the AWS profile, then built\\-in values; \\fBeic\\-ssh config check TARGET\\fR shows where each value came from.\n.PP\nThe allowlist of a section protects its \\fIinstance\\fR however it is typed (alias, id or Name tag); when several sections name one instance, the egress IP must be in every list. Values written into known_hosts or ssh_config (aliases, user, profile, region, host_key_alias) must be plain names: letters, digits, '.', '_', '\\-', '@', '+', not starting with '\\-' or '@'.\n.PP\nThe file is refused when someone else could have changed it: it must be owned by you or root, not writable by group or others, in directories up to your home that only you or root can change, a regular file of at most 1 MiB. \\fBeic\\-ssh config check\\fR validates it and prints what it means for each target.\n";

/// Key, where it may stand, what it does.
const KEYS: &[(&str, &str, &str)] = &[
    (
        "instance",
        "host",
        "Instance id: i\\- and 8 or 17 hex digits.",
    ),
    (
        "name",
        "host",
        "Name tag, resolved with DescribeInstances; never one shaped like an instance id.",
    ),
    (
        "allow",
        "both",
        "Egress allowlist: CIDRs, never empty. A host's list replaces the default one.",
    ),
    (
        "egress_check",
        "both",
        "false turns the egress check off, explicitly.",
    ),
    (
        "egress_check_url",
        "both",
        "Where to learn the egress IP: https:// URLs (http:// only to loopback), one or a list; all must agree.",
    ),
    (
        "allow_from_security_group",
        "both",
        "Also admit what the instance's security group admits on the port.",
    ),
    (
        "region, profile, user",
        "both",
        "AWS region, AWS profile, OS user on the instance.",
    ),
    (
        "endpoint (or endpoint_id)",
        "host",
        "Endpoint id (eice\\- and 17 hex digits) instead of discovery.",
    ),
    (
        "endpoint_dns_name, private_ip",
        "host",
        "With endpoint, no EC2 call at all.",
    ),
    ("port", "host", "22 or 3389."),
    ("max_tunnel_duration", "host", "1 to 3600 seconds."),
    (
        "host_key_alias, known_hosts",
        "host",
        "Where host keys are recorded and looked up.",
    ),
    (
        "forward",
        "host",
        "Forwards the session opens, as on the command line: \"\\-L …\", \"\\-D …\", \"\\-R …\".",
    ),
    (
        "quota_wait",
        "both",
        "0 to 3600 seconds (default 30) a tunnel may wait in all when the endpoint's 20 connections are in use (HTTP 429), trying again with jittered exponential backoff; 0: no waiting. \\-\\-quota\\-wait wins.",
    ),
    (
        "connect_timeout",
        "both",
        "1 to 600 seconds (default 15) opening a tunnel may take: TCP, the proxy's CONNECT, TLS and the WebSocket upgrade.",
    ),
    (
        "log",
        "defaults",
        "false turns the local connection log off.",
    ),
    (
        "cache",
        "defaults",
        "false turns the route cache off: every connect asks the EC2 API where the target is (as \\-\\-no\\-cache).",
    ),
];

const EXAMPLE: &str = "[defaults]\nregion = \"eu\\-west\\-1\"\nuser = \"ec2\\-user\"\nallow = [\"203.0.113.0/24\"]\n\n[hosts.bastion]\ninstance = \"i\\-0123456789abcdef0\"\nallow_from_security_group = true\n";
