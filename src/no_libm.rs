//! `pow` for the binary, so that it does not load libm.so.6 for one function.
//!
//! The only libm function the binary links is `pow`, through the AWS SDK's adaptive retry
//! rate limiter (`f64::powf`), which eic-ssh never enables. Loading libm for it cost every
//! process 0.3 MiB of resident memory (docs/design.md, "Code layout").
//! Defining `pow` here lets the linker resolve it inside the binary, so `--as-needed` drops
//! libm; the body is the `libm` crate's `pow`, a port of musl's.

/// C's `pow(x, y)`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    #[test]
    fn pow_agrees_with_the_values_the_retry_code_needs() {
        assert_eq!(super::pow(2.0, 10.0), 1024.0);
        assert_eq!(super::pow(27.0, 1.0 / 3.0), 3.0);
        assert_eq!(super::pow(0.0, 0.0), 1.0);
        assert!(super::pow(-8.0, 1.0 / 3.0).is_nan());
        // What std's powf (now this function) gives is the same.
        assert_eq!(1.5f64.powf(2.5), super::pow(1.5, 2.5));
    }
}
