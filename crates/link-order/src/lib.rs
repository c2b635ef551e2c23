//! For the services' build scripts: links their release binaries with the
//! functions they run placed first, side by side (lld's
//! `--symbol-ordering-file`, from the list `scripts/link-order` writes).
//!
//! Why: the kernel maps a binary's code 64 KiB at a time around each page a
//! process touches, and the functions a service runs are spread over its
//! whole 12 MB of code, so most of it ended up resident (about 13 MiB of a
//! 24 MiB service under load). Placed together they fill few pages. Only the
//! layout changes: a function missing from the list (new, renamed, or from
//! an upgraded dependency) links in its usual place.

use std::{
    env,
    path::{Path, PathBuf},
};

/// Called from a service's `build.rs` with the path of the list, relative to
/// the package (`../../link-order.txt`).
pub fn order_release_binaries(list: &Path) {
    println!("cargo:rerun-if-changed={}", list.display());
    let build = Build {
        target: env::var("TARGET").unwrap_or_default(),
        profile: env::var("PROFILE").unwrap_or_default(),
        rustflags: env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default(),
        // Set when a linker is configured (`target.<triple>.linker`).
        linker: env::var("RUSTC_LINKER").ok(),
        list: list.canonicalize().ok(),
    };
    for arg in build.link_args() {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
}

/// What decides whether the list applies.
struct Build {
    target: String,
    profile: String,
    /// `CARGO_ENCODED_RUSTFLAGS`: flags separated by 0x1f.
    rustflags: String,
    linker: Option<String>,
    /// The list, absolute (the linker does not run in the package's
    /// directory), or `None` when there is none.
    list: Option<PathBuf>,
}

impl Build {
    fn link_args(&self) -> Vec<String> {
        let Some(list) = &self.list else { return Vec::new() };
        // rustc links this target with its own lld since 1.90; a linker
        // chosen in the configuration or the flags may not know the option.
        // Debug builds (the tests) gain nothing from it.
        let other_linker = self.linker.is_some()
            || self.rustflags.split('\x1f').any(|flag| flag.contains("linker") || flag.contains("link-self-contained"));
        if self.target != "x86_64-unknown-linux-gnu" || self.profile != "release" || other_linker {
            return Vec::new();
        }
        vec![
            format!("-Wl,--symbol-ordering-file={}", list.display()),
            // Names in the list that this binary lacks (each service runs
            // functions the others do not have) are expected, not news.
            "-Wl,--no-warn-symbol-ordering".to_owned(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(target: &str, profile: &str, rustflags: &str, list: Option<&str>) -> Build {
        Build {
            target: target.into(),
            profile: profile.into(),
            rustflags: rustflags.into(),
            linker: None,
            list: list.map(PathBuf::from),
        }
    }

    #[test]
    fn release_builds_for_x86_64_linux_link_in_the_listed_order() {
        let args = build("x86_64-unknown-linux-gnu", "release", "", Some("/src/link-order.txt")).link_args();
        assert_eq!(args, ["-Wl,--symbol-ordering-file=/src/link-order.txt", "-Wl,--no-warn-symbol-ordering"]);
    }

    #[test]
    fn other_builds_link_as_usual() {
        let list = Some("/src/link-order.txt");
        assert!(build("x86_64-unknown-linux-gnu", "debug", "", list).link_args().is_empty());
        assert!(build("aarch64-unknown-linux-gnu", "release", "", list).link_args().is_empty());
        assert!(build("x86_64-unknown-linux-gnu", "release", "", None).link_args().is_empty());
        let chosen = "-C\x1flinker=clang\x1f-C\x1fopt-level=3";
        assert!(build("x86_64-unknown-linux-gnu", "release", chosen, list).link_args().is_empty());
        let old_ld = "-Clink-self-contained=-linker";
        assert!(build("x86_64-unknown-linux-gnu", "release", old_ld, list).link_args().is_empty());
        let configured = Build { linker: Some("cc".into()), ..build("x86_64-unknown-linux-gnu", "release", "", list) };
        assert!(configured.link_args().is_empty());
    }
}
