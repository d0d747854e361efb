//! `eic-ssh completions SHELL`: the shell's completion script (clap_complete), with config
//! aliases completed as targets (also after `user@`) in bash, zsh and fish (they ask
//! `eic-ssh config aliases`).

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::{Failure, Outcome};

/// Where a target may stand: right after `eic-ssh`, or after these subcommands.
const TAKES_TARGET: &str = "ssh proxy tunnel egress doctor check";

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
        Shell::Zsh => zsh_aliases(),
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
    local aliases user="" pos=$COMP_CWORD
    # `user@ALIAS`: the alias completes after the user. Where '@' breaks words (bash's
    # default), bash hands over only what follows it, and the word before is the '@'.
    if [[ "$cur" == *@* ]]; then
        user="${{cur%@*}}@"
        cur="${{cur##*@}}"
    elif [[ "$prev" == @ ]]; then
        pos=$((COMP_CWORD - 2))
        prev="${{COMP_WORDS[COMP_CWORD-3]}}"
    fi
    if [[ $pos -eq 1 || " {TAKES_TARGET} " == *" $prev "* ]]; then
        aliases="$(eic-ssh config aliases 2>/dev/null)"
        COMPREPLY+=($(compgen -P "$user" -W "$aliases" -- "$cur"))
    elif [[ "${{COMP_WORDS[1]}}" == cp && "$cur" != */* && "$cur" != *:* ]]; then
        aliases="$(eic-ssh config aliases 2>/dev/null | sed 's/$/:/')"
        COMPREPLY+=($(compgen -P "$user" -W "$aliases" -- "$cur"))
        compopt -o nospace 2>/dev/null
    fi
    return 0
}}
complete -F _eic_ssh_targets -o bashdefault -o default eic-ssh
"#
    )
}

/// Wraps clap's `_eic-ssh`: config aliases as the first word or after `ssh` (also after
/// `user@`), and as `ALIAS:` for `cp`.
fn zsh_aliases() -> String {
    r#"
# Config aliases as targets (from `eic-ssh config aliases`).
_eic_ssh_targets() {
    local -a aliases
    aliases=(${(f)"$(eic-ssh config aliases 2>/dev/null)"})
    if (( CURRENT == 2 )) && [[ $PREFIX != -* ]]; then
        compset -P '*@'
        compadd -a aliases
    elif (( CURRENT == 3 )) && [[ $words[2] == ssh && $PREFIX != -* ]]; then
        compset -P '*@'
        compadd -a aliases
    elif [[ $words[2] == cp && $PREFIX != */* && $PREFIX != *:* && $PREFIX != -* ]]; then
        compset -P '*@'
        compadd -S ':' -a aliases
    fi
    _eic-ssh "$@"
}
compdef _eic_ssh_targets eic-ssh
"#
    .to_string()
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
