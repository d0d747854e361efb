//! The `eic-ssh` binary: parse the command line, run the command, turn the outcome into an exit code.

mod no_libm;

use std::process::ExitCode;

use clap::Parser;
use eic_ssh::cli::Cli;
use eic_ssh::error::{Exit, Failure, Kind};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not failures. A usage error exits 2, except in the
            // session form, which (like ssh) keeps every code below 255 for the remote
            // command and so exits 255.
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => 0,
                _ if eic_ssh::cli::is_session_form(std::env::args().skip(1)) => {
                    Exit::Session.code()
                }
                _ => Exit::Usage.code(),
            };
            return ExitCode::from(code as u8);
        }
    };
    eic_ssh::logging::init(cli.verbose, cli.quiet);
    eic_ssh::local::terminal::restore_on_panic();
    // One thread: the proxy relays one stream (docs/protocol.md, "Measured here"), and for copies two worker
    // threads measured no faster (docs/benchmarks.md).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let outcome = match runtime {
        Ok(rt) => {
            let outcome = rt.block_on(eic_ssh::commands::run(cli));
            // A blocking stdin read may still be parked on a thread: do not wait for it.
            rt.shutdown_background();
            outcome
        }
        Err(e) => Err(Failure::new(
            Kind::Other,
            format!("cannot start the async runtime: {e}"),
        )),
    };
    match outcome {
        Ok(status) => {
            eic_ssh::logbook::finish(status, "ok");
            ExitCode::from(status.clamp(0, 255) as u8)
        }
        Err(failure) => {
            eprintln!("eic-ssh: {failure}");
            eic_ssh::logbook::finish(failure.exit().code(), &failure.message);
            ExitCode::from(failure.exit().code() as u8)
        }
    }
}
