//! Command-line definitions (clap), with examples in the help text.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

const EXAMPLES: &str = "\
Examples:
  # A shell, or a command, on a private instance (no ssh binary, no key files;
  # bastion: a [hosts] alias in the config file, with its instance and user):
  eic-ssh ec2-user@i-0123456789abcdef0
  eic-ssh ssh ec2-user@i-0123456789abcdef0
  eic-ssh bastion -- systemctl status nginx

  # In ~/.ssh/config, so that ssh, scp, sftp, rsync and git reach private instances:
  Host i-*
      User ec2-user
      ProxyCommand eic-ssh proxy %h %p --user %r --push-key ~/.ssh/id_ed25519.pub

  # A local port that forwards to the instance's port 22, one tunnel per connection,
  # pushing your key for each:
  eic-ssh tunnel i-0123456789abcdef0 --local-port 2222 --user ec2-user --push-key ~/.ssh/id_ed25519.pub
  ssh -p 2222 -i ~/.ssh/id_ed25519 -o HostKeyAlias=i-0123456789abcdef0 ec2-user@localhost

  # Am I on an allowed network? Is the AWS side set up right?
  eic-ssh egress bastion
  eic-ssh doctor bastion";

/// The examples, then the exit codes from the one list in `error.rs`.
fn after_help() -> String {
    format!(
        "{EXAMPLES}\n\n{}\n\nMore: `eic-ssh COMMAND --help`, and the man pages (`eic-ssh man --dir DIR` writes them).",
        crate::error::exit_table()
    )
}

/// SSH to private EC2 instances through an EC2 Instance Connect Endpoint.
///
/// `eic-ssh [user@]TARGET [COMMAND…]` opens a shell or runs a command with the embedded SSH
/// client; the subcommands below do the rest.
#[derive(Debug, Parser)]
#[command(
    name = "eic-ssh",
    version,
    after_help = after_help(),
    propagate_version = true,
    subcommand_negates_reqs = true,
    override_usage = "eic-ssh [OPTIONS] [user@]TARGET [--] [COMMAND…]\n       eic-ssh <COMMAND> [OPTIONS] [ARGS…]"
)]
pub struct Cli {
    /// What to do; without one, an SSH session to TARGET.
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub session: SessionArgs,
    #[command(flatten)]
    pub globals: Globals,
    /// More detail on stderr: -v info, -vv debug, -vvv trace. Secrets are never logged.
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// Options that mean the same for every command, before or after the subcommand.
#[derive(Debug, Args, Clone, Default)]
pub struct Globals {
    /// Config file (else $EIC_SSH_CONFIG, else ~/.config/eic-ssh/config.toml); a file named
    /// here must exist.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
    /// AWS profile (else the target's [hosts] section's, else AWS_PROFILE, else [defaults]',
    /// else default).
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (else the target's [hosts] section's, else AWS_REGION, else [defaults]',
    /// else the profile's).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Exit codes for scripts: `ssh` (the default) exits 255 for every failure of the
    /// session form, as ssh does; `detailed` exits with the per-cause code (2 usage,
    /// 3 refused, 4 credentials, 5 not found, 8 network, …) and tags every error line
    /// `eic-ssh: error[TAG]: …`.
    #[arg(long, global = true, value_enum, value_name = "MODE", env = "EIC_SSH_EXIT_CODES",
          default_value_t = ExitCodes::Ssh)]
    pub exit_codes: ExitCodes,
}

/// Which exit codes the session form uses for its own failures (`--exit-codes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ExitCodes {
    /// 255 for every failure of the session form (ssh's convention); no tag.
    #[default]
    Ssh,
    /// The documented per-cause code, and a tag on the error line.
    Detailed,
}

impl ExitCodes {
    /// Whether the per-cause codes and the tag were asked for.
    pub fn detailed(self) -> bool {
        self == ExitCodes::Detailed
    }
}

impl Globals {
    /// `--profile` and `--region` are each one plain name (`plain_name`), wherever they
    /// stand: both go into ProxyCommands, the log and API host names.
    pub fn check(&self) -> Result<(), crate::error::Failure> {
        for (flag, value) in [("--profile", &self.profile), ("--region", &self.region)] {
            if let Some(value) = value {
                crate::plain_name::check(flag, value).map_err(crate::error::Failure::usage)?;
            }
        }
        Ok(())
    }

    /// `--profile` and `--region`, as the AWS layer takes them.
    pub fn aws_choices(&self) -> crate::aws::AwsChoices {
        crate::aws::AwsChoices {
            profile: self.profile.clone(),
            region: self.region.clone(),
        }
    }
}

/// `eic-ssh [user@]TARGET [COMMAND…]`: the embedded SSH session.
#[derive(Debug, Args, Default)]
pub struct SessionArgs {
    /// `[user@]TARGET`: alias from the config file, instance id or Name tag. Left out on a
    /// terminal: pick one from the aliases and the reachable instances.
    pub target: Option<String>,
    /// Command to run instead of a shell (put it after `--` when it has options).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub remote_command: Vec<String>,
    /// Port on the instance: 22 (the default) or 3389.
    #[arg(short = 'p', long)]
    pub port: Option<u16>,
    /// Force a terminal (PTY), even for a command or without a local terminal.
    #[arg(short = 't', conflicts_with = "no_tty")]
    pub tty: bool,
    /// Never ask for a terminal.
    #[arg(short = 'T')]
    pub no_tty: bool,
    /// Forward the local SSH agent ($SSH_AUTH_SOCK) to the instance.
    #[arg(short = 'A')]
    pub forward_agent: bool,
    /// Local forward (repeatable): connections to [BIND:]PORT go to HOST:HOSTPORT as the
    /// instance resolves it (an RDS endpoint, an internal web UI). Loopback by default.
    #[arg(short = 'L', value_name = "[BIND:]PORT:HOST:HOSTPORT")]
    pub local_forward: Vec<String>,
    /// Remote forward (repeatable): connections to [BIND:]PORT on the instance come back
    /// to HOST:HOSTPORT from here; port 0 lets the instance choose (printed).
    #[arg(short = 'R', value_name = "[BIND:]PORT:HOST:HOSTPORT")]
    pub remote_forward: Vec<String>,
    /// SOCKS proxy (repeatable): SOCKS5 and SOCKS4/4a on [BIND:]PORT, names resolved on
    /// the instance (`curl --socks5-hostname`). Loopback by default.
    #[arg(short = 'D', value_name = "[BIND:]PORT")]
    pub dynamic_forward: Vec<String>,
    /// No remote command: keep the forwards up until Ctrl-C.
    #[arg(short = 'N')]
    pub no_command: bool,
    /// A forward that cannot listen stops eic-ssh before it connects (else a warning).
    #[arg(long)]
    pub exit_on_forward_failure: bool,
    /// Reconnect the forwards when the tunnel ends (the default with -N; needs -N, since
    /// a shell or command cannot move to a new connection).
    #[arg(long, conflicts_with = "no_reconnect")]
    pub reconnect: bool,
    /// With -N: end when the connection ends, instead of reconnecting.
    #[arg(long)]
    pub no_reconnect: bool,
    /// With -N: attempts in a row to reconnect before giving up.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub reconnect_attempts: u32,
    /// With -N: keep retrying when the egress guard refuses this network (else stop).
    #[arg(long)]
    pub retry_refused: bool,
    /// Host-key checking.
    #[command(flatten)]
    pub host_keys: HostKeyArgs,
    /// Routing, AWS and config options, as for `proxy` (`--push-key` does not apply:
    /// the session pushes its own in-memory key).
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How the instance's host key is checked (session and `cp`).
#[derive(Debug, Args, Clone, Default)]
pub struct HostKeyArgs {
    /// known_hosts file (default ~/.ssh/known_hosts).
    #[arg(long, env = "EIC_SSH_KNOWN_HOSTS", value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// What to do with an unknown host key (default: ask on a terminal, strict otherwise).
    #[arg(long, value_enum, value_name = "POLICY")]
    pub host_key_check: Option<crate::ssh::host_keys::Policy>,
    /// Name to record and look up the host key under, instead of the instance id (like
    /// OpenSSH's HostKeyAlias; e.g. one name for an auto-scaled fleet sharing a key).
    #[arg(long, value_name = "NAME", value_parser = plain_name)]
    pub host_key_alias: Option<String>,
    /// Verify a first-seen host key against the host keys the instance printed to its
    /// console at boot (ec2:GetConsoleOutput), instead of trusting it blindly.
    #[arg(long)]
    pub host_key_from_console: bool,
    /// Seconds from the tunnel opening until logged in (banner, key exchange, host key,
    /// authentication), and again for opening the session; a phase that stalls stops
    /// with a line naming it (time spent at a host-key prompt does not count).
    #[arg(long, value_name = "SECS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub handshake_timeout: u64,
    /// Seconds of silence from the instance before a keepalive is sent (OpenSSH's
    /// ServerAliveInterval).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub server_alive_interval: u64,
    /// Unanswered keepalives before the connection is declared lost (ServerAliveCountMax).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub server_alive_count_max: u64,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// A shell or a command on an instance: `eic-ssh ssh [user@]TARGET [COMMAND…]` is
    /// `eic-ssh [user@]TARGET [COMMAND…]`, with the same options (as with
    /// `aws ec2-instance-connect ssh` or `gcloud compute ssh`).
    #[command(
        override_usage = "eic-ssh ssh [OPTIONS] [user@]TARGET [--] [COMMAND…]",
        after_help = "Examples:\n  eic-ssh ssh ec2-user@i-0123456789abcdef0\n  eic-ssh ssh bastion -- systemctl status nginx\n  eic-ssh ssh -L 5432:db.internal:5432 -N bastion"
    )]
    Ssh(Lazy<SessionArgs>),
    /// Pipe stdin/stdout through a tunnel: for OpenSSH's ProxyCommand.
    #[command(
        after_help = "Example (~/.ssh/config):\n  Host i-*\n      ProxyCommand eic-ssh proxy %h %p --user %r --push-key ~/.ssh/id_ed25519.pub"
    )]
    Proxy(Lazy<ProxyArgs>),
    /// Show the egress IP, the allowlist that applies to a target, and the verdict.
    #[command(after_help = "Examples:\n  eic-ssh egress\n  eic-ssh egress bastion")]
    Egress(Lazy<EgressArgs>),
    /// Check the whole AWS setup for a target and print a checklist with fixes.
    #[command(
        after_help = "Examples:\n  eic-ssh doctor bastion\n  eic-ssh doctor bastion --fix\n  eic-ssh doctor i-0123456789abcdef0 --json"
    )]
    Doctor(Lazy<DoctorArgs>),
    /// Inspect the config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy files to or from an instance (scp's syntax, over SFTP in the embedded session).
    #[command(
        override_usage = "eic-ssh cp [OPTIONS] SOURCE… DEST",
        after_help = "Examples:\n  eic-ssh cp ./build.tar.gz bastion:/tmp/\n  eic-ssh cp -r bastion:/var/log/nginx ./logs\n  eic-ssh cp a.txt b.txt ubuntu@i-0123456789abcdef0:~/in/\n  eic-ssh cp 'bastion:/var/log/*.gz' .\n  eic-ssh cp --resume bastion:/data/big.img ."
    )]
    Cp(Lazy<CpArgs>),
    /// List the instances in the region: endpoint, alias, and the guard's verdict now.
    #[command(
        after_help = "Examples:\n  eic-ssh list\n  eic-ssh list --all-regions --filter tag:team=web\n  eic-ssh list --json | jq -r '.instances[] | select(.guard == \"allowed\") | .instance_id'"
    )]
    List(Lazy<ListArgs>),
    /// Who opened tunnels from where (CloudTrail), judged against today's allowlist.
    #[command(
        after_help = "Examples:\n  eic-ssh audit\n  eic-ssh audit --since 7d bastion\n  eic-ssh audit --since 2024-05-01 --until 2024-05-02T12:00:00Z --all-regions\n  eic-ssh audit --since 1h --fail-on-outside --json > audit.jsonl"
    )]
    Audit(Lazy<AuditArgs>),
    /// Show the local log of connection attempts.
    #[command(
        after_help = "Examples:\n  eic-ssh log\n  eic-ssh log -n 100 --json | jq 'select(.guard == \"refused\")'"
    )]
    Log(Lazy<LogArgs>),
    /// Print ~/.ssh/config blocks that send ssh, scp, rsync, git and IDEs through eic-ssh.
    #[command(
        after_help = "Examples:\n  eic-ssh ssh-config\n  eic-ssh ssh-config --discover --filter tag:team=web --write\n  eic-ssh ssh-config --identity ~/.ssh/work_ed25519 --write ~/.ssh/eic-work.conf"
    )]
    SshConfig(Lazy<SshConfigArgs>),
    /// An Ansible dynamic inventory (`--list`, `--host HOST`): hosts reached through
    /// `eic-ssh proxy`, grouped by tag, endpoint and availability zone.
    #[command(
        after_help = "Examples:\n  eic-ssh inventory --list\n  ansible -i ./eic-inventory -f 50 all -m ping   # eic-inventory: exec eic-ssh inventory --identity ~/.ssh/id_ed25519 -l ec2-user \"$@\""
    )]
    Inventory(Lazy<InventoryArgs>),
    /// Print a shell completion script (config aliases complete as targets in bash, zsh and
    /// fish).
    #[command(
        after_help = "Examples:\n  eic-ssh completions bash > ~/.local/share/bash-completion/completions/eic-ssh\n  eic-ssh completions zsh > ~/.zfunc/_eic-ssh\n  eic-ssh completions fish > ~/.config/fish/completions/eic-ssh.fish"
    )]
    Completions(Lazy<CompletionsArgs>),
    /// Print the man page, or write one per command into a directory.
    #[command(
        after_help = "Examples:\n  eic-ssh man | man -l -\n  eic-ssh man --dir ~/.local/share/man && man eic-ssh"
    )]
    Man(Lazy<ManArgs>),
    /// Listen on a local port and open one tunnel per accepted connection.
    #[command(
        after_help = "Examples:\n  # SSH: push your key for each connection (--user names the OS user it is for); the\n  # host key is recorded under the instance id, not localhost:\n  eic-ssh tunnel i-0123456789abcdef0 --local-port 2222 --user ec2-user --push-key ~/.ssh/id_ed25519.pub\n  ssh -p 2222 -i ~/.ssh/id_ed25519 -o HostKeyAlias=i-0123456789abcdef0 ec2-user@localhost\n\n  # Remote desktop to a Windows instance (no key to push):\n  eic-ssh tunnel i-0123456789abcdef0 --local-port 13389 --remote-port 3389"
    )]
    Tunnel(Lazy<TunnelArgs>),
    /// Run a command on many instances at once, within each endpoint's 20 connections:
    /// output prefixed by host, a summary, and an exit status that says what failed.
    #[command(
        override_usage = "eic-ssh run [OPTIONS] [TARGET…] -- COMMAND…",
        after_help = "Examples:\n  eic-ssh run 'web-*' -- uptime\n  eic-ssh run --filter tag:Role=web -l ec2-user -- sudo systemctl restart nginx\n  eic-ssh run -P 50 --max-errors 10% --out-dir ./out --filter tag:env=prod -- cat /etc/os-release\n  eic-ssh run --json web-1 web-2 -- df -h / | jq -r 'select(.exit != 0) | .label'"
    )]
    Run(Lazy<RunArgs>),
}

/// `eic-ssh run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Hosts: config aliases, instance ids, Name tags, Name globs ('web-*'); combined with
    /// --filter, only the instances both select.
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// The command, after `--`, run by each host's shell.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
    /// Only instances matching this EC2 filter, e.g. tag:Role=web (repeatable;
    /// NAME=VALUE[,VALUE…]), as `list` has it.
    #[arg(long, value_name = "NAME=VALUE")]
    pub filter: Vec<String>,
    /// Print the hosts with their endpoint and the guard's verdict; connect to nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Hosts in flight at once (default 20).
    #[arg(short = 'P', long, value_name = "N", default_value = "20")]
    pub parallel: String,
    /// Open tunnels at most on any one endpoint, counting this user's other eic-ssh
    /// processes' (1–20, default 20: the endpoint's quota).
    #[arg(long, value_name = "N", default_value = "20")]
    pub per_endpoint: String,
    /// Write DIR/LABEL.stdout, .stderr and .exit instead of printing (DIR new or empty).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// One JSON object a line per host as it finishes: label, instance_id, endpoint_id,
    /// status (ok, failed, unreachable, refused, timed_out, not_started), exit, error,
    /// error_kind, stdout, stdout_truncated, stderr, stderr_truncated (64 KiB kept of each),
    /// start, duration_ms.
    #[arg(long, conflicts_with = "out_dir")]
    pub json: bool,
    /// Seconds each host may take, from its turn to its command's end.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub timeout: Option<u64>,
    /// Stop starting hosts once N (or N% of them) have failed.
    #[arg(long, value_name = "N|N%")]
    pub max_errors: Option<String>,
    /// Send this stdin, read to its end first, to every host (else they get none).
    #[arg(long)]
    pub stdin: bool,
    /// Host-key checking (default strict: known hosts only; `accept-new` records new ones).
    #[command(flatten)]
    pub host_keys: HostKeyArgs,
    /// Routing, AWS and config options, as for the session.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A subcommand's arguments, added to clap's command tree only when that subcommand is the
/// one being parsed (`Command::defer`). Building every subcommand's arguments at each start
/// cost `eic-ssh proxy` resident memory for code and help text it never uses
/// (docs/design.md, "Dependencies, and why"). Help, completions and man pages build the
/// whole tree.
#[derive(Debug)]
pub struct Lazy<T>(pub T);

impl<T: Args> Args for Lazy<T> {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        cmd.defer(|cmd| keep_about(cmd, T::augment_args_for_update))
    }

    fn group_id() -> Option<clap::Id> {
        T::group_id()
    }
}

/// Adds the arguments, keeping the subcommand's description: the arguments' own doc comment
/// (e.g. "`eic-ssh cp`") would otherwise replace it, as it did not when added up front.
fn keep_about(cmd: clap::Command, add: fn(clap::Command) -> clap::Command) -> clap::Command {
    let about = cmd.get_about().cloned();
    let long_about = cmd.get_long_about().cloned();
    let or_reset = |text: Option<clap::builder::StyledStr>| {
        text.map_or(
            clap::builder::Resettable::Reset,
            clap::builder::Resettable::Value,
        )
    };
    add(cmd)
        .about(or_reset(about))
        .long_about(or_reset(long_about))
}

impl<T: FromArgMatches> FromArgMatches for Lazy<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches(matches).map(Lazy)
    }

    fn from_arg_matches_mut(matches: &mut ArgMatches) -> Result<Self, clap::Error> {
        T::from_arg_matches_mut(matches).map(Lazy)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches(matches)
    }

    fn update_from_arg_matches_mut(&mut self, matches: &mut ArgMatches) -> Result<(), clap::Error> {
        self.0.update_from_arg_matches_mut(matches)
    }
}

/// `eic-ssh cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Sources, then the destination; remote ones are `[user@]TARGET:PATH`.
    #[arg(required = true, num_args = 2.., value_name = "PATH")]
    pub operands: Vec<String>,
    /// Copy directories recursively (symlinks are copied as links).
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Keep modes and modification/access times.
    #[arg(short = 'p', long)]
    pub preserve: bool,
    /// Continue partial files (left as `.NAME.eic-ssh.part`) by size.
    #[arg(long)]
    pub resume: bool,
    /// Stop when one remote directory lists more than N entries (a server that lists
    /// forever).
    #[arg(long, value_name = "N", default_value_t = crate::copy::transfer::MAX_DIR_ENTRIES)]
    pub max_dir_entries: usize,
    /// Stop when the remote listings of one copy hold more than N entries in all.
    #[arg(long, value_name = "N", default_value_t = crate::copy::transfer::MAX_ENTRIES)]
    pub max_entries: usize,
    /// Seconds the instance's SFTP server may take to start, and to answer while a reply
    /// is awaited, before the copy stops.
    #[arg(long, value_name = "SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub sftp_timeout: u64,
    /// Host-key checking.
    #[command(flatten)]
    pub host_keys: HostKeyArgs,
    /// Routing, AWS and config options, as for `proxy`.
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `eic-ssh inventory`.
#[derive(Debug, Args)]
pub struct InventoryArgs {
    /// Print every group and `_meta.hostvars` (what Ansible asks for).
    #[arg(long, conflicts_with = "host")]
    pub list: bool,
    /// Print one host's variables (`{}` for a host not in the inventory).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Only instances matching this EC2 filter, e.g. tag:Role=web (repeatable;
    /// NAME=VALUE[,VALUE…]).
    #[arg(long, value_name = "NAME=VALUE")]
    pub filter: Vec<String>,
    /// The key ssh offers and the ProxyCommand pushes (its .pub must sit beside it); default:
    /// the first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that has a .pub.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// `ansible_user` of every host (else `user` from the config; else Ansible's default).
    #[arg(long, short = 'l', value_parser = plain_name)]
    pub user: Option<String>,
    /// Leave out connection sharing (ControlMaster, ControlPath, ControlPersist).
    #[arg(long)]
    pub no_multiplex: bool,
}

/// `eic-ssh list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Every region enabled for the account (ec2:DescribeRegions), not just one.
    #[arg(long)]
    pub all_regions: bool,
    /// Only instances matching this EC2 filter, e.g. tag:team=web (repeatable;
    /// NAME=VALUE[,VALUE…]).
    #[arg(long, value_name = "NAME=VALUE")]
    pub filter: Vec<String>,
    /// Print JSON: egress_ip, and instances, each with instance_id, name, state,
    /// endpoint_id, aliases, guard, ….
    #[arg(long)]
    pub json: bool,
}

/// `eic-ssh audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only events reaching these instances (alias, instance id or Name tag).
    #[arg(value_name = "TARGET")]
    pub targets: Vec<String>,
    /// Start of the window: a duration before now (30m, 24h, 7d, 2w) or a UTC time
    /// (2024-05-01T10:00:00Z, 2024-05-01). Default 24h; CloudTrail keeps 90 days.
    #[arg(long, value_name = "DURATION|TIME")]
    pub since: Option<String>,
    /// End of the window (a time, or a duration before now). Default: now.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only events reaching instances matching this EC2 filter, e.g. tag:team=web
    /// (repeatable; NAME=VALUE[,VALUE…]).
    #[arg(long, value_name = "NAME=VALUE")]
    pub filter: Vec<String>,
    /// Every region enabled for the account (ec2:DescribeRegions), not just one.
    #[arg(long)]
    pub all_regions: bool,
    /// One JSON object a line: time, event, principal, source_ip, endpoint_id,
    /// private_ip, instance_id, port, error_code, allowed, ….
    #[arg(long)]
    pub json: bool,
    /// Exit with code 9 when a tunnel opened from a source outside today's allowlist
    /// (for cron and CI).
    #[arg(long)]
    pub fail_on_outside: bool,
}

/// `eic-ssh log`.
#[derive(Debug, Args)]
pub struct LogArgs {
    /// How many of the last attempts to show.
    #[arg(short = 'n', long, value_name = "N", default_value_t = 20)]
    pub lines: usize,
    /// One JSON object a line, as stored.
    #[arg(long)]
    pub json: bool,
}

/// `eic-ssh ssh-config`.
#[derive(Debug, Args)]
pub struct SshConfigArgs {
    /// Also one Host per running instance an endpoint serves (Name tag and id as names).
    #[arg(long)]
    pub discover: bool,
    /// With --discover: only instances matching this EC2 filter, e.g. tag:team=web
    /// (repeatable; NAME=VALUE[,VALUE…]).
    #[arg(long, value_name = "NAME=VALUE", requires = "discover")]
    pub filter: Vec<String>,
    /// With --discover: let Name tags with a dot (web.example.com) or that are IP addresses
    /// become Host names too; they then take ssh traffic meant for those hosts. `localhost`
    /// never does.
    #[arg(long, requires = "discover")]
    pub allow_dotted_names: bool,
    /// The key ssh offers and the proxy pushes (its .pub must sit beside it); default: the
    /// first of ~/.ssh/id_ed25519, id_ecdsa, id_rsa that has a .pub.
    #[arg(long, short = 'i', value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Write the blocks to FILE (default ~/.ssh/eic-ssh.conf), replaced atomically, and print
    /// the Include line to add; ~/.ssh/config itself is never edited.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "~/.ssh/eic-ssh.conf")]
    pub write: Option<PathBuf>,
    /// OS user for discovered instances (else `user` in [defaults]; else ssh's own default).
    #[arg(long, short = 'l', value_parser = plain_name)]
    pub user: Option<String>,
    /// Leave out connection sharing (ControlMaster, ControlPath, ControlPersist): each `ssh`
    /// then opens its own tunnel, and an endpoint admits 20 at once.
    #[arg(long)]
    pub no_multiplex: bool,
}

/// `eic-ssh config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config file and print the effective settings (for TARGET, or every host).
    #[command(after_help = "Examples:\n  eic-ssh config check\n  eic-ssh config check bastion")]
    Check(Lazy<ConfigCheckArgs>),
    /// Print the `[hosts]` aliases, one a line (shell completion uses it).
    Aliases(Lazy<ConfigAliasesArgs>),
    /// Write a commented starter config file (never over an existing one).
    #[command(
        after_help = "Examples:\n  eic-ssh config init --allow-current\n  eic-ssh config init --allow 203.0.113.0/24 --allow 2001:db8::/32 --region eu-west-1"
    )]
    Init(Lazy<ConfigInitArgs>),
}

/// `eic-ssh completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, powershell or elvish.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `eic-ssh man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write the pages into a manual's directory: eic-ssh.1 and one page per subcommand
    /// (eic-ssh-proxy.1, …) into DIR/man1, eic-ssh-config.5 into DIR/man5. A DIR named
    /// man1 (or man5) is taken as that section's directory: the other goes beside it.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `eic-ssh config aliases`.
#[derive(Debug, Args)]
pub struct ConfigAliasesArgs {}

/// `eic-ssh config init`.
#[derive(Debug, Args)]
pub struct ConfigInitArgs {
    /// Put this CIDR in the allowlist (repeatable).
    #[arg(long, value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Put the current egress IP (as a /32 or /128) in the allowlist.
    #[arg(long)]
    pub allow_current: bool,
    /// `user` in [defaults].
    #[arg(long, short = 'l')]
    pub user: Option<String>,
}

/// `eic-ssh config check`.
#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// Alias, instance id or Name tag.
    pub target: Option<String>,
    /// Print the settings as one JSON object (config_file, valid, then hosts or error).
    #[arg(long)]
    pub json: bool,
}

/// `eic-ssh egress`.
#[derive(Debug, Args)]
pub struct EgressArgs {
    /// Alias, instance id or Name tag (default: the `[defaults]` allowlist).
    pub target: Option<String>,
    /// Print the IP, the allowlist and the verdict as one JSON object (egress_ip, allow,
    /// verdict, reason, …).
    #[arg(long)]
    pub json: bool,
}

/// `eic-ssh doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Alias, instance id or Name tag.
    pub target: String,
    /// Port to check: 22 or 3389.
    #[arg(long, short = 'p', default_value_t = 22)]
    pub port: u16,
    /// Print the checklist as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also print, for each problem, the AWS CLI commands and Terraform that fix it
    /// (printed only: nothing in AWS is changed).
    #[arg(long)]
    pub fix: bool,
}

/// `eic-ssh proxy`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Alias from the config file, instance id or Name tag (`%h` in ssh_config).
    pub instance: String,
    /// Remote port (`%p`): 22 or 3389, the only ports an endpoint opens.
    #[arg(default_value_t = 22)]
    pub port: u16,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// `eic-ssh tunnel`.
#[derive(Debug, Args)]
pub struct TunnelArgs {
    /// Alias from the config file, instance id or Name tag.
    pub instance: String,
    /// Local port to listen on (0 picks a free one and prints it). No short form: `-L`
    /// means a forward spec everywhere else.
    #[arg(long)]
    pub local_port: u16,
    /// Local address to listen on. Anything but loopback lets other hosts in.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Port on the instance: 22 (the default) or 3389.
    #[arg(long)]
    pub remote_port: Option<u16>,
    /// Tunnels open at once; more clients are turned away (an endpoint allows 20 in all).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_connections: u32,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// How to reach the instance; shared by every command that opens tunnels.
#[derive(Debug, Args, Clone, Default)]
pub struct ConnectArgs {
    /// Use this endpoint instead of discovering one in the instance's VPC.
    #[arg(long, value_name = "EICE_ID")]
    pub endpoint_id: Option<String>,
    /// The endpoint's DNS name; with --endpoint-id and --private-ip no EC2 call is made.
    #[arg(long, value_name = "DNS_NAME")]
    pub endpoint_dns_name: Option<String>,
    /// The instance's private IP; skips DescribeInstances when --endpoint-id is given too.
    #[arg(long, value_name = "IP")]
    pub private_ip: Option<IpAddr>,
    /// Open tunnels at this URL instead of wss://DNS_NAME (e.g. wss://localhost:8443).
    #[arg(long, env = "EIC_SSH_TUNNEL_ENDPOINT_URL", value_name = "URL")]
    pub tunnel_endpoint_url: Option<String>,
    /// Ask the endpoint to end each tunnel after this many seconds (1-3600; without it,
    /// 3600). Long-lived commands warn a minute before a tunnel ends.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub max_tunnel_duration: Option<u32>,
    /// OS user on the instance for the key push (`%r` in ssh_config).
    #[arg(long, short = 'l')]
    pub user: Option<String>,
    /// Push this public key (OpenSSH .pub) with SendSSHPublicKey before each tunnel.
    #[arg(long, value_name = "FILE")]
    pub push_key: Option<PathBuf>,
    /// Ask the API where the target is before opening the tunnel, without the route cache
    /// (a route is otherwise reused for up to 10 minutes, confirmed by the same lookup
    /// beside the tunnel before anything passes); the answer is not cached either.
    #[arg(long)]
    pub no_cache: bool,
    /// When the endpoint's 20 connections are all in use (HTTP 429), try again with
    /// jittered exponential backoff for up to SECS in all (else `quota_wait` in the config
    /// file, else 30); 0: the first refusal is the answer.
    #[arg(long, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(0..=crate::config::file::MAX_QUOTA_WAIT))]
    pub quota_wait: Option<u64>,
}

/// Whether a command line (without the program name) is the session form
/// (`eic-ssh [user@]TARGET …` or `eic-ssh ssh …`) rather than another subcommand: the
/// first subcommand name among the words before `--`, if any, is `ssh`. Used only to pick
/// the exit code of a line clap rejected.
pub fn is_session_form(args: impl Iterator<Item = String>) -> bool {
    use clap::CommandFactory;
    let cli = Cli::command();
    let names: Vec<&str> = cli
        .get_subcommands()
        .map(clap::Command::get_name)
        .chain(["help"])
        .collect();
    args.take_while(|a| a != "--")
        .find(|w| names.contains(&w.as_str()))
        .is_none_or(|w| w == "ssh")
}

/// Whether a command line clap rejected asked for detailed exit codes: `--exit-codes
/// detailed` (or `=detailed`) before `--`, the last one winning, else EIC_SSH_EXIT_CODES.
pub fn asks_detailed_exit_codes(args: impl Iterator<Item = String>, env: Option<String>) -> bool {
    let words: Vec<String> = args.take_while(|a| a != "--").collect();
    let mut asked = None;
    for (i, word) in words.iter().enumerate() {
        let value = match word.strip_prefix("--exit-codes") {
            Some("") => words.get(i + 1).map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(value) = value {
            asked = Some(value == "detailed");
        }
    }
    asked.unwrap_or_else(|| env.as_deref() == Some("detailed"))
}

/// The subcommand `word` was probably meant to be, when it is close to one (a typo like
/// `lsit` or `docter`): such a word is not taken as a Name tag to look up in AWS.
pub fn near_subcommand(word: &str) -> Option<String> {
    use clap::CommandFactory;
    let cli = Cli::command();
    cli.get_subcommands()
        .flat_map(|c| std::iter::once(c.get_name()).chain(c.get_all_aliases()))
        .map(|name| (strsim::damerau_levenshtein(word, name), name))
        .filter(|&(distance, name)| {
            // Short names only by a swap of letters (`lgo`), so that a host `mon` is not `man`.
            let allowed = match name.len() {
                0..=3 => usize::from(sorted(word) == sorted(name)),
                4..=5 => 1,
                _ => 2,
            };
            distance > 0 && distance <= allowed
        })
        .min()
        .map(|(_, name)| name.to_string())
}

fn sorted(word: &str) -> Vec<char> {
    let mut letters: Vec<char> = word.chars().collect();
    letters.sort_unstable();
    letters
}

/// A value written into known_hosts or ssh_config must be one plain name (see
/// `plain_name`); an empty one is an error, not "unset".
fn plain_name(text: &str) -> Result<String, String> {
    crate::plain_name::check("the value", text)?;
    Ok(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subcommands_win_even_after_global_flags() {
        let cli =
            Cli::try_parse_from(["eic-ssh", "-vvv", "proxy", "i-0123456789abcdef0", "22"]).unwrap();
        assert_eq!(cli.verbose, 3);
        assert!(
            matches!(cli.command, Some(Command::Proxy(Lazy(ref p))) if p.instance == "i-0123456789abcdef0")
        );
    }

    #[test]
    fn subcommand_arguments_are_built_only_when_needed() {
        use clap::CommandFactory;
        let args = |cmd: &clap::Command, name: &str| {
            let sub = cmd.find_subcommand(name).unwrap();
            (
                sub.get_about().map(|a| a.to_string()),
                sub.get_arguments().count(),
            )
        };
        let mut cmd = Cli::command();
        let (about, before) = args(&cmd, "cp");
        assert_eq!(before, 0, "cp's arguments were built up front");
        cmd.build();
        let (built_about, after) = args(&cmd, "cp");
        assert!(after > 5, "cp has {after} arguments once built");
        assert_eq!(about, built_about, "building replaced cp's description");
        assert!(about.unwrap().starts_with("Copy files"));
    }

    #[test]
    fn anything_else_is_a_session() {
        let cli =
            Cli::try_parse_from(["eic-ssh", "-t", "ubuntu@bastion", "--", "ls", "-l"]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.session.target.as_deref(), Some("ubuntu@bastion"));
        assert_eq!(cli.session.remote_command, ["ls", "-l"]);
        assert!(cli.session.tty);
        let cli = Cli::try_parse_from(["eic-ssh", "bastion", "uname", "-a"]).unwrap();
        assert_eq!(cli.session.remote_command, ["uname", "-a"]);
    }

    #[test]
    fn typos_of_subcommands_are_caught_and_host_names_are_not() {
        for (typed, meant) in [
            ("lsit", "list"),
            ("docter", "doctor"),
            ("lgo", "log"),
            ("ssh-confg", "ssh-config"),
            ("egres", "egress"),
        ] {
            assert_eq!(near_subcommand(typed).as_deref(), Some(meant), "{typed}");
        }
        for host in [
            "mon", "cpp", "web-1", "bastion", "db", "logs-1", "list", "proxy-2",
        ] {
            assert_eq!(near_subcommand(host), None, "{host}");
        }
    }

    #[test]
    fn session_form_or_subcommand() {
        let words = |v: &[&str]| {
            v.iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .into_iter()
        };
        assert!(is_session_form(words(&["-p", "abc", "host"])));
        assert!(is_session_form(words(&["host", "--", "cp", "a"])));
        assert!(!is_session_form(words(&["cp", "--bogus", "a", "b:c"])));
        assert!(!is_session_form(words(&["-v", "proxy", "--nope"])));
        assert!(is_session_form(words(&["ssh", "--bogus", "host"])));
        assert!(is_session_form(words(&["-v", "ssh", "host", "proxy"])));
        assert!(!is_session_form(words(&["help", "ssh"])));
    }

    #[test]
    fn detailed_exit_codes_from_the_line_or_the_environment() {
        let asks = |v: &[&str], env: Option<&str>| {
            asks_detailed_exit_codes(v.iter().map(|s| s.to_string()), env.map(str::to_string))
        };
        assert!(asks(&["--exit-codes", "detailed", "host"], None));
        assert!(asks(&["host", "--exit-codes=detailed"], None));
        assert!(asks(&["host"], Some("detailed")));
        assert!(!asks(&["host"], None));
        assert!(!asks(&["--exit-codes=ssh", "host"], Some("detailed")));
        assert!(!asks(&["host", "--", "--exit-codes=detailed"], None));
    }

    #[test]
    fn ssh_is_the_session_form_with_the_same_options() {
        let cli = Cli::try_parse_from([
            "eic-ssh",
            "ssh",
            "-t",
            "-p",
            "22",
            "ec2-user@i-0123456789abcdef0",
            "--",
            "ls",
            "-l",
        ])
        .unwrap();
        let Some(Command::Ssh(Lazy(args))) = cli.command else {
            panic!("not the ssh subcommand: {:?}", cli.command);
        };
        assert_eq!(args.target.as_deref(), Some("ec2-user@i-0123456789abcdef0"));
        assert_eq!(args.remote_command, ["ls", "-l"]);
        assert!(args.tty);
        assert_eq!(args.port, Some(22));
    }
}
