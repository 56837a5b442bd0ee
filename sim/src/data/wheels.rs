//! Real wheels for the synthetic projects: zip files holding a module, a block of
//! padding and a `*.dist-info` directory whose `METADATA` is byte-identical to the
//! release's PEP 658 metadata file (as PEP 658 requires). An index without metadata
//! files leaves a client to read `METADATA` out of the wheel, with HTTP range requests
//! (end of central directory, central directory, the one entry) or a whole download.
//!
//! Hostile wheels tell one lie each ([`WheelFault`]). The zip structures are written
//! here by hand rather than with a zip library because the lies (offsets past the end,
//! sizes that do not match the data) are exactly what a library refuses to write.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{LazyLock, Mutex};

use base64::Engine as _;
use flate2::{Compress, Compression, FlushCompress};
use sha2::{Digest, Sha256};

/// The lie a hostile wheel tells about its `METADATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WheelFault {
    /// The central directory's entry for `METADATA` gives a local header offset past
    /// the end of the file.
    LyingDirectory,
    /// `METADATA` claims 100,000 bytes uncompressed; its ~1 MB of deflate data inflate
    /// to 1 GiB.
    MetadataBomb,
    /// The `.dist-info` directory has no `METADATA`.
    NoMetadata,
    /// Two `.dist-info` directories, each with a `METADATA` (naming different
    /// requirements): which one is the wheel's cannot be told.
    TwoDistInfo,
}

/// Incompressible bytes stored in every wheel, so that a wheel is several times larger
/// than the tail a range reader asks for first (real wheels range from tens of
/// kilobytes to hundreds of megabytes).
const PADDING_BYTES: usize = 256 * 1024;

/// What a bomb's inflated `METADATA` claims to be in the zip headers.
const BOMB_CLAIMED_BYTES: u32 = 100_000;
/// What it really inflates to.
const BOMB_REAL_BYTES: usize = 1 << 30;

/// A zip entry as the central directory records it.
pub(crate) struct CentralEntry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
    pub(crate) offset: u32,
}

/// A minimal zip writer (no zip64, no extra fields, fixed 1980-01-01 timestamps so the
/// bytes, and so the listed sha256, are the same on every run).
#[derive(Default)]
pub(crate) struct ZipWriter {
    out: Vec<u8>,
    entries: Vec<CentralEntry>,
}

const STORED: u16 = 0;
pub(crate) const DEFLATED: u16 = 8;
/// 1980-01-01 00:00 in MS-DOS date format (the earliest a zip can say).
const DOS_DATE: u16 = (1 << 5) | 1;

impl ZipWriter {
    pub(crate) fn add(&mut self, name: &str, data: &[u8], deflate: bool) {
        let crc = crc32fast::hash(data);
        if deflate {
            let compressed = deflate_raw(data);
            self.add_raw(name, DEFLATED, crc, &compressed, len32(data.len()));
        } else {
            self.add_raw(name, STORED, crc, data, len32(data.len()));
        }
    }

    /// One entry with its data already compressed and its header fields as given.
    pub(crate) fn add_raw(
        &mut self,
        name: &str,
        method: u16,
        crc: u32,
        data: &[u8],
        uncompressed: u32,
    ) {
        let offset = len32(self.out.len());
        let o = &mut self.out;
        o.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        o.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        o.extend_from_slice(&0u16.to_le_bytes()); // flags
        o.extend_from_slice(&method.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes()); // time
        o.extend_from_slice(&DOS_DATE.to_le_bytes());
        o.extend_from_slice(&crc.to_le_bytes());
        o.extend_from_slice(&len32(data.len()).to_le_bytes());
        o.extend_from_slice(&uncompressed.to_le_bytes());
        o.extend_from_slice(&(name.len() as u16).to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes()); // extra length
        o.extend_from_slice(name.as_bytes());
        o.extend_from_slice(data);
        self.entries.push(CentralEntry {
            name: name.to_string(),
            method,
            crc,
            compressed: len32(data.len()),
            uncompressed,
            offset,
        });
    }

    /// The central directory and its end record; `lie` may change entries first.
    pub(crate) fn finish(mut self, lie: impl Fn(&mut CentralEntry, usize)) -> Vec<u8> {
        let end_of_entries = self.out.len();
        for e in &mut self.entries {
            lie(e, end_of_entries);
        }
        let start = len32(self.out.len());
        for e in &self.entries {
            let o = &mut self.out;
            o.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            o.extend_from_slice(&20u16.to_le_bytes()); // made by
            o.extend_from_slice(&20u16.to_le_bytes()); // needed
            o.extend_from_slice(&0u16.to_le_bytes()); // flags
            o.extend_from_slice(&e.method.to_le_bytes());
            o.extend_from_slice(&0u16.to_le_bytes()); // time
            o.extend_from_slice(&DOS_DATE.to_le_bytes());
            o.extend_from_slice(&e.crc.to_le_bytes());
            o.extend_from_slice(&e.compressed.to_le_bytes());
            o.extend_from_slice(&e.uncompressed.to_le_bytes());
            o.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            o.extend_from_slice(&0u16.to_le_bytes()); // extra
            o.extend_from_slice(&0u16.to_le_bytes()); // comment
            o.extend_from_slice(&0u16.to_le_bytes()); // disk
            o.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
            o.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // external: a file
            o.extend_from_slice(&e.offset.to_le_bytes());
            o.extend_from_slice(e.name.as_bytes());
        }
        let size = len32(self.out.len()) - start;
        let count = self.entries.len() as u16;
        let o = &mut self.out;
        o.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes()); // this disk
        o.extend_from_slice(&0u16.to_le_bytes()); // disk of the directory
        o.extend_from_slice(&count.to_le_bytes());
        o.extend_from_slice(&count.to_le_bytes());
        o.extend_from_slice(&size.to_le_bytes());
        o.extend_from_slice(&start.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes()); // comment
        self.out
    }
}

fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("a synthetic wheel stays under 4 GiB")
}

/// Raw deflate (no zlib header), as zip stores it.
fn deflate_raw(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::best());
    e.write_all(data).expect("deflate into a vector");
    e.finish().expect("deflate into a vector")
}

/// Deflate data that inflates to [`BOMB_REAL_BYTES`] of spaces: one non-final block
/// for 1 MiB (ending byte-aligned after a sync flush), repeated, then an empty final
/// block. A block's back-references reach only spaces, so the repetition is valid.
pub(crate) fn bomb_deflate() -> Vec<u8> {
    const CHUNK: usize = 1 << 20;
    let spaces = vec![b' '; CHUNK];
    let mut c = Compress::new(Compression::best(), false);
    let mut block = Vec::with_capacity(CHUNK / 256);
    c.compress_vec(&spaces, &mut block, FlushCompress::Sync)
        .expect("deflate into a vector");
    assert_eq!(
        c.total_in() as usize,
        CHUNK,
        "the block holds the whole chunk"
    );
    let mut out = Vec::with_capacity(block.len() * (BOMB_REAL_BYTES / CHUNK) + 2);
    for _ in 0..BOMB_REAL_BYTES / CHUNK {
        out.extend_from_slice(&block);
    }
    // BFINAL = 1, BTYPE = fixed Huffman, end of block.
    out.extend_from_slice(&[0x03, 0x00]);
    out
}

/// Deterministic incompressible bytes keyed by `key`.
fn padding(key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(PADDING_BYTES + 32);
    let mut block = Sha256::digest(key.as_bytes());
    while out.len() < PADDING_BYTES {
        block = Sha256::digest(block);
        out.extend_from_slice(&block);
    }
    out.truncate(PADDING_BYTES);
    out
}

/// One line of a wheel's `RECORD`.
fn record_line(path: &str, data: &[u8]) -> String {
    let hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
    format!("{path},sha256={hash},{}\n", data.len())
}

/// What a wheel is built from.
pub(crate) struct WheelSpec<'a> {
    /// The distribution name with `-` as `_` (the file name's first part).
    pub(crate) stem: &'a str,
    pub(crate) version: &'a str,
    /// The wheel's tag, e.g. `py3-none-any`.
    pub(crate) tag: &'a str,
    /// The release's core metadata (the PEP 658 file's bytes).
    pub(crate) metadata: &'a str,
    pub(crate) fault: Option<WheelFault>,
}

/// The bytes of a wheel.
pub(crate) fn build(w: &WheelSpec<'_>) -> Vec<u8> {
    let mut z = ZipWriter::default();
    let module = format!(
        "\"\"\"{} {}: a synthetic package served by sentinel-sim.\"\"\"\n__version__ = \"{}\"\n",
        w.stem, w.version, w.version
    );
    let pad = padding(&format!("{}-{}-{}", w.stem, w.version, w.tag));
    let info = format!("{}-{}.dist-info", w.stem, w.version);
    let wheel_file = format!(
        "Wheel-Version: 1.0\nGenerator: sentinel-sim\nRoot-Is-Purelib: true\nTag: {}\n",
        w.tag
    );
    let mut record = String::new();
    // Every entry but RECORD itself is listed in RECORD with its hash and size.
    fn put(z: &mut ZipWriter, record: &mut String, path: String, data: &[u8], deflate: bool) {
        record.push_str(&record_line(&path, data));
        z.add(&path, data, deflate);
    }
    let r = &mut record;
    put(
        &mut z,
        r,
        format!("{}/__init__.py", w.stem),
        module.as_bytes(),
        true,
    );
    put(&mut z, r, format!("{}/_padding.bin", w.stem), &pad, false);
    let metadata_path = format!("{info}/METADATA");
    match w.fault {
        Some(WheelFault::NoMetadata) => {}
        Some(WheelFault::MetadataBomb) => {
            z.add_raw(
                &metadata_path,
                DEFLATED,
                0,
                &bomb_deflate(),
                BOMB_CLAIMED_BYTES,
            );
            r.push_str(&format!("{metadata_path},,\n"));
        }
        Some(WheelFault::TwoDistInfo) => {
            put(
                &mut z,
                r,
                metadata_path.clone(),
                w.metadata.as_bytes(),
                true,
            );
            let other = w
                .metadata
                .replace("Requires-Dist:", "Requires-Dist: sg-idna>=2\nX-Was:");
            let other_info = format!("{}_extra-{}.dist-info", w.stem, w.version);
            put(
                &mut z,
                r,
                format!("{other_info}/METADATA"),
                other.as_bytes(),
                true,
            );
        }
        Some(WheelFault::LyingDirectory) | None => {
            put(
                &mut z,
                r,
                metadata_path.clone(),
                w.metadata.as_bytes(),
                true,
            );
        }
    }
    put(
        &mut z,
        r,
        format!("{info}/WHEEL"),
        wheel_file.as_bytes(),
        true,
    );
    record.push_str(&format!("{info}/RECORD,,\n"));
    z.add(&format!("{info}/RECORD"), record.as_bytes(), true);
    let lying = w.fault == Some(WheelFault::LyingDirectory);
    z.finish(|e, end_of_entries| {
        if lying && e.name == metadata_path {
            e.offset = len32(end_of_entries) + 4096;
        }
    })
}

/// The sha256 (hex) and size of a file whose bytes are costly to build, computed once
/// per (project, file) and kept (the graphs have a few hundred files).
pub(crate) fn digest_of(key: &str, bytes: impl FnOnce() -> Vec<u8>) -> (String, usize) {
    static SEEN: LazyLock<Mutex<HashMap<String, (String, usize)>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    if let Some(d) = SEEN.lock().unwrap_or_else(|e| e.into_inner()).get(key) {
        return d.clone();
    }
    let b = bytes();
    let d = (
        Sha256::digest(&b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect(),
        b.len(),
    );
    SEEN.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.to_string(), d.clone());
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn spec(fault: Option<WheelFault>) -> WheelSpec<'static> {
        WheelSpec {
            stem: "sg_demo",
            version: "1.0.0",
            tag: "py3-none-any",
            metadata: "Metadata-Version: 2.1\nName: sg-demo\nVersion: 1.0.0\nRequires-Dist: sg-http>=1\n\n",
            fault,
        }
    }

    /// (name, method, compressed, uncompressed, offset) of each central entry, read
    /// the way a client reads a zip: from the end of central directory record.
    fn directory(z: &[u8]) -> Vec<(String, u16, u32, u32, u32)> {
        let eocd = z.len() - 22;
        assert_eq!(&z[eocd..eocd + 4], &0x0605_4b50u32.to_le_bytes());
        let u16_at = |i: usize| u16::from_le_bytes([z[i], z[i + 1]]);
        let u32_at = |i: usize| u32::from_le_bytes([z[i], z[i + 1], z[i + 2], z[i + 3]]);
        let (count, start) = (u16_at(eocd + 10), u32_at(eocd + 16) as usize);
        let mut at = start;
        let mut out = Vec::new();
        for _ in 0..count {
            assert_eq!(u32_at(at), 0x0201_4b50);
            let name_len = u16_at(at + 28) as usize;
            let name = String::from_utf8(z[at + 46..at + 46 + name_len].to_vec()).unwrap();
            out.push((
                name,
                u16_at(at + 10),
                u32_at(at + 20),
                u32_at(at + 24),
                u32_at(at + 42),
            ));
            at += 46 + name_len;
        }
        out
    }

    fn inflate_entry(z: &[u8], offset: u32, compressed: u32) -> Vec<u8> {
        let at = offset as usize;
        let name_len = u16::from_le_bytes([z[at + 26], z[at + 27]]) as usize;
        let data = &z[at + 30 + name_len..at + 30 + name_len + compressed as usize];
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[test]
    fn an_honest_wheel_holds_the_metadata_file_byte_for_byte() {
        let w = spec(None);
        let z = build(&w);
        assert!(
            z.len() > PADDING_BYTES,
            "the padding makes it larger than a tail read"
        );
        let dir = directory(&z);
        let m = dir
            .iter()
            .find(|e| e.0 == "sg_demo-1.0.0.dist-info/METADATA")
            .expect("METADATA listed");
        assert_eq!(m.1, DEFLATED);
        assert_eq!(inflate_entry(&z, m.4, m.2), w.metadata.as_bytes());
        assert_eq!(m.3 as usize, w.metadata.len());
        assert_eq!(build(&w), z, "the same bytes on every build");
    }

    #[test]
    fn each_hostile_wheel_tells_its_lie() {
        let liar = build(&spec(Some(WheelFault::LyingDirectory)));
        let m = directory(&liar)
            .into_iter()
            .find(|e| e.0.ends_with("/METADATA"))
            .unwrap();
        assert!(m.4 as usize > liar.len(), "offset past the end");

        let none = build(&spec(Some(WheelFault::NoMetadata)));
        assert!(!directory(&none).iter().any(|e| e.0.ends_with("/METADATA")));

        let two = build(&spec(Some(WheelFault::TwoDistInfo)));
        let infos: Vec<_> = directory(&two)
            .into_iter()
            .filter(|e| e.0.ends_with(".dist-info/METADATA"))
            .collect();
        assert_eq!(infos.len(), 2);

        let bomb = build(&spec(Some(WheelFault::MetadataBomb)));
        let m = directory(&bomb)
            .into_iter()
            .find(|e| e.0.ends_with("/METADATA"))
            .unwrap();
        assert_eq!(m.3, BOMB_CLAIMED_BYTES);
        assert!(bomb.len() < 4 << 20, "about a megabyte: {}", bomb.len());
        // It inflates far past what it claims (read the first 8 MiB only).
        let at = m.4 as usize;
        let data = &bomb[at + 30 + m.0.len()..];
        let mut first = Vec::new();
        flate2::read::DeflateDecoder::new(data)
            .take(8 << 20)
            .read_to_end(&mut first)
            .unwrap();
        assert_eq!(first.len(), 8 << 20);
        assert!(first.iter().all(|b| *b == b' '));
    }
}
