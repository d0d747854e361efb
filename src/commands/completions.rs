//! `eic-ssh completions SHELL`: the shell's completion script (clap_complete), with config
//! aliases completed as targets in bash and fish (they ask `eic-ssh config aliases`).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Failure, Outcome};

/// Where a target may stand: right after `eic-ssh`, or after these subcommands.
const TAKES_TARGET: &str = "proxy tunnel egress doctor check";

/// Prints the script on stdout.
pub fn run(args: &CompletionsArgs) -> Result<Outcome, Failure> {
    print!("{}", script(args.shell));
    Ok(Outcome::Success)
}

/// The whole script for `shell`.
pub fn script(shell: Shell) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "eic-ssh", &mut out);
    let mut text = String::from_utf8_lossy(&out).into_owned();
    if shell == Shell::Bash {
        // clap_complete spells the state of a hyphenated program two ways (its case arms
        // say `eic__subcmd__ssh…`, its dispatch loop `eic__ssh…`), so no subcommand's
        // flags would complete (clap-rs/clap#6421, open). Spell the arms as the loop does.
        text = text.replace("eic__subcmd__ssh", "eic__ssh");
    }
    let bash_function = text
        .split("complete -F ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or("_eic-ssh")
        .to_string();
    text.push_str(&match shell {
        Shell::Bash => bash_aliases(&bash_function),
        Shell::Fish => fish_aliases(),
        _ => String::new(),
    });
    text
}

/// Wraps clap's function (`clap_function`): config aliases are offered where a target may
/// stand (and as `ALIAS:` for `cp`).
fn bash_aliases(clap_function: &str) -> String {
    format!(
        r#"
# Config aliases as targets (from `eic-ssh config aliases`).
_eic_ssh_targets() {{
    {clap_function} "$@"
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    [[ "$cur" == -* ]] && return 0
    local aliases
    if [[ $COMP_CWORD -eq 1 || " {TAKES_TARGET} " == *" $prev "* ]]; then
        aliases="$(eic-ssh config aliases 2>/dev/null)"
        COMPREPLY+=($(compgen -W "$aliases" -- "$cur"))
    elif [[ "${{COMP_WORDS[1]}}" == cp && "$cur" != */* && "$cur" != *:* ]]; then
        aliases="$(eic-ssh config aliases 2>/dev/null | sed 's/$/:/')"
        COMPREPLY+=($(compgen -W "$aliases" -- "$cur"))
        compopt -o nospace 2>/dev/null
    fi
    return 0
}}
complete -F _eic_ssh_targets -o bashdefault -o default eic-ssh
"#
    )
}

fn fish_aliases() -> String {
    format!(
        r#"
# Config aliases as targets (from `eic-ssh config aliases`).
complete -c eic-ssh -n "__fish_use_subcommand" -f -a "(eic-ssh config aliases 2>/dev/null)" -d "config alias"
complete -c eic-ssh -n "__fish_seen_subcommand_from {TAKES_TARGET}" -f -a "(eic-ssh config aliases 2>/dev/null)" -d "config alias"
"#
    )
}
