//! Free space on the file system that holds a directory, so a download announced larger
//! than what is left stops before it starts (a lying server could otherwise fill the disk).

/// Bytes an unprivileged user may still write on the file system of `dir`; `None` when the
/// system cannot say.
#[cfg(unix)]
pub fn available(dir: impl std::os::fd::AsFd) -> Option<u64> {
    let stat = rustix::fs::fstatvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Elsewhere the check is skipped.
#[cfg(not(unix))]
pub fn available<T>(_dir: T) -> Option<u64> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn a_temporary_directory_has_some_room() {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::open(dir.path()).unwrap();
        assert!(super::available(&file).is_some_and(|n| n > 0));
    }
}
