//! `download_package`: which file of a release to fetch for a target (the best wheel
//! by PEP 425 tags, else the sdist), whether its listed name is one plain file name,
//! and the answer's shape. Pure: the transfer itself is the engine's
//! (`engine/download_api.rs`).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::deps::TargetEnv;
use crate::tags::{TagTarget, WheelName};
use crate::upstream::FileInfo;

/// Which kind of file to download.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum WantedKind {
    /// The best wheel for the target, else the sdist.
    #[default]
    Any,
    /// A wheel for the target only.
    Wheel,
    /// The sdist only.
    Sdist,
}

impl std::str::FromStr for WantedKind {
    type Err = crate::model::InputError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "any" => Ok(WantedKind::Any),
            "wheel" => Ok(WantedKind::Wheel),
            "sdist" => Ok(WantedKind::Sdist),
            _ => Err(crate::model::InputError {
                param: "kind",
                value: crate::model::clip_echo(s),
                rule: "must be wheel, sdist or any".into(),
            }),
        }
    }
}

/// What to download, and where.
#[derive(Debug, Clone)]
pub struct DownloadRequest {
    /// The package.
    pub package: String,
    /// The release; `None`: the one pip would pick for the target's Python.
    pub version: Option<String>,
    /// The target (Python X.Y, platform, `platform_machine`).
    pub env: TargetEnv,
    /// Wheel, sdist, or the best wheel else the sdist.
    pub kind: WantedKind,
    /// The directory to write into: under `download.allowed_dirs` (relative: to the
    /// first of them); `None`: the first of them.
    pub dest: Option<PathBuf>,
}

/// A distribution file's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DistKind {
    /// A wheel (`.whl`).
    Wheel,
    /// A source distribution.
    Sdist,
}

impl DistKind {
    /// `wheel` or `sdist`.
    pub fn as_str(self) -> &'static str {
        match self {
            DistKind::Wheel => "wheel",
            DistKind::Sdist => "sdist",
        }
    }
}

/// The file chosen, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ChosenFile {
    /// Its name.
    pub filename: String,
    /// Wheel or sdist.
    pub kind: DistKind,
    /// A wheel's tags (`py-abi-plat`, expanded); empty for an sdist.
    pub tags: Vec<String>,
    /// The tag that matched the target (wheels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_tag: Option<String>,
    /// Its size as listed, in bytes.
    pub size: u64,
    /// Its URL as resolved.
    pub url: String,
    /// Why this file, in words.
    pub why: String,
}

/// How one attempt at fetching the file ended. Serialised as its lowercase name, the
/// same string [`AttemptOutcome::as_str`] and `Display` give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    /// The bytes hashed to the listed sha256: the file was written.
    Verified,
    /// The bytes hashed to something else: discarded.
    Corrupt,
    /// The body ended before the announced or listed size: discarded.
    Truncated,
    /// The file host did not send the file (a status, a connection failure).
    Failed,
}

impl AttemptOutcome {
    /// `verified`, `corrupt`, `truncated` or `failed` (as serialised).
    pub const fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Verified => "verified",
            AttemptOutcome::Corrupt => "corrupt",
            AttemptOutcome::Truncated => "truncated",
            AttemptOutcome::Failed => "failed",
        }
    }
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// One attempt at fetching the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DownloadAttempt {
    /// 1 or 2.
    pub attempt: u32,
    /// `verified`, `corrupt`, `truncated` or `failed`.
    #[schemars(with = "String")]
    pub outcome: AttemptOutcome,
    /// Bytes received.
    pub bytes: u64,
    /// What the bytes hashed to (when the body was complete).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Whether the attempt had a connection of its own: a retry does, so it never
    /// reuses the connection that served bad bytes; the first attempt goes on the
    /// files upstream's pooled client (false: it may reuse a connection).
    pub new_connection: bool,
}

/// A verified download: what was written where, and how it was checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PackageDownload {
    /// The package, as listed.
    pub package: String,
    /// The release.
    pub version: String,
    /// The file chosen, its tags and why.
    pub file: ChosenFile,
    /// Other files listed for the release (not chosen).
    pub other_candidates: usize,
    /// The sha256 the index lists.
    pub sha256_expected: String,
    /// What the written bytes hash to (equal to the expected one when verified).
    pub sha256: String,
    /// Whether the bytes written hash to the listed sha256 (always, in an answer: a
    /// file that does not is never kept).
    pub verified: bool,
    /// Bytes written.
    pub bytes: u64,
    /// The file's absolute path.
    pub path: String,
    /// Its path relative to the allowed directory it is under.
    pub relative_path: String,
    /// That allowed directory.
    pub allowed_dir: String,
    /// Each attempt, in order (two when the first was corrupt or cut short).
    pub attempts: Vec<DownloadAttempt>,
    /// The target the file was chosen for.
    pub target: TargetEnv,
    /// What was assumed about the target's platform.
    pub assumed_platform: String,
    /// Where the file list came from and why a stale one is fine (its provenance is
    /// the answer's).
    pub listing: String,
    /// What was chosen or refused along the way, in words.
    pub notes: Vec<String>,
}

/// Why a listed file name is not one plain file name to write, or `None` when it is.
/// A name is refused when it is empty, `.` or `..`, starts with a dot, has a path
/// separator (`/` or `\`), a drive or stream colon, a NUL or another control
/// character, is longer than 255 bytes, or does not end like a distribution file.
pub fn unsafe_name_rule(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name == "." || name == ".." {
        return Some("is a directory reference");
    }
    if name.starts_with('.') {
        return Some("starts with a dot");
    }
    if name.contains(['/', '\\']) {
        return Some("contains a path separator");
    }
    if name.contains(':') {
        return Some("contains a colon (a drive or stream name on Windows)");
    }
    if name.chars().any(char::is_control) {
        return Some("contains a NUL or a control character");
    }
    if name.len() > 255 {
        return Some("is longer than 255 bytes");
    }
    if is_windows_device(name) {
        return Some("is a Windows device name (CON, NUL, COM1...), whatever its extension");
    }
    if dist_kind(name).is_none() {
        return Some("is not a distribution file name (.whl, .tar.gz, .zip)");
    }
    None
}

/// Windows opens the device, not a file, for these names with any extension
/// (`CON.whl`, `nul.tar.gz`); a server on Windows must not write to them.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    matches!(
        upper.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((upper.starts_with("COM") || upper.starts_with("LPT"))
        && upper.len() == 4
        && upper.as_bytes()[3].is_ascii_digit())
}

/// A file name's kind by its ending.
fn dist_kind(name: &str) -> Option<DistKind> {
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".whl") {
        Some(DistKind::Wheel)
    } else if [".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        Some(DistKind::Sdist)
    } else {
        None
    }
}

/// The file picked for a target, with why; or why none fits.
#[derive(Debug)]
pub struct Pick<'a> {
    /// The file.
    pub file: &'a FileInfo,
    /// Wheel or sdist.
    pub kind: DistKind,
    /// Its wheel tags.
    pub tags: Vec<String>,
    /// The tag the target matched.
    pub matched_tag: Option<String>,
    /// Why it was picked or not, in words.
    pub why: String,
}

/// Picks the file of `files` for `target` and `wanted`. Files whose names are unsafe
/// are never candidates (the caller says so when nothing else fits).
pub fn pick<'a>(
    files: &'a [FileInfo],
    target: &TagTarget,
    wanted: WantedKind,
) -> Result<Pick<'a>, String> {
    let safe: Vec<&FileInfo> = files
        .iter()
        .filter(|f| unsafe_name_rule(&f.filename).is_none())
        .collect();
    let mut wheels = 0;
    let best_wheel = safe
        .iter()
        .filter(|f| dist_kind(&f.filename) == Some(DistKind::Wheel))
        .filter_map(|f| {
            wheels += 1;
            let w = WheelName::parse(&f.filename)?;
            let (rank, tag) = target.best(&w)?;
            Some((rank, tag.to_string(), *f, w.tags.clone()))
        })
        .min_by_key(|(rank, ..)| *rank);
    let sdist = safe
        .iter()
        .filter(|f| dist_kind(&f.filename) == Some(DistKind::Sdist))
        // `.tar.gz` is the standard sdist (PEP 625); `.zip` only when it is the one.
        .min_by_key(|f| !f.filename.to_ascii_lowercase().ends_with(".tar.gz"))
        .copied();
    let for_whom = format!("{} on {}", target.interpreter, target.assumptions);
    match (wanted, best_wheel, sdist) {
        (WantedKind::Any | WantedKind::Wheel, Some((_, tag, f, tags)), _) => Ok(Pick {
            file: f,
            kind: DistKind::Wheel,
            tags,
            why: format!(
                "the most preferred wheel for {for_whom}: its tag {tag} ranks first of the {wheels} wheel(s) listed"
            ),
            matched_tag: Some(tag),
        }),
        (WantedKind::Any, None, Some(f)) => Ok(Pick {
            file: f,
            kind: DistKind::Sdist,
            tags: Vec::new(),
            matched_tag: None,
            why: if wheels == 0 {
                "the sdist: the release lists no wheel".into()
            } else {
                format!(
                    "the sdist: none of the {wheels} wheel(s) listed installs on {for_whom} (installing it builds from source)"
                )
            },
        }),
        (WantedKind::Sdist, _, Some(f)) => Ok(Pick {
            file: f,
            kind: DistKind::Sdist,
            tags: Vec::new(),
            matched_tag: None,
            why: "the sdist, as asked".into(),
        }),
        (WantedKind::Sdist, _, None) => Err("no sdist is listed".into()),
        (WantedKind::Wheel, None, _) | (WantedKind::Any, None, None) => Err(format!(
            "none of the {wheels} wheel(s) listed installs on {for_whom}{}",
            if wanted == WantedKind::Any {
                ", and no sdist is listed"
            } else {
                ""
            }
        )),
    }
}

/// Where the file list came from, and why its age does not matter, in words (its
/// provenance is the answer's own).
pub fn listing_words(upstream: crate::model::Upstream) -> String {
    format!(
        "the release's file list from {upstream}; a stale list is fine for downloading: a file's sha256 never changes, and the bytes are checked against it"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The wire strings clients match on: changing one breaks them.
    #[test]
    fn every_attempt_outcome_keeps_its_wire_string() {
        let table = [
            (AttemptOutcome::Verified, "verified"),
            (AttemptOutcome::Corrupt, "corrupt"),
            (AttemptOutcome::Truncated, "truncated"),
            (AttemptOutcome::Failed, "failed"),
        ];
        for (outcome, wire) in table {
            // Exhaustive: a new outcome must be added to the table above.
            match outcome {
                AttemptOutcome::Verified
                | AttemptOutcome::Corrupt
                | AttemptOutcome::Truncated
                | AttemptOutcome::Failed => {}
            }
            assert_eq!(outcome.as_str(), wire);
            assert_eq!(outcome.to_string(), wire);
            assert_eq!(serde_json::to_value(outcome).unwrap(), wire);
            assert_eq!(
                serde_json::from_value::<AttemptOutcome>(wire.into()).unwrap(),
                outcome
            );
        }
    }

    #[test]
    fn hostile_names_are_refused_and_distribution_names_pass() {
        for bad in [
            "",
            ".",
            "..",
            "../../x.whl",
            "a/b.whl",
            "/etc/x.whl",
            "C:\\x.whl",
            "C:x.whl",
            "x.whl\0.sh",
            "x\u{1b}[2J.whl",
            "x\n.whl",
            ".hidden.whl",
            "setup.py",
            "CON.whl",
            "nul.tar.gz",
            "com1.tar.gz",
            "Lpt9.1-py3-none-any.whl",
        ] {
            assert!(unsafe_name_rule(bad).is_some(), "{bad:?} passed");
        }
        assert!(unsafe_name_rule(&format!("{}.whl", "x".repeat(300))).is_some());
        for good in [
            "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "requests-2.32.3.tar.gz",
            "pkg-1.0.zip",
            "console-1.0-py3-none-any.whl",
            "com10-1.0.tar.gz",
        ] {
            assert_eq!(unsafe_name_rule(good), None, "{good}");
        }
    }

    fn file(name: &str) -> FileInfo {
        FileInfo {
            filename: name.into(),
            packagetype: String::new(),
            upload_time_iso_8601: None,
            yanked: false,
            size: 10,
            requires_python: None,
            link: None,
        }
    }

    #[test]
    fn best_wheel_else_sdist_as_asked() {
        let env = TargetEnv::new(Some("3.12"), Some("linux"), &[]).unwrap();
        let t = TagTarget::for_env(&env);
        let files = [
            file("a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
            file("a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"),
            file("a-1.0-py3-none-any.whl"),
            file("a-1.0.tar.gz"),
            file("../a-1.0-cp312-cp312-manylinux_2_28_x86_64.whl"),
        ];
        let p = pick(&files, &t, WantedKind::Any).unwrap();
        assert_eq!(
            p.file.filename,
            "a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
        );
        assert_eq!(
            pick(&files, &t, WantedKind::Sdist).unwrap().kind,
            DistKind::Sdist
        );
        let win = TagTarget::for_env(&TargetEnv::new(Some("3.12"), Some("windows"), &[]).unwrap());
        assert_eq!(
            pick(&files, &win, WantedKind::Any).unwrap().file.filename,
            "a-1.0-py3-none-any.whl"
        );
        let only_native = [file("a-1.0-cp311-cp311-win_amd64.whl"), file("a-1.0.zip")];
        let p = pick(&only_native, &t, WantedKind::Any).unwrap();
        assert_eq!(p.kind, DistKind::Sdist);
        assert!(p.why.contains("none of the 1 wheel"), "{}", p.why);
        assert!(pick(&only_native, &t, WantedKind::Wheel).is_err());
    }
}
