//! A source distribution's `PKG-INFO`, for a release with no wheel to read metadata
//! from: picked out of the whole sdist the engine downloaded (under the fetch layer's
//! size cap), from a `.tar.gz` or a `.zip`, and trusted only when it is static
//! (PEP 643: `Metadata-Version` 2.2 or later and `Requires-Dist` not `Dynamic`).
//! Otherwise the requirements cannot be known without building the sdist.
//!
//! An sdist is untrusted input: inflating stops at [`MAX_INFLATED_BYTES`] whatever the
//! archive claims (a gzip bomb), at most [`MAX_ENTRIES`] tar entries are looked at,
//! and `PKG-INFO` itself is capped at [`super::wheel::MAX_METADATA_BYTES`].

use std::io::Read;

use super::metadata::ReleaseMetadata;
use super::wheel::{self, MAX_METADATA_BYTES, WheelError};

/// The most bytes inflated out of a `.tar.gz` while looking for `PKG-INFO`.
pub const MAX_INFLATED_BYTES: u64 = 128 * 1024 * 1024;

/// The most tar entries looked at while looking for `PKG-INFO`.
pub const MAX_ENTRIES: usize = 100_000;

/// The words every "not static" answer ends with (the walks match on it to type it).
pub const NEEDS_BUILD: &str = "cannot be known without building it";

/// Where an answer's metadata came from, when it is an sdist's `PKG-INFO`.
pub const FROM_SDIST: &str = "sdist PKG-INFO";

/// Why `PKG-INFO` could not be read from an sdist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdistError {
    /// Neither `.tar.gz` (`.tgz`) nor `.zip`.
    #[error("{0:?} is not a .tar.gz or .zip sdist")]
    Format(String),
    /// The archive cannot be read.
    #[error("the sdist cannot be read: {0}")]
    Broken(String),
    /// No `{dir}/PKG-INFO` at the archive's top.
    #[error("the sdist has no PKG-INFO at its top")]
    NoPkgInfo,
    /// Over a cap.
    #[error("{what} is over the {cap} byte cap")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The cap.
        cap: u64,
    },
    /// More entries than [`MAX_ENTRIES`] before `PKG-INFO`.
    #[error("the sdist has more than {MAX_ENTRIES} entries before its PKG-INFO")]
    TooManyEntries,
}

/// The kinds of sdist read, by the file's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdistFormat {
    /// `.tar.gz` or `.tgz`.
    TarGz,
    /// `.zip`.
    Zip,
}

impl SdistFormat {
    /// The format of `filename`, if one that is read.
    pub fn of(filename: &str) -> Option<SdistFormat> {
        let f = filename.to_ascii_lowercase();
        if f.ends_with(".tar.gz") || f.ends_with(".tgz") {
            Some(SdistFormat::TarGz)
        } else if f.ends_with(".zip") {
            Some(SdistFormat::Zip)
        } else {
            None
        }
    }
}

/// `{dir}/PKG-INFO` at the archive's top (one directory deep, as every sdist has it).
fn pkg_info_path(name: &[u8]) -> Option<String> {
    let name = std::str::from_utf8(name).ok()?;
    let name = name.strip_prefix("./").unwrap_or(name);
    let (dir, file) = name.split_once('/')?;
    (file == "PKG-INFO" && !dir.is_empty() && dir != "..").then(|| name.to_string())
}

/// The bytes of the sdist's `PKG-INFO`, out of the whole file `bytes` named `filename`.
pub fn pkg_info(filename: &str, bytes: &[u8]) -> Result<Vec<u8>, SdistError> {
    pkg_info_within(filename, bytes, MAX_INFLATED_BYTES)
}

/// [`pkg_info`], inflating at most `max_inflated` bytes of a `.tar.gz`.
pub fn pkg_info_within(
    filename: &str,
    bytes: &[u8],
    max_inflated: u64,
) -> Result<Vec<u8>, SdistError> {
    match SdistFormat::of(filename) {
        Some(SdistFormat::TarGz) => from_tar_gz(bytes, max_inflated),
        Some(SdistFormat::Zip) => {
            wheel::entry_of_whole(bytes, pkg_info_path).map_err(|e| match e {
                WheelError::NoMetadata => SdistError::NoPkgInfo,
                WheelError::SeveralMetadata(n) => {
                    SdistError::Broken(format!("{n} top-level PKG-INFO files"))
                }
                WheelError::TooLarge { cap, .. } => SdistError::TooLarge {
                    what: "PKG-INFO",
                    cap,
                },
                e => SdistError::Broken(e.to_string()),
            })
        }
        None => Err(SdistError::Format(crate::model::untrusted::excerpt(
            filename,
        ))),
    }
}

fn from_tar_gz(bytes: &[u8], max_inflated: u64) -> Result<Vec<u8>, SdistError> {
    // The cap holds across every entry: a bomb stops here, whatever the headers say.
    // Every gzip member is read, as Python's `tarfile` does.
    let gz = flate2::read::MultiGzDecoder::new(bytes).take(max_inflated);
    let mut archive = tar::Archive::new(gz);
    let found = find_in_tar(&mut archive);
    // Whatever the reader said, an archive cut at the cap is a bomb, not a broken file.
    let capped = archive.into_inner().limit() == 0;
    match found {
        Ok(pkg_info) => Ok(pkg_info),
        Err(SdistError::Broken(_) | SdistError::NoPkgInfo) if capped => Err(SdistError::TooLarge {
            what: "the sdist inflated",
            cap: max_inflated,
        }),
        Err(e) => Err(e),
    }
}

fn find_in_tar<R: Read>(archive: &mut tar::Archive<R>) -> Result<Vec<u8>, SdistError> {
    let broken = |e: std::io::Error| SdistError::Broken(e.to_string());
    for (i, entry) in archive.entries().map_err(broken)?.enumerate() {
        if i >= MAX_ENTRIES {
            return Err(SdistError::TooManyEntries);
        }
        let entry = entry.map_err(broken)?;
        if pkg_info_path(&entry.path_bytes()).is_none() {
            continue;
        }
        if !matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        ) {
            return Err(SdistError::Broken("PKG-INFO is not a regular file".into()));
        }
        if entry.size() > MAX_METADATA_BYTES {
            return Err(SdistError::TooLarge {
                what: "PKG-INFO",
                cap: MAX_METADATA_BYTES,
            });
        }
        let mut out = Vec::new();
        entry
            .take(MAX_METADATA_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(broken)?;
        if out.len() as u64 > MAX_METADATA_BYTES {
            return Err(SdistError::TooLarge {
                what: "PKG-INFO",
                cap: MAX_METADATA_BYTES,
            });
        }
        return Ok(out);
    }
    Err(SdistError::NoPkgInfo)
}

/// Whether a `PKG-INFO`'s requirements can be trusted without building the sdist
/// (PEP 643): `Ok` when its `Metadata-Version` is 2.2 or later and `Requires-Dist` is
/// not `Dynamic`; otherwise why not, in words for the node's answer.
pub fn static_requirements(m: &ReleaseMetadata) -> Result<(), String> {
    let version = m.metadata_version.as_deref().unwrap_or("");
    let (major, minor) = version
        .trim()
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .unwrap_or((0, 0));
    if (major, minor) < (2, 2) {
        return Err(format!(
            "its sdist's PKG-INFO has Metadata-Version {}, before 2.2 (PEP 643): its requirements {NEEDS_BUILD}",
            if version.is_empty() {
                "(none)".to_string()
            } else {
                crate::model::untrusted::excerpt(version)
            }
        ));
    }
    if m.dynamic.iter().any(|d| d == "requires-dist") {
        return Err(format!(
            "its sdist's PKG-INFO lists Requires-Dist as Dynamic: its requirements {NEEDS_BUILD}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    const PKG_INFO: &[u8] =
        b"Metadata-Version: 2.2\nName: a\nVersion: 1.0\nRequires-Dist: b>=1\n\nreadme\n";

    #[test]
    fn picks_the_top_level_pkg_info_of_a_tar_gz() {
        let sdist = tar_gz(&[
            ("a-1.0/src/a/PKG-INFO", b"not this one"),
            ("a-1.0/setup.py", b"print()"),
            ("a-1.0/PKG-INFO", PKG_INFO),
        ]);
        assert_eq!(pkg_info("a-1.0.tar.gz", &sdist).unwrap(), PKG_INFO);
        let none = tar_gz(&[("a-1.0/setup.py", b"print()")]);
        assert_eq!(pkg_info("a-1.0.tar.gz", &none), Err(SdistError::NoPkgInfo));
        assert!(matches!(
            pkg_info("a-1.0.tar.gz", b"not gzip"),
            Err(SdistError::Broken(_))
        ));
        assert!(matches!(
            pkg_info("a-1.0.tar.bz2", &sdist),
            Err(SdistError::Format(_))
        ));
    }

    #[test]
    fn picks_the_pkg_info_of_a_zip() {
        let mut w = Vec::new();
        {
            // A stored zip, written by hand: local header, data, directory, record.
            let name = b"a-1.0/PKG-INFO";
            let crc = crc32(PKG_INFO);
            let mut local = Vec::new();
            local.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            local.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            local.extend_from_slice(&crc.to_le_bytes());
            local.extend_from_slice(&(PKG_INFO.len() as u32).to_le_bytes());
            local.extend_from_slice(&(PKG_INFO.len() as u32).to_le_bytes());
            local.extend_from_slice(&(name.len() as u16).to_le_bytes());
            local.extend_from_slice(&0u16.to_le_bytes());
            local.extend_from_slice(name);
            local.extend_from_slice(PKG_INFO);
            let dir_at = local.len() as u32;
            let mut dir = Vec::new();
            dir.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            dir.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            dir.extend_from_slice(&crc.to_le_bytes());
            dir.extend_from_slice(&(PKG_INFO.len() as u32).to_le_bytes());
            dir.extend_from_slice(&(PKG_INFO.len() as u32).to_le_bytes());
            dir.extend_from_slice(&(name.len() as u16).to_le_bytes());
            dir.extend_from_slice(&[0; 12]);
            dir.extend_from_slice(&0u32.to_le_bytes());
            dir.extend_from_slice(name);
            let mut eocd = Vec::new();
            eocd.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
            eocd.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
            eocd.extend_from_slice(&(dir.len() as u32).to_le_bytes());
            eocd.extend_from_slice(&dir_at.to_le_bytes());
            eocd.extend_from_slice(&0u16.to_le_bytes());
            w.write_all(&local).unwrap();
            w.write_all(&dir).unwrap();
            w.write_all(&eocd).unwrap();
        }
        assert_eq!(pkg_info("a-1.0.zip", &w).unwrap(), PKG_INFO);
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for b in data {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn a_gzip_bomb_stops_at_the_cap() {
        // 8 MiB of zeros before PKG-INFO, read with a 4 MiB cap: inflating stops there.
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        let big: u64 = 8 * 1024 * 1024;
        h.set_size(big);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "a-1.0/filler", std::io::repeat(0).take(big))
            .unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(PKG_INFO.len() as u64);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, "a-1.0/PKG-INFO", PKG_INFO).unwrap();
        let bomb = b.into_inner().unwrap().finish().unwrap();
        assert!(bomb.len() < 256 * 1024, "{} bytes", bomb.len());
        let e = pkg_info_within("a-1.0.tar.gz", &bomb, 4 * 1024 * 1024).unwrap_err();
        assert!(
            matches!(e, SdistError::TooLarge { cap, .. } if cap == 4 * 1024 * 1024),
            "{e}"
        );
        // Under a cap it fits: found.
        assert_eq!(pkg_info("a-1.0.tar.gz", &bomb).unwrap(), PKG_INFO);
        // A PKG-INFO over its own cap is refused before it is read.
        let huge = vec![b'x'; MAX_METADATA_BYTES as usize + 1];
        let sdist = tar_gz(&[("a-1.0/PKG-INFO", &huge)]);
        let e = pkg_info("a-1.0.tar.gz", &sdist).unwrap_err();
        assert_eq!(
            e,
            SdistError::TooLarge {
                what: "PKG-INFO",
                cap: MAX_METADATA_BYTES
            }
        );
    }

    #[test]
    fn only_static_requirements_of_2_2_or_later_are_trusted() {
        let m = |text: &str| super::super::metadata::parse(text.as_bytes()).unwrap();
        assert!(static_requirements(&m("Metadata-Version: 2.2\nName: a\nVersion: 1\n")).is_ok());
        assert!(
            static_requirements(&m(
                "Metadata-Version: 2.4\nName: a\nVersion: 1\nDynamic: Classifier\n"
            ))
            .is_ok()
        );
        let e = static_requirements(&m(
            "Metadata-Version: 2.3\nName: a\nVersion: 1\nDynamic: Requires-Dist\n",
        ))
        .unwrap_err();
        assert!(e.contains("cannot be known without building it"), "{e}");
        let e =
            static_requirements(&m("Metadata-Version: 2.1\nName: a\nVersion: 1\n")).unwrap_err();
        assert!(e.contains("2.1, before 2.2"), "{e}");
        let e = static_requirements(&m("Name: a\nVersion: 1\n")).unwrap_err();
        assert!(e.contains("(none)"), "{e}");
        assert!(static_requirements(&m("Metadata-Version: 2.10\nName: a\nVersion: 1\n")).is_ok());
    }
}
