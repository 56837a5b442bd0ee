use std::io::{Cursor, Write};
use std::str::FromStr;

use pep440_rs::Version;

use super::*;
use crate::upstream::zip::{
    CENTRAL_SIGNATURE, EOCD_SIGNATURE, LOCAL_SIGNATURE, ZIP64_EOCD_SIGNATURE,
    ZIP64_LOCATOR_SIGNATURE,
};

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

const LIMITS: ExportLimits = ExportLimits {
    max_entries: 1000,
    max_inflated_bytes: 64 << 20,
};

/// A zip with the given (name, data, deflate) entries; `zip64` writes the zip64 end
/// records (and `0xFFFF` entries in the classic one), as Python's zipfile does past
/// 65,535 entries.
fn zip(entries: &[(&str, &[u8], bool)], zip64: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data, deflate) in entries {
        let body = if *deflate {
            let mut e =
                flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        } else {
            data.to_vec()
        };
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let method: u16 = if *deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        out.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0]);
        out.extend_from_slice(&method.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // time, date
        out.extend_from_slice(&crc.sum().to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&body);
        central.extend_from_slice(&CENTRAL_SIGNATURE.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
        central.extend_from_slice(&method.to_le_bytes());
        central.extend_from_slice(&[0; 4]);
        central.extend_from_slice(&crc.sum().to_le_bytes());
        central.extend_from_slice(&(body.len() as u32).to_le_bytes());
        central.extend_from_slice(&(data.len() as u32).to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0; 12]); // extra, comment, disk, attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u64;
    out.extend_from_slice(&central);
    let n = entries.len() as u64;
    if zip64 {
        let rec = out.len() as u64;
        out.extend_from_slice(&ZIP64_EOCD_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&44u64.to_le_bytes());
        out.extend_from_slice(&[45, 0, 45, 0]);
        out.extend_from_slice(&[0; 8]); // disks
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(central.len() as u64).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&ZIP64_LOCATOR_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&rec.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
    }
    let count = if zip64 { u16::MAX } else { n as u16 };
    out.extend_from_slice(&EOCD_SIGNATURE.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&(start as u32).to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn record(id: &str, alias: &str, package: &str, versions: &[&str], fixed: &str) -> Vec<u8> {
    serde_json::json!({
        "id": id, "aliases": [alias], "summary": format!("{id} summary"),
        "modified": "2024-06-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": package},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "versions": versions}]
    })
    .to_string()
    .into_bytes()
}

/// Every item of an export, or the error that refused it.
fn read_all(z: Vec<u8>, limits: ExportLimits) -> Result<Vec<ExportItem>, ExportError> {
    let len = z.len() as u64;
    let mut r = ExportReader::open(Cursor::new(z), len, limits)?;
    let mut out = Vec::new();
    while let Some(item) = r.next_item(&CancelFlag::never()) {
        out.push(item?);
    }
    Ok(out)
}

#[test]
fn every_advisory_is_read_and_a_bad_entry_is_skipped_and_named() {
    let a = record("PYSEC-1", "GHSA-1", "Demo_Pkg", &["1.0"], "1.1");
    let b = record("GHSA-1", "PYSEC-1", "demo-pkg", &["1.0"], "1.1");
    let wrong_name = record("PYSEC-2", "GHSA-2", "x", &[], "2.0");
    for zip64 in [false, true] {
        let z = zip(
            &[
                ("PYSEC-1.json", &a, true),
                ("GHSA-1.json", &b, false),
                ("BROKEN-1.json", b"{\"id\": ", true),
                ("OTHER-1.json", &wrong_name, true),
                ("README.txt", b"not an advisory", true),
            ],
            zip64,
        );
        let items = read_all(z, LIMITS).unwrap();
        let ids: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                ExportItem::Advisory(a) => Some(a.advisory.id.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(ids, ["PYSEC-1", "GHSA-1"], "zip64 {zip64}");
        let skipped: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                ExportItem::Skipped { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(skipped, ["BROKEN-1.json", "OTHER-1.json"]);
        let ExportItem::Advisory(first) = &items[0] else {
            panic!()
        };
        assert_eq!(first.packages[0].name, "demo-pkg");
        assert_eq!(first.advisory.affected[0].1, ["1.1"]);
    }
}

#[test]
fn a_zip_bomb_is_refused_at_the_entry_cap() {
    // 8 MiB of spaces deflate to a few KiB and claim to be 100 bytes.
    let spaces = vec![b' '; 8 << 20];
    let mut z = zip(&[("BOMB-1.json", &spaces, true)], false);
    let dir = u32_at(&z, z.len() - 6) as usize;
    z[dir + 24..dir + 28].copy_from_slice(&100u32.to_le_bytes());
    let e = read_all(z, LIMITS).unwrap_err();
    assert!(
        matches!(&e, ExportError::TooLarge { what, cap } if what.contains("zip bomb") && *cap == MAX_ENTRY_BYTES),
        "{e}"
    );
}

#[test]
fn entries_sharing_their_data_stop_at_the_total_cap() {
    let a = record("PYSEC-1", "GHSA-1", "demo", &["1.0"], "1.1");
    let z = zip(&[("PYSEC-1.json", &a, true)], false);
    let small = ExportLimits {
        max_entries: 10,
        max_inflated_bytes: 10,
    };
    let e = read_all(z, small).unwrap_err();
    assert!(matches!(e, ExportError::TooLarge { .. }), "{e}");
}

#[test]
fn too_many_entries_are_refused_before_any_is_read() {
    let many: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("X-{i}.json"), b"{}".to_vec()))
        .collect();
    let refs: Vec<(&str, &[u8], bool)> = many
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice(), false))
        .collect();
    let limits = ExportLimits {
        max_entries: 10,
        max_inflated_bytes: 1 << 20,
    };
    let e = read_all(zip(&refs, false), limits).unwrap_err();
    assert!(
        matches!(&e, ExportError::TooLarge { what, .. } if what.contains("20 entries")),
        "{e}"
    );
}

#[test]
fn lies_damage_and_garbage_are_refused_by_name() {
    let a = record("PYSEC-1", "GHSA-1", "demo", &["1.0"], "1.1");
    let good = zip(&[("PYSEC-1.json", &a, true)], false);
    let dir = u32_at(&good, good.len() - 6) as usize;

    let mut lying = good.clone();
    lying[dir + 42..dir + 46].copy_from_slice(&0x00FF_0000u32.to_le_bytes());
    assert!(matches!(read_all(lying, LIMITS), Err(ExportError::Lies(_))));

    let mut offset_past_end = good.clone();
    let n = offset_past_end.len();
    offset_past_end[n - 6..n - 2].copy_from_slice(&(n as u32 + 10).to_le_bytes());
    assert!(matches!(
        read_all(offset_past_end, LIMITS),
        Err(ExportError::Lies(_))
    ));

    let mut bad_crc = good.clone();
    bad_crc[dir + 16] ^= 0xff;
    let e = read_all(bad_crc, LIMITS).unwrap_err();
    assert!(
        matches!(&e, ExportError::Damaged { detail, .. } if detail.contains("CRC")),
        "{e}"
    );

    let mut flipped = good.clone();
    flipped[60] ^= 0xff; // inside the deflate data
    assert!(read_all(flipped, LIMITS).is_err());

    assert_eq!(
        read_all(b"<html>not found</html>".to_vec(), LIMITS).unwrap_err(),
        ExportError::NotZip
    );
    assert_eq!(
        read_all(Vec::new(), LIMITS).unwrap_err(),
        ExportError::NotZip
    );
    // Cut in half (an interrupted transfer): no end record.
    let half = good[..good.len() / 2].to_vec();
    assert!(read_all(half, LIMITS).is_err());
}

#[test]
fn a_deadline_stops_the_reading() {
    let a = record("PYSEC-1", "GHSA-1", "demo", &["1.0"], "1.1");
    let z = zip(&[("PYSEC-1.json", &a, true)], false);
    let len = z.len() as u64;
    let mut r = ExportReader::open(Cursor::new(z), len, LIMITS).unwrap();
    let flag = CancelFlag::never();
    flag.raise();
    assert_eq!(r.next_item(&flag), Some(Err(ExportError::Cancelled)));
}

fn v(s: &str) -> Version {
    Version::from_str(s).unwrap()
}

#[test]
fn ranges_and_listed_versions_decide_what_is_affected() {
    let p = AffectedPackage {
        name: "demo".into(),
        ranges: vec![
            vec![
                RangeEvent::Introduced("0".into()),
                RangeEvent::Fixed("1.2".into()),
            ],
            vec![
                RangeEvent::Introduced("2.0".into()),
                RangeEvent::LastAffected("2.3".into()),
            ],
        ],
        versions: vec!["9.9".into()],
    };
    for (ver, affected) in [
        ("0.1", true),
        ("1.1.9", true),
        ("1.2", false),
        ("1.9", false),
        ("2.0", true),
        ("2.3", true),
        ("2.3.1", false),
        ("9.9", true),
        ("9.9.0", true),
    ] {
        assert_eq!(p.affects(&v(ver)), affected, "{ver}");
    }
    // Events out of order are put in version order first.
    let q = AffectedPackage {
        name: "demo".into(),
        ranges: vec![vec![
            RangeEvent::Fixed("3.0".into()),
            RangeEvent::Introduced("2.0".into()),
        ]],
        versions: vec![],
    };
    assert!(!q.affects(&v("1.0")));
    assert!(q.affects(&v("2.5")));
    assert!(!q.affects(&v("3.0")));
}
