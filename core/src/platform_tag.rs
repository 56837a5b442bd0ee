//! A wheel platform tag given as a target's platform (`--platform
//! manylinux_2_28_aarch64`, as pip's `--platform` takes one): what it says about the
//! system (libc and its version, macOS version, machine) and the platform tags such a
//! system installs, most preferred first, as `packaging.tags` lists them: PEP 600
//! `manylinux_2_Y` for every glibc 2.Y up to the one given (with the PEP 513 / 571 /
//! 599 aliases where their glibc is), PEP 656 `musllinux_1_Y` likewise, macOS versions
//! down to the oldest a wheel may name, Windows' one tag.

/// A platform tag, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformTag {
    /// glibc `2.{glibc_minor}` (`manylinux_2_Y_arch`, `manylinux2014_arch`, ...).
    Manylinux {
        /// The glibc minor version (2.Y).
        glibc_minor: u32,
        /// The machine, as wheel tags write it (`x86_64`, `aarch64`, `i686`, ...).
        arch: String,
    },
    /// musl `1.{musl_minor}` (`musllinux_1_Y_arch`).
    Musllinux {
        /// The musl minor version (1.Y).
        musl_minor: u32,
        /// The machine.
        arch: String,
    },
    /// `linux_arch`: no manylinux promise (only wheels built for it).
    Linux {
        /// The machine.
        arch: String,
    },
    /// macOS `major.minor` on `arch` (`arm64`, `x86_64`, `universal2`, ...).
    Macos {
        /// The macOS major version.
        major: u32,
        /// The macOS minor version.
        minor: u32,
        /// The binary format.
        arch: String,
    },
    /// `win_amd64`, `win32` or `win_arm64`.
    Windows {
        /// The tag itself.
        tag: String,
    },
}

/// The oldest glibc each architecture has manylinux wheels for (`packaging`'s rule:
/// x86_64 and i686 from manylinux1's glibc 2.5, the others from manylinux2014's 2.17).
fn oldest_glibc_minor(arch: &str) -> u32 {
    if matches!(arch, "x86_64" | "i686") {
        5
    } else {
        17
    }
}

/// An architecture name as wheel tags write it.
fn is_arch(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `A_B_rest` → (A, B, rest).
fn two_numbers(s: &str) -> Option<(u32, u32, &str)> {
    let (a, rest) = s.split_once('_')?;
    let (b, rest) = rest.split_once('_')?;
    Some((a.parse().ok()?, b.parse().ok()?, rest))
}

impl PlatformTag {
    /// Reads a platform tag; `None` when it is not one this knows.
    pub fn parse(s: &str) -> Option<PlatformTag> {
        let s = s.trim();
        let arch_ok = |a: &str| is_arch(a).then(|| a.to_string());
        if let Some(rest) = s.strip_prefix("manylinux_") {
            let (major, minor, arch) = two_numbers(rest)?;
            return (major == 2).then_some(PlatformTag::Manylinux {
                glibc_minor: minor,
                arch: arch_ok(arch)?,
            });
        }
        for (legacy, minor) in [
            ("manylinux2014_", 17),
            ("manylinux2010_", 12),
            ("manylinux1_", 5),
        ] {
            if let Some(arch) = s.strip_prefix(legacy) {
                return Some(PlatformTag::Manylinux {
                    glibc_minor: minor,
                    arch: arch_ok(arch)?,
                });
            }
        }
        if let Some(rest) = s.strip_prefix("musllinux_") {
            let (major, minor, arch) = two_numbers(rest)?;
            return (major == 1).then_some(PlatformTag::Musllinux {
                musl_minor: minor,
                arch: arch_ok(arch)?,
            });
        }
        if let Some(arch) = s.strip_prefix("linux_") {
            return Some(PlatformTag::Linux {
                arch: arch_ok(arch)?,
            });
        }
        if let Some(rest) = s.strip_prefix("macosx_") {
            let (major, minor, arch) = two_numbers(rest)?;
            return (major >= 10).then_some(PlatformTag::Macos {
                major,
                minor,
                arch: arch_ok(arch)?,
            });
        }
        matches!(s, "win_amd64" | "win32" | "win_arm64")
            .then(|| PlatformTag::Windows { tag: s.to_string() })
    }

    /// `platform_machine` on such a system, as Python reports it.
    pub fn machine(&self) -> String {
        match self {
            PlatformTag::Manylinux { arch, .. }
            | PlatformTag::Musllinux { arch, .. }
            | PlatformTag::Linux { arch } => arch.clone(),
            PlatformTag::Macos { arch, .. } => match arch.as_str() {
                "universal2" => "arm64".into(),
                "intel" | "fat64" | "fat32" | "universal" => "x86_64".into(),
                a => a.into(),
            },
            PlatformTag::Windows { tag } => match tag.as_str() {
                "win32" => "x86".into(),
                "win_arm64" => "ARM64".into(),
                _ => "AMD64".into(),
            },
        }
    }

    /// The platform tags such a system installs, most preferred first.
    pub fn platforms(&self) -> Vec<String> {
        match self {
            PlatformTag::Manylinux { glibc_minor, arch } => {
                let mut out = Vec::new();
                for minor in (oldest_glibc_minor(arch)..=*glibc_minor).rev() {
                    out.push(format!("manylinux_2_{minor}_{arch}"));
                    let legacy = match minor {
                        17 => Some("manylinux2014"),
                        12 => Some("manylinux2010"),
                        5 => Some("manylinux1"),
                        _ => None,
                    };
                    out.extend(legacy.map(|l| format!("{l}_{arch}")));
                }
                out.push(format!("linux_{arch}"));
                out
            }
            PlatformTag::Musllinux { musl_minor, arch } => {
                let mut out: Vec<String> = (0..=*musl_minor)
                    .rev()
                    .map(|m| format!("musllinux_1_{m}_{arch}"))
                    .collect();
                out.push(format!("linux_{arch}"));
                out
            }
            PlatformTag::Linux { arch } => vec![format!("linux_{arch}")],
            PlatformTag::Macos { major, minor, arch } => mac_platforms(*major, *minor, arch),
            PlatformTag::Windows { tag } => vec![tag.clone()],
        }
    }

    /// What the tag says about the system, in words.
    pub fn describe(&self) -> String {
        match self {
            PlatformTag::Manylinux { glibc_minor, arch } => {
                format!("Linux {arch} with glibc 2.{glibc_minor} (manylinux)")
            }
            PlatformTag::Musllinux { musl_minor, arch } => {
                format!("Linux {arch} with musl 1.{musl_minor} (musllinux)")
            }
            PlatformTag::Linux { arch } => format!("Linux {arch} (linux_{arch} wheels only)"),
            PlatformTag::Macos { major, minor, arch } => format!("macOS {major}.{minor} on {arch}"),
            PlatformTag::Windows { tag } => format!("Windows ({tag})"),
        }
    }
}

/// The binary formats a macOS wheel for `arch` may name at `(major, minor)`
/// (`packaging.tags._mac_binary_formats`).
fn mac_formats(major: u32, minor: u32, arch: &str) -> Vec<&'static str> {
    let old = (major, minor) < (10, 4);
    let mut out: Vec<&'static str> = match arch {
        "x86_64" if old => return Vec::new(),
        "x86_64" => vec!["x86_64", "intel", "fat64", "fat32"],
        "i386" if old => return Vec::new(),
        "i386" => vec!["i386", "intel", "fat32", "fat"],
        "arm64" => vec!["arm64"],
        "universal2" => vec!["universal2"],
        "intel" => vec!["intel"],
        "universal" => vec!["universal"],
        _ => Vec::new(),
    };
    if matches!(arch, "arm64" | "x86_64") {
        out.push("universal2");
    }
    if matches!(arch, "x86_64" | "i386" | "intel") {
        out.push("universal");
    }
    out
}

/// macOS platform tags for `major.minor` on `arch` (`packaging.tags.mac_platforms`):
/// before 11, every 10.x down to 10.0; from 11, every major down to 11, then (the
/// x86_64 half of a wheel may name an older macOS) 10.16 down to 10.4, in every format
/// on x86_64, as `universal2` only on other machines.
fn mac_platforms(major: u32, minor: u32, arch: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut push = |a: u32, b: u32, formats: Vec<&str>| {
        out.extend(formats.iter().map(|f| format!("macosx_{a}_{b}_{f}")));
    };
    if major == 10 {
        for m in (0..=minor).rev() {
            push(10, m, mac_formats(10, m, arch));
        }
        return out;
    }
    for a in (11..=major).rev() {
        push(a, 0, mac_formats(a, 0, arch));
    }
    for m in (4..=16).rev() {
        if arch == "x86_64" {
            push(10, m, mac_formats(10, m, arch));
        } else {
            push(10, m, vec!["universal2"]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_read_back_what_they_say() {
        let t = PlatformTag::parse("manylinux_2_28_aarch64").unwrap();
        assert_eq!(t.machine(), "aarch64");
        let p = t.platforms();
        assert_eq!(p[0], "manylinux_2_28_aarch64");
        assert!(p.contains(&"manylinux2014_aarch64".to_string()));
        // No aarch64 wheels older than manylinux2014's glibc.
        assert!(!p.iter().any(|x| x.starts_with("manylinux_2_16")));
        assert_eq!(p.last().unwrap(), "linux_aarch64");
        let legacy = PlatformTag::parse("manylinux2010_x86_64").unwrap();
        assert_eq!(
            legacy.platforms()[..3],
            [
                "manylinux_2_12_x86_64",
                "manylinux2010_x86_64",
                "manylinux_2_11_x86_64"
            ]
        );
        let musl = PlatformTag::parse("musllinux_1_2_x86_64").unwrap();
        assert_eq!(
            musl.platforms(),
            [
                "musllinux_1_2_x86_64",
                "musllinux_1_1_x86_64",
                "musllinux_1_0_x86_64",
                "linux_x86_64"
            ]
        );
        assert_eq!(PlatformTag::parse("win32").unwrap().machine(), "x86");
        for bad in [
            "manylinux_3_1_x86_64",
            "macosx_9_0_x86_64",
            "musllinux_1_x_x86_64",
            "linux",
            "win_amd",
            "manylinux_2_17_X86",
        ] {
            assert_eq!(PlatformTag::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn mac_versions_follow_packaging() {
        let arm = PlatformTag::parse("macosx_14_0_arm64").unwrap().platforms();
        assert_eq!(
            arm[..4],
            [
                "macosx_14_0_arm64",
                "macosx_14_0_universal2",
                "macosx_13_0_arm64",
                "macosx_13_0_universal2"
            ]
        );
        // An arm64 Mac installs a universal2 wheel that names a 10.x macOS, never an
        // arm64 one (no arm64 Mac ran 10.x).
        assert!(arm.contains(&"macosx_10_16_universal2".to_string()));
        assert!(!arm.contains(&"macosx_10_16_arm64".to_string()));
        let intel = PlatformTag::parse("macosx_10_15_x86_64")
            .unwrap()
            .platforms();
        assert_eq!(intel[0], "macosx_10_15_x86_64");
        assert!(intel.contains(&"macosx_10_9_x86_64".to_string()));
        assert!(!intel.iter().any(|p| p.starts_with("macosx_11")));
        assert!(!intel.iter().any(|p| p.starts_with("macosx_10_3_")));
    }
}
