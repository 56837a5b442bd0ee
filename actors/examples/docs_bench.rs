//! CPU time and peak RSS of sizing hostile READMEs for a model's context, one scenario
//! per process (peak RSS is the process's):
//!
//! - `huge`: one 20 MB README of letters without whitespace (reStructuredText, the
//!   default when a release gives no content type), `get_package_docs` at 4,000 tokens;
//! - `huge-md`: the same as Markdown, after a heading and a sentence (the simulator's
//!   `sg-huge-readme`);
//! - `deps30`: 30 dependencies with 2 MB one-paragraph READMEs of words, summarised and
//!   cut to their shares of a 32,000-token budget, as `get_package_docs_with_context`
//!   does.
//!
//! `cargo run --release -p sentinel-actors --features internals --example docs_bench
//! -- huge|huge-md|deps30`

use sentinel_actors::upstream::ProjectDoc;
use sentinel_actors::views::docs::{DocSummary, PackageDocs, cut_text, shares, tokens};

fn project(name: &str, description: &str) -> ProjectDoc {
    project_as(name, description, None)
}

fn project_as(name: &str, description: &str, content_type: Option<&str>) -> ProjectDoc {
    let body = serde_json::json!({
        "info": {"name": name, "version": "1.0", "summary": "A package.",
                 "description": description, "description_content_type": content_type},
    });
    sentinel_actors::upstream::pypi::parse(&serde_json::to_vec(&body).unwrap()).unwrap()
}

/// `n` letters from a fixed LCG: one "word" to a tokenizer, nothing to split on.
fn letters(n: usize) -> String {
    let mut x: u32 = 0x2545_f491;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'a' + ((x >> 16) % 26) as u8)
        })
        .collect()
}

/// User and system CPU seconds, and peak RSS in MiB, of this process.
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap();
    (ticks / 100.0, hwm / 1024.0)
}

fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "huge".into());
    tokens::warm();
    let (cpu0, rss0) = usage();
    let wall = std::time::Instant::now();
    let answer_bytes = match which.as_str() {
        "huge" => {
            let p = project("sg-huge-readme", &letters(20_000_000));
            let d = PackageDocs::from_project(&p, 4000);
            d.markdown.len()
        }
        "huge-md" => {
            let text = format!(
                "# sg-huge-readme\n\nA package. Not a real project: every value is invented.\n\n{}",
                letters(20_000_000)
            );
            let p = project_as("sg-huge-readme", &text, Some("text/markdown"));
            let d = PackageDocs::from_project(&p, 4000);
            d.markdown.len()
        }
        "deps30" => {
            let para = "lorem ipsum dolor sit amet ".repeat((2 << 20) / 27);
            let docs: Vec<ProjectDoc> = (0..30)
                .map(|i| project(&format!("dep{i}"), &para))
                .collect();
            let summaries: Vec<DocSummary> = docs.iter().map(DocSummary::from_project).collect();
            let budget = 32_000 / 3;
            let natural: Vec<usize> = summaries
                .iter()
                .map(|s| tokens::count_up_to(&s.text, budget))
                .collect();
            let shares = shares(&natural, budget);
            summaries
                .iter()
                .zip(shares)
                .map(|(s, share)| cut_text(&s.text, share).0.len())
                .sum()
        }
        other => panic!("unknown scenario {other}: huge or deps30"),
    };
    let (cpu1, rss1) = usage();
    println!(
        "{which}: cpu {:.2} s, wall {:.2} s, peak RSS {:.0} MiB (after warm-up {:.0} MiB), answer {} bytes",
        cpu1 - cpu0,
        wall.elapsed().as_secs_f64(),
        rss1,
        rss0,
        answer_bytes
    );
}
