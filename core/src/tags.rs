//! PEP 425 / PEP 427 wheel tags: a wheel file name's tag set, and the tags a target
//! (CPython `3.Y` on Linux, macOS or Windows, one machine) installs, most preferred
//! first, in the order of `packaging.tags.sys_tags()` for CPython: its own ABI, then
//! `abi3` of this and older minors, then `none`; platform-specific before `any`.
//!
//! What is assumed about a target is said in [`TagTarget::assumptions`]: glibc 2.39
//! on Linux (manylinux, not musllinux), macOS 15 on a Mac; a platform tag given as the
//! target's platform ([`PlatformTag`]: `manylinux_2_28_aarch64`, `musllinux_1_2_x86_64`,
//! `macosx_12_0_x86_64`, `win32`) says it instead.

use crate::model::env::{Platform, TargetEnv};
use crate::platform_tag::PlatformTag;

/// The newest glibc minor (2.x) assumed on a Linux target (Ubuntu 24.04's).
const ASSUMED_GLIBC_MINOR: u32 = 39;
/// The macOS major version assumed on a Mac target.
const ASSUMED_MACOS_MAJOR: u32 = 15;

/// A wheel file name's parts (`{dist}-{version}(-{build})?-{py}-{abi}-{plat}.whl`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution, as written.
    pub distribution: String,
    /// The version, as written.
    pub version: String,
    /// Every `py-abi-plat` tag the compressed tag sets expand to.
    pub tags: Vec<String>,
}

impl WheelName {
    /// Parses a wheel file name; `None` when it is not one.
    pub fn parse(filename: &str) -> Option<WheelName> {
        let stem = filename.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let n = parts.len();
        let (py, abi, plat) = (parts[n - 3], parts[n - 2], parts[n - 1]);
        let mut tags = Vec::new();
        for p in py.split('.') {
            for a in abi.split('.') {
                for pl in plat.split('.') {
                    tags.push(format!("{p}-{a}-{pl}"));
                }
            }
        }
        Some(WheelName {
            distribution: parts[0].into(),
            version: parts[1].into(),
            tags,
        })
    }
}

/// The tags a target installs, most preferred first.
#[derive(Debug, Clone)]
pub struct TagTarget {
    tags: Vec<String>,
    /// The interpreter, e.g. `cp312`.
    pub interpreter: String,
    /// The machine the platform tags are for, e.g. `x86_64`.
    pub machine: String,
    /// What was assumed, in words.
    pub assumptions: String,
}

impl TagTarget {
    /// The tags of CPython `python_version` (X.Y) on `env`'s platform and
    /// `platform_machine`.
    pub fn for_env(env: &TargetEnv) -> TagTarget {
        let (major, minor) = env
            .python_version
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
            .unwrap_or((3, 12));
        let machine = env
            .markers
            .get("platform_machine")
            .cloned()
            .unwrap_or_else(|| "x86_64".into());
        let (platforms, assumptions) =
            platform_tags(env.platform, &machine, env.platform_tag.as_deref());
        TagTarget {
            tags: cpython_tags(major, minor, &platforms),
            interpreter: format!("cp{major}{minor}"),
            machine,
            assumptions,
        }
    }

    /// The rank of the best tag of `wheel` this target installs (0 = most preferred),
    /// and that tag; `None` when it installs none of them.
    pub fn best<'a>(&self, wheel: &'a WheelName) -> Option<(usize, &'a str)> {
        wheel
            .tags
            .iter()
            .filter_map(|t| self.rank(t).map(|r| (r, t.as_str())))
            .min_by_key(|(r, _)| *r)
    }

    fn rank(&self, tag: &str) -> Option<usize> {
        self.tags.iter().position(|t| t == tag)
    }
}

/// Platform tags, most specific first, and what they assume: those of the platform
/// tag the caller gave, else of the platform's assumed system on `machine`.
fn platform_tags(platform: Platform, machine: &str, given: Option<&str>) -> (Vec<String>, String) {
    if let Some(tag) = given.and_then(PlatformTag::parse) {
        return (tag.platforms(), tag.describe());
    }
    let m = machine.to_ascii_lowercase();
    match platform {
        Platform::Linux => {
            let arch = match m.as_str() {
                "amd64" => "x86_64".to_string(),
                "arm64" => "aarch64".to_string(),
                other => other.replace(['-', '.', ' '], "_"),
            };
            let tag = PlatformTag::Manylinux {
                glibc_minor: ASSUMED_GLIBC_MINOR,
                arch: arch.clone(),
            };
            (
                tag.platforms(),
                format!(
                    "Linux {arch} with glibc 2.{ASSUMED_GLIBC_MINOR} (manylinux; musllinux wheels are not chosen)"
                ),
            )
        }
        Platform::Macos => {
            let arm = matches!(m.as_str(), "arm64" | "aarch64");
            let arch = if arm { "arm64" } else { "x86_64" };
            let tag = PlatformTag::Macos {
                major: ASSUMED_MACOS_MAJOR,
                minor: 0,
                arch: arch.into(),
            };
            (
                tag.platforms(),
                format!("macOS {ASSUMED_MACOS_MAJOR} on {arch}"),
            )
        }
        Platform::Windows => {
            let tag = match m.as_str() {
                "arm64" | "aarch64" => "win_arm64",
                "x86" | "i386" | "i686" | "win32" => "win32",
                _ => "win_amd64",
            };
            (vec![tag.to_string()], format!("Windows ({tag})"))
        }
    }
}

/// CPython's tags in `packaging.tags` order: `cp3Y-cp3Y-*`, `cp3Y-abi3-*`,
/// `cp3Y-none-*`, `cp3y-abi3-*` for older minors, then the generic `py*` tags, each
/// over `platforms`, then the `any` tags.
fn cpython_tags(major: u32, minor: u32, platforms: &[String]) -> Vec<String> {
    let cp = |m: u32| format!("cp{major}{m}");
    let mut out = Vec::new();
    let over_platforms = |interp: &str, abi: &str, out: &mut Vec<String>| {
        for p in platforms {
            out.push(format!("{interp}-{abi}-{p}"));
        }
    };
    over_platforms(&cp(minor), &cp(minor), &mut out);
    over_platforms(&cp(minor), "abi3", &mut out);
    over_platforms(&cp(minor), "none", &mut out);
    for m in (2..minor).rev() {
        over_platforms(&cp(m), "abi3", &mut out);
    }
    let py = |m: Option<u32>| match m {
        Some(m) => format!("py{major}{m}"),
        None => format!("py{major}"),
    };
    let generic: Vec<String> = std::iter::once(py(Some(minor)))
        .chain(std::iter::once(py(None)))
        .chain((0..minor).rev().map(|m| py(Some(m))))
        .collect();
    for g in &generic {
        over_platforms(g, "none", &mut out);
    }
    out.push(format!("{}-none-any", cp(minor)));
    for g in &generic {
        out.push(format!("{g}-none-any"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(python: &str, platform: &str, machine: Option<&str>) -> TagTarget {
        let mut env = TargetEnv::new(Some(python), Some(platform), &[]).unwrap();
        if let Some(m) = machine {
            env.markers.insert("platform_machine".into(), m.into());
        }
        TagTarget::for_env(&env)
    }

    #[test]
    fn wheel_names_expand_compressed_tag_sets_and_refuse_other_names() {
        let w = WheelName::parse("six-1.16.0-py2.py3-none-any.whl").unwrap();
        assert_eq!(w.tags, ["py2-none-any", "py3-none-any"]);
        let w = WheelName::parse(
            "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        )
        .unwrap();
        assert_eq!(w.distribution, "numpy");
        assert_eq!(w.tags.len(), 2);
        let built = WheelName::parse("x-1.0-1build-py3-none-any.whl").unwrap();
        assert_eq!(built.version, "1.0");
        assert!(WheelName::parse("x-1.0.tar.gz").is_none());
        assert!(WheelName::parse("x-1.0-py3-none.whl").is_none());
        assert!(WheelName::parse("x--1.0-py3-none-any.whl").is_none());
    }

    #[test]
    fn preference_follows_packaging_order() {
        let t = target("3.12", "linux", None);
        let rank = |name: &str| t.best(&WheelName::parse(name).unwrap()).map(|(r, _)| r);
        let own = rank("a-1-cp312-cp312-manylinux_2_17_x86_64.whl").unwrap();
        let newer_glibc = rank("a-1-cp312-cp312-manylinux_2_28_x86_64.whl").unwrap();
        let abi3 = rank("a-1-cp38-abi3-manylinux_2_17_x86_64.whl").unwrap();
        let pure = rank("a-1-py3-none-any.whl").unwrap();
        assert!(newer_glibc < own && own < abi3 && abi3 < pure);
        assert_eq!(rank("a-1-cp311-cp311-manylinux_2_17_x86_64.whl"), None);
        assert_eq!(rank("a-1-cp312-cp312-musllinux_1_1_x86_64.whl"), None);
        assert_eq!(rank("a-1-cp312-cp312-manylinux_2_17_aarch64.whl"), None);
        assert_eq!(rank("a-1-cp312-cp312-win_amd64.whl"), None);
        assert_eq!(rank("a-1-cp312-cp312-manylinux_2_40_x86_64.whl"), None);
        assert!(rank("a-1-cp312-cp312-manylinux2014_x86_64.whl").is_some());
        assert!(rank("a-1-py2.py3-none-any.whl").is_some());
        assert_eq!(rank("a-1-py2-none-any.whl"), None);
    }

    #[test]
    fn platforms_and_machines_select_their_own_tags() {
        let mac = target("3.12", "macos", None);
        let w = |n: &str| WheelName::parse(n).unwrap();
        assert!(
            mac.best(&w("a-1-cp312-cp312-macosx_11_0_arm64.whl"))
                .is_some()
        );
        assert!(
            mac.best(&w("a-1-cp312-cp312-macosx_11_0_universal2.whl"))
                .is_some()
        );
        assert!(
            mac.best(&w("a-1-cp312-cp312-macosx_10_9_x86_64.whl"))
                .is_none()
        );
        let intel = target("3.12", "macos", Some("x86_64"));
        assert!(
            intel
                .best(&w("a-1-cp312-cp312-macosx_10_9_x86_64.whl"))
                .is_some()
        );
        let win = target("3.11", "windows", None);
        assert!(win.best(&w("a-1-cp311-cp311-win_amd64.whl")).is_some());
        assert!(win.best(&w("a-1-cp312-cp312-win_amd64.whl")).is_none());
        let arm = target("3.11", "linux", Some("aarch64"));
        assert_eq!(arm.machine, "aarch64");
        assert!(
            arm.best(&w("a-1-cp311-cp311-manylinux_2_17_aarch64.whl"))
                .is_some()
        );
        assert!(arm.assumptions.contains("glibc"));
    }
}
