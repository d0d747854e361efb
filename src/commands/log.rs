//! `eic-ssh log`: the last connection attempts from the local log, as a table or JSON lines.

use crate::cli::LogArgs;
use crate::error::{Failure, Kind, Outcome};
use crate::logbook::{self, Entry};
use crate::printable::escape;

/// Prints the last `-n` entries; an absent log is an empty one.
pub fn run(args: &LogArgs) -> Result<Outcome, Failure> {
    let Some(path) = logbook::path() else {
        return Err(Failure::usage(
            "no log location: HOME and XDG_STATE_HOME are unset",
        ));
    };
    let entries = logbook::last(&path, args.lines)
        .map_err(|e| Failure::new(Kind::Other, format!("cannot read {}: {e}", path.display())))?;
    if args.json {
        for e in &entries {
            println!("{}", serde_json::to_string(e).unwrap_or_default());
        }
        return Ok(Outcome::Success);
    }
    if entries.is_empty() {
        println!("no connections logged yet in {}", path.display());
        return Ok(Outcome::Success);
    }
    let rows: Vec<Vec<String>> = entries.iter().map(row).collect();
    let header = [
        "TIME",
        "COMMAND",
        "TARGET",
        "INSTANCE",
        "EGRESS IP",
        "GUARD",
        "EXIT",
        "BYTES",
        "OUTCOME",
    ];
    crate::printable::table::print(&header, &rows);
    Ok(Outcome::Success)
}

/// One table row; everything read back from the file is escaped (it may have been edited).
fn row(e: &Entry) -> Vec<String> {
    let or_dash = |v: &Option<String>| v.as_deref().map_or("-".to_string(), escape);
    vec![
        escape(&e.time),
        escape(&e.command),
        escape(&e.target),
        or_dash(&e.instance),
        or_dash(&e.egress_ip),
        or_dash(&e.guard),
        e.exit.to_string(),
        format!("{}/{}", e.bytes_up, e.bytes_down),
        escape(&e.outcome),
    ]
}
