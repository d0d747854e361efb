//! Handing memory back to the system once a burst is over: glibc keeps what 100 forwarded
//! connections freed in its free lists (about 38 KiB each, measured) until asked to trim.

/// Returns the allocator's free memory to the system, where the allocator keeps it
/// (glibc); elsewhere the allocator does this itself and this does nothing.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims the allocator's own free lists; it takes
    // no pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
