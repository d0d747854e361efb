//! The eic-ssh program as a ProxyCommand names it: plain `eic-ssh` when that name on PATH is
//! this program, else the path it was invoked by, symlinks kept (a package manager's link
//! outlives the versioned file it points to).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::error::{Failure, Kind};

/// The program's name on PATH.
const NAME: &str = "eic-ssh";

/// `eic-ssh`, the invoked path made absolute, or (when neither is this program, e.g. argv[0]
/// was set to something else) the running executable's own path.
pub fn program() -> Result<PathBuf, Failure> {
    let exe = std::env::current_exe()
        .map_err(|e| Failure::new(Kind::Other, format!("cannot find the eic-ssh program: {e}")))?;
    let path = std::env::var_os("PATH");
    let is_exe = |p: &Path| same_file(p, &exe);
    let named = format!("{NAME}{}", std::env::consts::EXE_SUFFIX);
    if on_path(OsStr::new(&named), path.as_deref()).is_some_and(|p| is_exe(&p)) {
        return Ok(PathBuf::from(NAME));
    }
    let invoked = std::env::args_os()
        .next()
        .and_then(|argv0| invoked_as(&argv0, path.as_deref()))
        .filter(|p| is_exe(p));
    Ok(invoked.unwrap_or(exe))
}

/// The path argv[0] names: absolute (symlinks not resolved) when it has a directory part,
/// else the first match on PATH, as the shell found it.
fn invoked_as(argv0: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    let as_path = Path::new(argv0);
    if as_path.components().count() > 1 || as_path.is_absolute() {
        return std::path::absolute(as_path).ok();
    }
    on_path(argv0, path)
}

/// The first file called `name` in PATH's absolute directories (a relative entry such as
/// `.` means something else wherever ssh runs the ProxyCommand).
fn on_path(name: &OsStr, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Whether both paths lead to the same file, symlinks followed.
fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv0_with_a_directory_is_made_absolute_and_a_bare_name_is_looked_up() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tool");
        std::fs::write(&file, "").unwrap();
        let path = std::env::join_paths(["relative/bin".into(), dir.path().to_path_buf()]).unwrap();
        assert_eq!(invoked_as(OsStr::new("tool"), Some(&path)), Some(file));
        assert_eq!(invoked_as(OsStr::new("absent"), Some(&path)), None);
        let relative = Path::new("bin").join("tool");
        assert_eq!(
            invoked_as(relative.as_os_str(), None),
            Some(std::env::current_dir().unwrap().join(&relative))
        );
    }
}
