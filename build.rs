//! Link options for the `tollgate` binary; nothing is generated.
//!
//! Release builds on Linux with glibc 2.36 or newer pack the binary's
//! relative relocations (`-z pack-relative-relocs`, the DT_RELR format):
//! the 4.6 MB `.rela.dyn` table of a position-independent 100 MB binary
//! becomes a few kilobytes of bitmaps, and the loader applies it faster.
//! The binary then needs glibc 2.36 at run time, so the flag is only given
//! when the build machine itself has it (a native build, checked with
//! `getconf GNU_LIBC_VERSION`); cross builds and older systems link as
//! before. Measurements: docs/PERFORMANCE.md, "Build and binary size".

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let native = env::var("HOST").ok() == env::var("TARGET").ok();
    let gnu_linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if release && native && gnu_linux && glibc_at_least(2, 36) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Whether the build machine's glibc is at least `major.minor`; false when
/// it cannot tell.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    let Ok(out) = Command::new("getconf").arg("GNU_LIBC_VERSION").output() else {
        return false;
    };
    // "glibc 2.36"
    let text = String::from_utf8_lossy(&out.stdout);
    let Some(version) = text.trim().strip_prefix("glibc ") else {
        return false;
    };
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(ma), Some(mi)) => (ma, mi) >= (major, minor),
        _ => false,
    }
}
