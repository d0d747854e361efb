//! `eic-sim`: runs the local EICE emulator until Ctrl-C, printing the environment a client needs.

use std::path::PathBuf;

use clap::Parser;
use eic_ssh_sim::{Options, Sim, World};

/// Local EC2 Instance Connect Endpoint emulator with a real sshd behind it (tests and demo only).
#[derive(Parser)]
#[command(name = "eic-sim", version)]
struct Args {
    /// Directory for the CA, sshd files, event log and env file.
    #[arg(long, default_value = "target/eic-sim")]
    dir: PathBuf,
    /// Port to listen on (127.0.0.1); 0 picks a free one.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// The simulated account as JSON (default: the built-in demo world), read again on
    /// SIGHUP (the account changes under running clients).
    #[arg(long)]
    world: Option<PathBuf>,
    /// Simulated round-trip time to "AWS", in milliseconds (at most 10000): every byte is
    /// held RTT/2 each way, a fresh connection a round trip more for the TCP handshake; each
    /// service gets its own port, and a public bastion (sshd behind the same delay) listens
    /// too. 0 runs the same ports and relays undelayed.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    rtt: Option<u64>,
    /// Print the demo world as JSON and exit (a starting point for --world).
    #[arg(long)]
    dump_world: bool,
    /// The demo world with IP restriction as meant (instead of the built-in demo world):
    /// the endpoint preserves the client IP, the bastion's security group admits TCP 22
    /// only from the office 203.0.113.0/24, and the client is there, at 203.0.113.10.
    #[arg(long, conflicts_with = "world")]
    preserve_client_ip: bool,
    /// The demo world plus N running instances (at most 10000) spread over --endpoints
    /// VPCs, each with its own endpoint: Names web-001, db-002, cache-003, …, tags Role
    /// and Env, all reaching the one sshd (`World::fleet`).
    #[arg(long, value_name = "N", conflicts_with_all = ["world", "preserve_client_ip"],
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    fleet: Option<u64>,
    /// How many VPCs and endpoints the --fleet spreads over (at most 100).
    #[arg(long, value_name = "M", default_value_t = 2, requires = "fleet",
          value_parser = clap::value_parser!(u64).range(1..=100))]
    endpoints: u64,
}

fn main() {
    let args = Args::parse();
    if args.dump_world {
        println!(
            "{}",
            serde_json::to_string_pretty(&built_in(&args)).expect("the demo world serializes")
        );
        return;
    }
    if let Err(e) = run(args) {
        eprintln!("eic-sim: {e}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<(), String> {
    let world = match &args.world {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            World::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => built_in(&args),
    };
    let mut options = Options::new(world, &args.dir);
    options.port = args.port;
    options.event_log = Some(args.dir.join("events.jsonl"));
    options.rtt = args.rtt.map(std::time::Duration::from_millis);
    let sim = Sim::start(options)?;
    let env: String = sim
        .client_env()
        .iter()
        .map(|(k, v)| format!("export {k}='{v}'\n"))
        .collect();
    let env_file = args.dir.join("env.sh");
    std::fs::write(&env_file, &env)
        .map_err(|e| format!("cannot write {}: {e}", env_file.display()))?;
    print!("{env}");
    let distance = match (args.rtt, sim.bastion) {
        (Some(rtt), Some(bastion)) => {
            format!(
                "; {rtt} ms RTT, a port per service, checkip at {}, public bastion (sshd at that RTT) on {bastion}",
                sim.checkip_https_url()
            )
        }
        _ => String::new(),
    };
    eprintln!(
        "eic-sim: listening on {} (sshd on 127.0.0.1:{}){distance}; events in {}; source {} for a client",
        sim.https_url(),
        sim.sshd().map(|s| s.port).unwrap_or_default(),
        args.dir.join("events.jsonl").display(),
        env_file.display()
    );
    sim.wait_for_signal(args.world.as_deref());
    Ok(())
}

/// The built-in world the flags ask for.
fn built_in(args: &Args) -> World {
    if let Some(n) = args.fleet {
        World::fleet(n as usize, args.endpoints as usize)
    } else if args.preserve_client_ip {
        World::demo_preserving()
    } else {
        World::demo()
    }
}
