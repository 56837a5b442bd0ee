//! Source distributions (`.tar.gz`) of the sdist-only synthetic projects: a real tar in
//! gzip holding `{stem}-{version}/PKG-INFO` (the release's core metadata with the
//! `Metadata-Version` and `Dynamic` lines of its [`SdistKind`]) and a `setup.py`, or,
//! for [`SdistKind::Bomb`], a gzip bomb: 200 MiB of zeros before its `PKG-INFO`,
//! written as repeated gzip members (a few hundred KB on the wire, built in
//! milliseconds).

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

/// What an sdist-only project's `PKG-INFO` says, or how it is hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SdistKind {
    /// `Metadata-Version: 2.2`, `Requires-Dist` static: usable without a build.
    Static,
    /// `Metadata-Version: 2.2` with `Dynamic: Requires-Dist`.
    Dynamic,
    /// `Metadata-Version: 2.1`: from before PEP 643, never trusted.
    Old,
    /// A static 2.2 `PKG-INFO` behind 200 MiB of zeros (a gzip bomb).
    Bomb,
}

/// Zeros before the bomb's `PKG-INFO`.
const BOMB_FILLER: u64 = 200 * 1024 * 1024;
const MIB: usize = 1024 * 1024;

/// `metadata` (a core metadata 2.4 file) as this kind's `PKG-INFO`.
fn pkg_info(kind: SdistKind, metadata: &str) -> String {
    let rest = metadata.split_once('\n').map_or(metadata, |(_, rest)| rest);
    match kind {
        SdistKind::Static | SdistKind::Bomb => format!("Metadata-Version: 2.2\n{rest}"),
        SdistKind::Dynamic => format!("Metadata-Version: 2.2\nDynamic: Requires-Dist\n{rest}"),
        SdistKind::Old => format!("Metadata-Version: 2.1\n{rest}"),
    }
}

fn header(path: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_path(path).expect("a short ASCII path");
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    h
}

fn gzip(parts: &[&[u8]]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    for p in parts {
        gz.write_all(p).expect("writing to memory");
    }
    gz.finish().expect("writing to memory")
}

/// A tar entry: its header, its data, the padding to 512 bytes.
fn entry(path: &str, data: &[u8]) -> Vec<u8> {
    let mut out = header(path, data.len() as u64).as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// The sdist of release `version` of the project whose file stem is `stem`.
pub(crate) fn build(stem: &str, version: &str, kind: SdistKind, metadata: &str) -> Vec<u8> {
    let dir = format!("{stem}-{version}");
    let info = pkg_info(kind, metadata);
    let setup = format!(
        "# A synthetic sdist served by sentinel-sim.\nfrom setuptools import setup\nsetup(name={stem:?}, version={version:?})\n"
    );
    let mut tail = entry(&format!("{dir}/PKG-INFO"), info.as_bytes());
    tail.extend(entry(&format!("{dir}/setup.py"), setup.as_bytes()));
    tail.extend_from_slice(&[0; 1024]);
    if kind != SdistKind::Bomb {
        return gzip(&[&tail]);
    }
    // The filler entry's header, then its zeros in 1 MiB gzip members (all the same
    // bytes), then the PKG-INFO entry and the end.
    let zeros = vec![0u8; MIB];
    let chunk = gzip(&[&zeros]);
    let mut out = gzip(&[header(&format!("{dir}/filler.bin"), BOMB_FILLER).as_bytes()]);
    for _ in 0..BOMB_FILLER as usize / MIB {
        out.extend_from_slice(&chunk);
    }
    out.extend(gzip(&[&tail]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn files(sdist: &[u8], max: u64) -> Vec<(String, u64, Vec<u8>)> {
        let gz = flate2::read::MultiGzDecoder::new(sdist).take(max);
        let mut a = tar::Archive::new(gz);
        a.entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let size = e.size();
                let mut data = Vec::new();
                if size < 1024 * 1024 {
                    e.read_to_end(&mut data).unwrap();
                }
                (path, size, data)
            })
            .collect()
    }

    const META: &str = "Metadata-Version: 2.4\nName: sg-a\nVersion: 1.0.0\nRequires-Dist: sg-b\n\n";

    #[test]
    fn each_kind_says_what_it_should() {
        let got = files(&build("sg_a", "1.0.0", SdistKind::Dynamic, META), u64::MAX);
        assert_eq!(got[0].0, "sg_a-1.0.0/PKG-INFO");
        let text = String::from_utf8(got[0].2.clone()).unwrap();
        assert!(text.starts_with("Metadata-Version: 2.2\nDynamic: Requires-Dist\nName: sg-a\n"));
        let got = files(&build("sg_a", "1.0.0", SdistKind::Old, META), u64::MAX);
        assert!(got[0].2.starts_with(b"Metadata-Version: 2.1\nName"));
    }

    #[test]
    fn the_bomb_is_small_and_inflates_past_200_mib() {
        let bomb = build("sg_a", "1.0.0", SdistKind::Bomb, META);
        assert!(bomb.len() < 1024 * 1024, "{} bytes", bomb.len());
        let got = files(&bomb, u64::MAX);
        assert_eq!(got[0].1, BOMB_FILLER);
        assert_eq!(got[1].0, "sg_a-1.0.0/PKG-INFO");
    }
}
