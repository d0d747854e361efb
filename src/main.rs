//! The `eic-ssh` binary: parse the command line, run the command, turn the outcome into an exit code.

use std::process::ExitCode;

use clap::Parser;
use eic_ssh::cli::Cli;
use eic_ssh::error::{Failure, Kind, command_line_exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            let help_or_version = matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            let session_form = eic_ssh::cli::is_session_form(std::env::args().skip(1));
            let detailed = eic_ssh::cli::asks_detailed_exit_codes(
                std::env::args().skip(1),
                std::env::var("EIC_SSH_EXIT_CODES").ok(),
            );
            return exit_code(command_line_exit(help_or_version, session_form, detailed));
        }
    };
    eic_ssh::logging::init(cli.verbose, cli.quiet);
    let tagged = cli.globals.exit_codes.detailed();
    eic_ssh::local::terminal::restore_on_panic();
    // The command runs on a thread of its own with the stack a Linux main thread has: a
    // Windows main thread has 1 MiB, which the session's futures outgrow in a debug build.
    let outcome = std::thread::Builder::new()
        .name("eic-ssh".into())
        .stack_size(STACK)
        .spawn(move || run(cli))
        .map_err(|e| Failure::new(Kind::Other, format!("cannot start eic-ssh's thread: {e}")))
        .and_then(|thread| {
            thread
                .join()
                .unwrap_or_else(|_| Err(Failure::new(Kind::Other, "eic-ssh stopped unexpectedly")))
        });
    match outcome {
        Ok(outcome) => exit_code(outcome.code()),
        Err(failure) => {
            eprintln!("{}", failure.line(tagged));
            exit_code(failure.exit().code())
        }
    }
}

/// The stack of the thread the command runs on (8 MiB, a Linux main thread's).
const STACK: usize = 8 << 20;

/// Runs the command on a current-thread runtime. One thread: the proxy relays one stream
/// (docs/protocol.md, "Measured here"), and for copies two worker threads measured no
/// faster (docs/benchmarks.md, "History").
fn run(cli: Cli) -> Result<eic_ssh::error::Outcome, Failure> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Kind::Other, format!("cannot start the async runtime: {e}")))?;
    let outcome = rt.block_on(eic_ssh::commands::run(cli));
    // A blocking stdin read may still be parked on a thread: do not wait for it.
    rt.shutdown_background();
    outcome
}

/// The process status for a code from `eic_ssh::error` (always 0 to 255).
fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}
